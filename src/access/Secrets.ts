// Access keys' secrets: made from 32 random bytes, stored only as an scrypt hash
// (salted, parameters kept beside it so they can be raised later), and checked in
// constant time. scrypt costs ~50 ms of a thread-pool thread by design; a master
// checks a key on every call, so a secret that verified once is remembered as its
// SHA-256 (KeyVerifier) and later calls cost one hash, not one scrypt.
import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import pLimit from 'p-limit';
import { WharfError } from '../common/index.js';

const MAX_WAITING = 64;

export interface SecretHash {
  algo: 'scrypt';
  /** base64 */
  salt: string;
  /** base64 */
  hash: string;
  N: number;
  r: number;
  p: number;
}

const PARAMS = { N: 16_384, r: 8, p: 1 } as const;
const KEYLEN = 32;

function scryptAsync(secret: string, salt: Buffer, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(secret, salt, KEYLEN, opts, (e, k) => (e ? reject(e) : resolve(k))));
}

/** A new key id: "WK" and 18 characters of base32 (no look-alikes), safe in logs and URLs. */
export function newKeyId(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  return 'WK' + [...randomBytes(18)].map((b) => alphabet[b % 32]).join('');
}

/** A new secret: 32 random bytes, base64url. Shown once, never stored. */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

export async function hashSecret(secret: string): Promise<SecretHash> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(secret, salt, PARAMS);
  return { algo: 'scrypt', salt: salt.toString('base64'), hash: hash.toString('base64'), ...PARAMS };
}

export async function verifySecret(secret: string, h: SecretHash): Promise<boolean> {
  const want = Buffer.from(h.hash, 'base64');
  const got = await scryptAsync(secret, Buffer.from(h.salt, 'base64'), { N: h.N, r: h.r, p: h.p, maxmem: 256 * h.N * h.r });
  return got.length === want.length && timingSafeEqual(got, want);
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * Remembers which (key id, secret) pairs passed scrypt, as SHA-256 digests in
 * memory only. `forget` on disable/delete; a wrong secret always goes to scrypt
 * (so guessing stays slow).
 */
export class KeyVerifier {
  private readonly known = new Map<string, Buffer>();
  /**
   * scrypts running or queued. A flood of wrong secrets must not take the thread
   * pool (LevelDB and the file system share it) nor grow memory without bound:
   * two run at once, at most MAX_WAITING wait, the rest are refused with EAGAIN.
   */
  private readonly limit = pLimit(2);

  async verify(keyId: string, secret: string, h: SecretHash): Promise<boolean> {
    const digest = sha256(secret);
    const seen = this.known.get(keyId);
    if (seen && timingSafeEqual(seen, digest)) return true;
    if (this.limit.pendingCount >= MAX_WAITING) throw new WharfError('EAGAIN', 'too many access keys being checked at once; try again');
    if (!(await this.limit(() => verifySecret(secret, h)))) return false;
    this.known.set(keyId, digest);
    return true;
  }

  forget(keyId: string): void {
    this.known.delete(keyId);
  }
}

/** The metadata key a client's credential travels in: "WharfKey <key id>:<secret>". */
export const CREDENTIAL_HEADER = 'authorization';
const SCHEME = 'WharfKey ';

export function credentialHeader(keyId: string, secret: string): string {
  return `${SCHEME}${keyId}:${secret}`;
}

/** "WharfKey ID:SECRET" → its parts; undefined when the header is absent or not ours. */
export function parseCredentialHeader(value: unknown): { keyId: string; secret: string } | undefined {
  if (typeof value !== 'string' || !value.startsWith(SCHEME)) return undefined;
  const rest = value.slice(SCHEME.length);
  const colon = rest.indexOf(':');
  if (colon <= 0 || colon === rest.length - 1) return undefined;
  return { keyId: rest.slice(0, colon), secret: rest.slice(colon + 1) };
}

/** "ID:SECRET" as a key file or $WHARF_ACCESS_KEY holds it. */
export function parseKeyText(text: string): { keyId: string; secret: string } | undefined {
  const t = text.trim();
  const colon = t.indexOf(':');
  if (colon <= 0 || colon === t.length - 1 || /\s/.test(t)) return undefined;
  return { keyId: t.slice(0, colon), secret: t.slice(colon + 1) };
}
