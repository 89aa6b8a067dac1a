// Transport security of Wharf's gRPC channels: TLS from PEM files (re-read every
// `refreshMs`, so a renewed certificate is picked up without a restart), mutual TLS
// when the server is given a client CA, and the access key a client attaches to
// every call. A key is never sent over a plaintext channel: a client given a key
// but no CA refuses before connecting.
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { checkServerIdentity, createSecureContext, type PeerCertificate } from 'node:tls';
import { Metadata, ServerCredentials, credentials, experimental, type ChannelCredentials } from '@grpc/grpc-js';
import { WharfError, logger } from '../common/index.js';
import { CREDENTIAL_HEADER, credentialHeader, hostOf } from '../access/index.js';

const log = logger('tls');
export const DEFAULT_TLS_REFRESH_MS = 60_000;

export interface ServerTls {
  certFile: string;
  keyFile: string;
  /** Clients must present a certificate signed by this CA (mutual TLS). */
  clientCaFile?: string;
  refreshMs?: number;
}

export interface ClientTls {
  /** The CA that signed the server's certificate. */
  caFile: string;
  /** This client's own certificate and key, for servers that require mutual TLS. */
  certFile?: string;
  keyFile?: string;
  refreshMs?: number;
}

export interface ClientSecurity {
  tls?: ClientTls;
  key?: { keyId: string; secret: string };
}

function read(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new WharfError('EINVAL', `cannot read the ${what} ${file}: ${(e as Error).message}`);
  }
}

/** Loads the PEM files once to fail at start with a precise message (a wrong file is otherwise only a failed handshake later). */
export function checkPem(o: { certFile?: string | undefined; keyFile?: string | undefined; caFile?: string | undefined }): void {
  const cert = o.certFile ? read(o.certFile, 'TLS certificate') : undefined;
  const key = o.keyFile ? read(o.keyFile, 'TLS private key') : undefined;
  const ca = o.caFile ? read(o.caFile, 'TLS CA certificate') : undefined;
  if (Boolean(cert) !== Boolean(key)) throw new WharfError('EINVAL', 'a TLS certificate needs its private key, and a key its certificate (give both)');
  try {
    createSecureContext({ ...(cert ? { cert, key } : {}), ...(ca ? { ca } : {}) });
  } catch (e) {
    throw new WharfError('EINVAL', `the TLS files do not load (${[o.certFile, o.keyFile, o.caFile].filter(Boolean).join(', ')}): ${(e as Error).message}`);
  }
  if (cert) {
    const x = new X509Certificate(cert);
    const left = Date.parse(x.validTo) - Date.now();
    if (left <= 0) throw new WharfError('EINVAL', `the TLS certificate ${o.certFile} expired on ${x.validTo}`);
    if (left < 14 * 86_400_000) log.warn({ file: o.certFile, validTo: x.validTo }, 'TLS certificate expires within 14 days');
  }
}

export function serverCredentials(tls: ServerTls | undefined): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  checkPem({ certFile: tls.certFile, keyFile: tls.keyFile, caFile: tls.clientCaFile });
  const refreshIntervalMs = tls.refreshMs ?? DEFAULT_TLS_REFRESH_MS;
  const identity = new experimental.FileWatcherCertificateProvider({ certificateFile: tls.certFile, privateKeyFile: tls.keyFile, refreshIntervalMs });
  const ca = tls.clientCaFile ? new experimental.FileWatcherCertificateProvider({ caCertificateFile: tls.clientCaFile, refreshIntervalMs }) : null;
  // grpc-js's declaration names the first parameter the CA provider, but the code passes it on as the identity.
  return experimental.createCertificateProviderServerCredentials(identity, ca, ca !== null);
}

export function channelCredentials(address: string, security: ClientSecurity | undefined): ChannelCredentials {
  const tls = security?.tls;
  if (security?.key && !tls) {
    throw new WharfError('EINVAL', `refusing to send access key ${security.key.keyId} over plaintext to ${address}: give the master's CA (--tls-ca) so the key travels encrypted`);
  }
  if (!tls) return credentials.createInsecure();
  checkPem({ certFile: tls.certFile, keyFile: tls.keyFile, caFile: tls.caFile });
  const refreshIntervalMs = tls.refreshMs ?? DEFAULT_TLS_REFRESH_MS;
  const ca = new experimental.FileWatcherCertificateProvider({ caCertificateFile: tls.caFile, refreshIntervalMs });
  const identity = tls.certFile && tls.keyFile
    ? new experimental.FileWatcherCertificateProvider({ certificateFile: tls.certFile, privateKeyFile: tls.keyFile, refreshIntervalMs })
    : null;
  const host = hostOf(address);
  // A master addressed by IP: its certificate's IP entries are checked against that
  // IP, and the SNI name is a placeholder (tlsChannelOptions) — SNI may not carry an
  // IP (RFC 6066; Node deprecates it, DEP0123), and grpc-js would send the IP there.
  const verify = isIP(host) ? { checkServerIdentity: (_name: string, cert: PeerCertificate) => checkServerIdentity(host, cert) } : undefined;
  return experimental.createCertificateProviderChannelCredentials(ca, identity, verify);
}

/** Channel options that go with channelCredentials (the SNI placeholder for a master addressed by IP). */
export function tlsChannelOptions(address: string, security: ClientSecurity | undefined): Record<string, string> {
  return security?.tls && isIP(hostOf(address)) ? { 'grpc.ssl_target_name_override': SNI_PLACEHOLDER } : {};
}

const SNI_PLACEHOLDER = 'wharf-master.invalid';

/** The metadata every call of a client carries (its key, when it has one). */
export function callMetadata(security: ClientSecurity | undefined): Metadata {
  const md = new Metadata();
  if (security?.key) md.set(CREDENTIAL_HEADER, credentialHeader(security.key.keyId, security.key.secret));
  return md;
}
