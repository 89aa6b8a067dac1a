// src/access — who may reach what: permission groups' rules (CIDR → ReadWrite,
// ReadOnly or Forbidden) and their matching, the peer address of a call.
//
// Invariants:
//   - The most specific rule (longest prefix) decides, whatever the rules' order.
//   - Every group has the catch-all rules 0.0.0.0/0 and ::/0: they cannot be
//     deleted, only given another mode, so every address has exactly one decision.
//   - An IPv4-mapped IPv6 address is judged as its IPv4 address.
//   - A CIDR is stored normalised (network address and prefix), so two spellings of
//     one network are one rule (a duplicate is refused).
export { ACCESS_MODES, CATCH_ALL, DEFAULT_RULES, AccessMatcher, checkMode, normalizeCidr, peerAddress, type AccessMode, type AccessRule } from './AccessRules.js';
