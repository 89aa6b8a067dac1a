// IAM: users with grants (roles, optionally scoped to a cache instance) and their
// access keys. A key is an id and a secret; the secret is shown once at creation
// and stored only as an scrypt hash. Keys can expire and be disabled; disabling a
// user refuses all of its keys.
//
// authenticate() runs on every call when auth is on, from memory: a key that
// verified once costs one SHA-256 afterwards (KeyVerifier). Discipline: every change
// runs on one FIFO (WriteQueue) and replaces a record whole, so a call being
// authenticated sees a key before or after a change, never half of one; a disable
// takes effect on the next call.
//
// Bootstrap: a master started with auth on and no users creates the user `admin`
// (role admin) and one key, written as "ID:SECRET" to a file readable only by the
// master's user (0600). Rotate it: create another admin key, then delete this one.
import { open as openFile } from 'node:fs/promises';
import { WharfError, logger } from '../common/index.js';
import { KeyVerifier, grantText, hashSecret, newKeyId, newSecret, parseCredentialHeader, type Grant, type SecretHash } from '../access/index.js';
import { WriteQueue, accessKeyKey, familyRange, userKey, type InodeTree } from '../meta/index.js';
import { decodeRecord, encodeRecord, type KeyRecord, type UserRecord } from './records.js';

const log = logger('iam');
const USER_NAME = /^[A-Za-z0-9_.@-]{1,64}$/;
export const BOOTSTRAP_USER = 'admin';
const MAX_KEYS_PER_USER = 10;

/** Who a call is from, once its key checked out. */
export interface Principal {
  user: string;
  keyId: string;
  grants: readonly Grant[];
}

export type KeyView = Omit<KeyRecord, 'secret'>;

export class Identities {
  private readonly users = new Map<string, UserRecord>();
  private readonly keys = new Map<string, KeyRecord>();
  private readonly queue = new WriteQueue();
  private readonly verifier = new KeyVerifier();
  /** A hash no secret matches, checked for unknown key ids (see authenticate). */
  private dummy: Promise<SecretHash> | undefined;

  constructor(private readonly tree: InodeTree, private readonly instanceExists: (name: string) => boolean = () => true, private readonly now: () => number = Date.now) {}

  async load(): Promise<void> {
    for await (const [, v] of this.tree.db.iterator(familyRange('user'))) {
      const u = decodeRecord<UserRecord>(v);
      this.users.set(u.name, u);
    }
    for await (const [, v] of this.tree.db.iterator(familyRange('accessKey'))) {
      const k = decodeRecord<KeyRecord>(v);
      this.keys.set(k.id, k);
    }
  }

