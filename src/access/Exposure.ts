// Whether a listening address may be served without TLS and auth: only loopback.
// A server bound anywhere else without both refuses to start unless its operator
// says --insecure, and then it warns at every start.
import ipaddr from 'ipaddr.js';
import { WharfError } from '../common/index.js';

/** host of "host:port" (brackets of an IPv6 literal removed). */
export function hostOf(listen: string): string {
  const i = listen.lastIndexOf(':');
  const host = i < 0 ? listen : listen.slice(0, i);
  return host.replace(/^\[(.*)\]$/, '$1');
}

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (!ipaddr.isValid(host)) return false;
  const a = ipaddr.process(host);
  return a.range() === 'loopback';
}

/**
 * Throws unless `listen` may be served as configured. `what` names the server in
 * the message ("the master", "cache node").
 */
export function checkExposure(what: string, listen: string, o: { tls: boolean; auth: boolean; insecure: boolean; authNeedsTls?: boolean }): 'loopback' | 'secured' | 'insecure' {
  if (o.auth && !o.tls && (o.authNeedsTls ?? true)) {
    throw new WharfError('EINVAL', `${what}: --auth needs TLS (--tls-cert and --tls-key): access keys would otherwise cross the network in clear`);
  }
  if (isLoopbackHost(hostOf(listen))) return 'loopback';
  if (o.tls && o.auth) return 'secured';
  if (o.insecure) return 'insecure';
  const missing = [o.tls ? '' : 'TLS (--tls-cert, --tls-key)', o.auth ? '' : 'auth (--auth)'].filter(Boolean).join(' and ');
  throw new WharfError('EINVAL', `${what}: refusing to listen on ${listen} without ${missing}: anyone who can reach it could read and change everything. Bind to 127.0.0.1, configure ${missing}, or pass --insecure to accept the risk`);
}
