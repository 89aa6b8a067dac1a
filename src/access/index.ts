// src/access — who may reach what: permission groups' rules (CIDR → ReadWrite,
// ReadOnly or Forbidden) and their matching, the peer address of a call, and the
// audit log of what was done and refused.
//
// Invariants:
//   - The most specific rule (longest prefix) decides, whatever the rules' order.
//   - Every group has the catch-all rules 0.0.0.0/0 and ::/0: they cannot be
//     deleted, only given another mode, so every address has exactly one decision.
//   - An IPv4-mapped IPv6 address is judged as its IPv4 address.
//   - A CIDR is stored normalised (network address and prefix), so two spellings of
//     one network are one rule (a duplicate is refused).
//   - No secret reaches the audit log: parameters are redacted by name, URIs lose
//     their credentials.
export { AuditLog, newRequestId, redact, type AuditEntry, type AuditQuery } from './AuditLog.js';
export { ACCESS_MODES, CATCH_ALL, DEFAULT_RULES, AccessMatcher, checkMode, normalizeCidr, peerAddress, type AccessMode, type AccessRule } from './AccessRules.js';
export { CREDENTIAL_HEADER, KeyVerifier, credentialHeader, hashSecret, newKeyId, newSecret, parseCredentialHeader, parseKeyText, verifySecret, type SecretHash } from './Secrets.js';
export { ROLES, grantText, granted, isRole, parseGrant, type Grant, type Role } from './Roles.js';
export { checkExposure, hostOf, isLoopbackHost } from './Exposure.js';
