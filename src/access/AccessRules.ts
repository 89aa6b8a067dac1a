// Permission groups' rules: CIDR → ReadWrite | ReadOnly | Forbidden, matched by
// longest prefix (order-free), IPv4 and IPv6 alike. An IPv4-mapped IPv6 address
// (::ffff:a.b.c.d, as a dual-stack socket reports an IPv4 peer) is matched as the
// IPv4 address it is; so is a mapped CIDR. Pure: no I/O.
import ipaddr from 'ipaddr.js';
import { WharfError } from '../common/index.js';

export const ACCESS_MODES = ['ReadWrite', 'ReadOnly', 'Forbidden'] as const;
export type AccessMode = (typeof ACCESS_MODES)[number];

export interface AccessRule {
  /** Normalised: the network address and prefix length ("10.0.0.0/8", "fd00::/8"). */
  cidr: string;
  mode: AccessMode;
}

/** The two catch-all rules every group has: they cannot be deleted, only given another mode. */
export const CATCH_ALL = ['0.0.0.0/0', '::/0'] as const;
export const DEFAULT_RULES: readonly AccessRule[] = CATCH_ALL.map((cidr) => ({ cidr, mode: 'ReadWrite' as const }));

export function checkMode(m: unknown): AccessMode {
  if (!(ACCESS_MODES as readonly unknown[]).includes(m)) throw new WharfError('EINVAL', `access mode ${JSON.stringify(m)} is not ReadWrite, ReadOnly or Forbidden`);
  return m as AccessMode;
}

/** "10.1.2.3/8" → "10.0.0.0/8"; "::ffff:10.0.0.0/104" → "10.0.0.0/8"; a bare address is a /32 or /128. */
export function normalizeCidr(text: string): string {
  if (typeof text !== 'string' || text.length === 0 || text.length > 64) throw new WharfError('EINVAL', `${JSON.stringify(text)} is not a CIDR`);
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  let bits: number;
  try {
    if (text.includes('/')) [addr, bits] = ipaddr.parseCIDR(text);
    else {
      addr = ipaddr.parse(text);
      bits = addr.kind() === 'ipv4' ? 32 : 128;
    }
  } catch {
    throw new WharfError('EINVAL', `${JSON.stringify(text)} is not a CIDR (a.b.c.d/n or an IPv6 prefix)`);
  }
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
    addr = (addr as ipaddr.IPv6).toIPv4Address();
    bits -= 96;
  }
  const net = addr.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(`${addr.toString()}/${bits}`) : ipaddr.IPv6.networkAddressFromCIDR(`${addr.toString()}/${bits}`);
  return `${net.toString()}/${bits}`;
}

/**
 * The address of a gRPC peer — "1.2.3.4:5" or "[::1]:5" as grpc-js writes it, or
 * with the "ipv4:"/"ipv6:" scheme of other gRPC stacks — or a socket's
 * remoteAddress, normalised (mapped → IPv4).
 */
export function peerAddress(peer: string): string {
  let host = peer;
  const m = /^(?:ipv4:)?(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(peer) ?? /^(?:ipv6:)?\[(.+)\]:\d+$/.exec(peer);
  if (m) host = m[1]!;
  try {
    return ipaddr.process(host).toString();
  } catch {
    throw new WharfError('EACCES', `cannot tell the address of peer ${JSON.stringify(peer)}`);
  }
}

interface Parsed {
  kind: 'ipv4' | 'ipv6';
  range: [ipaddr.IPv4 | ipaddr.IPv6, number];
  bits: number;
  rule: AccessRule;
}

/** Longest-prefix match over a group's rules. */
export class AccessMatcher {
  private readonly parsed: Parsed[];

  constructor(readonly rules: readonly AccessRule[]) {
    this.parsed = rules.map((rule) => {
      const range = ipaddr.parseCIDR(rule.cidr);
      return { kind: range[0].kind(), range, bits: range[1], rule };
    }).sort((a, b) => b.bits - a.bits); // longest first: the first match wins
  }

  /** The rule that decides for `address` (a normalised address, as peerAddress gives). */
  ruleFor(address: string): AccessRule | undefined {
    const a = ipaddr.parse(address);
    const kind = a.kind();
    for (const p of this.parsed) if (p.kind === kind && a.match(p.range as [never, number])) return p.rule;
    return undefined;
  }

  modeFor(address: string): AccessMode {
    return this.ruleFor(address)?.mode ?? 'Forbidden';
  }
}