  /** With no user yet: creates `admin` and a key, writes "ID:SECRET" to `file` (0600). Returns the key id, or undefined if users exist. */
  async bootstrap(file: string): Promise<string | undefined> {
    if (this.users.size > 0) return undefined;
    // 'wx': never overwrite a file someone left there; 0o600 from the first byte.
    const fh = await openFile(file, 'wx', 0o600).catch((e: NodeJS.ErrnoException) => {
      throw new WharfError(e.code === 'EEXIST' ? 'EEXIST' : 'EIO', e.code === 'EEXIST'
        ? `${file} exists but this namespace has no users: it is not this master's key; move it away and start again`
        : `cannot write the bootstrap key to ${file}: ${e.message}`);
    });
    let key: KeyView;
    let secret: string;
    try {
      await this.createUser(BOOTSTRAP_USER, [{ role: 'admin' }], 'created at first start');
      ({ key, secret } = await this.createKey(BOOTSTRAP_USER, { description: 'bootstrap key' }));
    } catch (e) {
      await fh.close();
      throw e;
    }
    try {
      await fh.writeFile(`${key.id}:${secret}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    log.warn({ keyId: key.id, file }, 'auth is on and there were no users: bootstrap admin key written (rotate it once you have your own admin key)');
    return key.id;
  }

  /** The principal of a call's `authorization` metadata value; EKEYREJECTED / EKEYEXPIRED say precisely why not. */
  async authenticate(header: unknown): Promise<Principal> {
    if (header === undefined) throw new WharfError('EKEYREJECTED', 'this master requires an access key (give --key-file or $WHARF_ACCESS_KEY)');
    const cred = parseCredentialHeader(header);
    if (!cred) throw new WharfError('EKEYREJECTED', 'the credential is malformed: expected "WharfKey ID:SECRET"');
    const key = this.keys.get(cred.keyId);
    // One message for an unknown key and a wrong secret: a caller learns nothing about which ids exist.
    const rejected = () => new WharfError('EKEYREJECTED', `access key ${cred.keyId} was not accepted: unknown key or wrong secret`);
    if (!key) {
      // As slow as a wrong secret, so the time of a refusal does not tell which ids exist.
      this.dummy ??= hashSecret(newSecret());
      await this.verifier.verify('', cred.secret, await this.dummy).catch(() => false);
      throw rejected();
    }
    if (!(await this.verifier.verify(key.id, cred.secret, key.secret))) throw rejected();
    const current = this.keys.get(key.id); // it may have changed during scrypt
    if (!current) throw rejected();
    if (current.disabled) throw new WharfError('EKEYREJECTED', `access key ${current.id} is disabled`);
    if (current.expiresMs > 0 && current.expiresMs <= this.now()) throw new WharfError('EKEYEXPIRED', `access key ${current.id} expired at ${new Date(current.expiresMs).toISOString()}`);
    const user = this.users.get(current.user);
    if (!user) throw rejected();
    if (user.disabled) throw new WharfError('EKEYREJECTED', `user ${user.name} is disabled`);
    return { user: user.name, keyId: current.id, grants: user.grants };
  }

  listUsers(): UserRecord[] {
    return [...this.users.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  getUser(name: string): UserRecord {
    const u = this.users.get(name);
    if (!u) throw new WharfError('ENOENT', `no user named ${JSON.stringify(name)}`);
    return u;
  }

  async createUser(name: string, grants: Grant[], description = ''): Promise<UserRecord> {
    if (typeof name !== 'string' || !USER_NAME.test(name)) throw new WharfError('EINVAL', `user name ${JSON.stringify(name)} must be 1–64 of letters, digits and . _ @ -`);
    if (grants.length === 0) throw new WharfError('EINVAL', `user ${name} needs at least one role (--role admin|operator|viewer|member, optionally @INSTANCE)`);
    return this.queue.run(async () => {
      if (this.users.has(name)) throw new WharfError('EEXIST', `a user named ${name} exists`);
      const rec: UserRecord = { name, grants: dedupeChecked(grants, this.instanceExists), disabled: false, createdMs: this.now(), description };
      await this.putUser(rec);
      log.info({ user: name, grants: rec.grants.map(grantText) }, 'user created');
      return rec;
    });
  }

  async updateUser(name: string, change: { grants?: Grant[]; disabled?: boolean }): Promise<UserRecord> {
    return this.queue.run(async () => {
      const u = this.getUser(name);
      if (change.grants && change.grants.length === 0) throw new WharfError('EINVAL', `user ${name} needs at least one role`);
      const next: UserRecord = { ...u, ...(change.grants ? { grants: dedupeChecked(change.grants, this.instanceExists) } : {}), ...(change.disabled !== undefined ? { disabled: change.disabled } : {}) };
      this.checkAnAdminRemains(next);
      await this.putUser(next);
      return next;
    });
  }

  async deleteUser(name: string): Promise<number> {
    return this.queue.run(async () => {
      const u = this.getUser(name);
      this.checkAnAdminRemains(undefined, u.name);
      const mine = [...this.keys.values()].filter((k) => k.user === name);
      await this.tree.write('user delete', async (tx) => {
        tx.delRecord(userKey(name));
        for (const k of mine) tx.delRecord(accessKeyKey(k.id));
      });
      this.users.delete(name);
      for (const k of mine) { this.keys.delete(k.id); this.verifier.forget(k.id); }
      return mine.length;
    });
  }

  async createKey(user: string, o: { expiresMs?: number; description?: string } = {}): Promise<{ key: KeyView; secret: string }> {
    const secret = newSecret();
    const hash = await hashSecret(secret); // outside the queue: ~50 ms that nothing else needs to wait for
    return this.queue.run(async () => {
      this.getUser(user);
      if ([...this.keys.values()].filter((k) => k.user === user).length >= MAX_KEYS_PER_USER) {
        throw new WharfError('ENOSPC', `user ${user} has ${MAX_KEYS_PER_USER} keys, the most allowed: delete an old one first`);
      }
      if (o.expiresMs !== undefined && o.expiresMs !== 0 && o.expiresMs <= this.now()) throw new WharfError('EINVAL', 'the expiry is in the past');
      const rec: KeyRecord = { id: newKeyId(), user, secret: hash, description: o.description ?? '', createdMs: this.now(), expiresMs: o.expiresMs ?? 0, disabled: false };
      await this.putKey(rec);
      log.info({ user, keyId: rec.id, expires: rec.expiresMs || undefined }, 'access key created');
      return { key: keyView(rec), secret };
    });
  }

  listKeys(user?: string): KeyView[] {
    if (user !== undefined && user !== '') this.getUser(user);
    return [...this.keys.values()].filter((k) => !user || k.user === user).sort((a, b) => a.user.localeCompare(b.user) || a.createdMs - b.createdMs).map(keyView);
  }

  async setKeyDisabled(id: string, disabled: boolean): Promise<KeyView> {
    return this.queue.run(async () => {
      const k = this.getKey(id);
      const next = { ...k, disabled };
      if (disabled) this.checkAnAdminRemains(undefined, undefined, id);
      await this.putKey(next);
      if (disabled) this.verifier.forget(id);
      log.info({ keyId: id, user: k.user, disabled }, disabled ? 'access key disabled' : 'access key enabled');
      return keyView(next);
    });
  }

  async deleteKey(id: string): Promise<void> {
    await this.queue.run(async () => {
      this.getKey(id);
      this.checkAnAdminRemains(undefined, undefined, id);
      await this.tree.write('key delete', async (tx) => tx.delRecord(accessKeyKey(id)));
      this.keys.delete(id);
      this.verifier.forget(id);
    });
  }

  private getKey(id: string): KeyRecord {
    const k = this.keys.get(id);
    if (!k) throw new WharfError('ENOENT', `no access key ${JSON.stringify(id)}`);
    return k;
  }

  /**
   * Refuses a change that would leave no enabled, unexpired key of an enabled
   * unscoped admin: with auth on that would lock everyone out of IAM for good.
   */
  private checkAnAdminRemains(changedUser?: UserRecord, deletedUser?: string, removedKey?: string): void {
    if (this.users.size === 0) return;
    const now = this.now();
    const users = new Map(this.users);
    if (changedUser) users.set(changedUser.name, changedUser);
    if (deletedUser) users.delete(deletedUser);
    const ok = [...this.keys.values()].some((k) => {
      const u = users.get(k.user);
      return k.id !== removedKey && !k.disabled && (k.expiresMs === 0 || k.expiresMs > now)
        && u !== undefined && !u.disabled && u.grants.some((g) => g.role === 'admin' && g.instance === undefined);
    });
    if (!ok) throw new WharfError('EPERM', 'refused: afterwards no enabled key of an unscoped admin would remain, and nobody could manage users again');
  }

  private async putUser(rec: UserRecord): Promise<void> {
    await this.tree.write('user', async (tx) => tx.putRecord(userKey(rec.name), encodeRecord(rec)));
    this.users.set(rec.name, rec);
  }

  private async putKey(rec: KeyRecord): Promise<void> {
    await this.tree.write('access key', async (tx) => tx.putRecord(accessKeyKey(rec.id), encodeRecord(rec)));
    this.keys.set(rec.id, rec);
  }
}

function keyView(k: KeyRecord): KeyView {
  const { secret: _secret, ...rest } = k;
  return rest;
}

function dedupeChecked(grants: Grant[], exists: (name: string) => boolean): Grant[] {
  for (const g of grants) {
    if (g.instance !== undefined && g.instance !== '' && !exists(g.instance)) throw new WharfError('ENOENT', `no cache instance ${JSON.stringify(g.instance)} (grant ${grantText(g)})`);
  }
  return dedupe(grants);
}

function dedupe(grants: Grant[]): Grant[] {
  const seen = new Map(grants.map((g) => [grantText(g), g]));
  return [...seen.values()];
}
