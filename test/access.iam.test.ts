// IAM and TLS on a real master over real gRPC sockets: every role against every
// Admin RPC (a table written here, independently of the master's own policy
// table), instance-scoped grants, keys refused precisely (none, wrong secret,
// disabled, expired, a disabled user, a key over plaintext), certificates (a wrong
// CA, an expired one, a missing client certificate under mutual TLS, rotation
// picked up without a restart), namespace calls by role, the bootstrap key, the
// refusal to serve a public address without TLS and auth, and the node protocol's
// mutual TLS.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT_INO, WharfError } from '../src/common/index.js';
import { Master } from '../src/master/index.js';
import { BlockServer, NodeTls, blockUrlPath } from '../src/node/index.js';
import { LocalStore } from '../src/ufs/index.js';
import { AdminClient, GrpcMetaClient, wharfProto, type ClientSecurity } from '../src/rpc/index.js';
import { makePki, type Pki } from './helpers/pki.js';
import { WHARF_BIN, runCli, startMasterProcess } from './helpers/processes.js';
import { spawn } from 'node:child_process';
import { rejectsErrno } from './helpers/sourceFixture.js';
import { tempDir } from './helpers/tmp.js';

const READS = ['ListSources', 'ShowSource', 'ListRules', 'ShowRule', 'ListJobs', 'ShowJob', 'Status', 'ListNodes', 'ListInstances', 'ShowInstance',
  'ListCacheRules', 'ShowCacheRule', 'ListCacheJobs', 'ShowCacheJob', 'ListGroups', 'ShowGroup', 'CheckAccess', 'WhoAmI', 'ShowSourceStream'];
const MEMBER_CALLS = ['RegisterNode', 'NodeHeartbeat'];
const ADMIN_ONLY = ['QueryAudit', 'CreateUser', 'UpdateUser', 'DeleteUser', 'ListUsers', 'CreateKey', 'ListKeys', 'SetKeyDisabled', 'DeleteKey'];
/** Everything else changes sources, rules, jobs, instances, nodes or groups: admin and operator. */
function allowed(role: string, method: string): boolean {
  if (READS.includes(method)) return true;
  if (ADMIN_ONLY.includes(method)) return role === 'admin';
  if (MEMBER_CALLS.includes(method)) return role !== 'viewer';
  return role === 'admin' || role === 'operator';
}

/** A request that names nothing that exists: every handler refuses it without changing anything. */
const EMPTY_REQUEST: Record<string, object> = {
  RegisterNode: { id: '', address: '', capacity_bytes: '0' }, NodeHeartbeat: { id: 'no-such-node', used_bytes: '0', blocks: '0' },
  CreateInstance: { name: '', capacity_bytes: '0' }, CreateKey: { user: 'no-such-user', expires_ms: '0' }, CheckAccess: { address: 'not an address' },
};

async function waitUntil(probe: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function authRefusal(e: unknown): boolean {
  return e instanceof WharfError && e.errno === 'EACCES' && /may not call/.test(e.message);
}

describe('IAM and TLS', () => {
  let tmp: { path: string; remove: () => void };
  let pki: Pki;
  let master: Master;
  let address: string;
  let tls: ClientSecurity['tls'];
  let adminKey: { keyId: string; secret: string };
  const keys: Record<string, { keyId: string; secret: string }> = {};
  const clients: { close(): unknown }[] = [];
  const adminAs = (key?: { keyId: string; secret: string }) => {
    const c = new AdminClient(address, 10_000, { ...(tls ? { tls } : {}), ...(key ? { key } : {}) });
    clients.push(c);
    return c;
  };
  const nsAs = (key?: { keyId: string; secret: string }) => {
    const c = new GrpcMetaClient(address, { deadlineMs: 10_000, security: { ...(tls ? { tls } : {}), ...(key ? { key } : {}) } });
    clients.push(c);
    return c;
  };

  before(async () => {
    tmp = tempDir('wharf-iam-');
    pki = makePki(tmp.path);
    const server = pki.leaf('master');
    tls = { caFile: pki.ca.cert };
    master = await Master.start({ dataDir: join(tmp.path, 'meta'), listen: 'localhost:0', tls: { certFile: server.cert, keyFile: server.key }, auth: { enabled: true } });
    address = master.address;
    const text = readFileSync(join(tmp.path, 'meta', 'admin.key'), 'utf8').trim();
    const colon = text.indexOf(':');
    adminKey = { keyId: text.slice(0, colon), secret: text.slice(colon + 1) };
    const admin = adminAs(adminKey);
    await admin.createInstance({ name: 'hot', capacity_bytes: '1000000', nodes: [] });
    await admin.createInstance({ name: 'cold', capacity_bytes: '1000000', nodes: [] });
    for (const name of ['hot-src', 'other-src']) {
      mkdirSync(join(tmp.path, name));
      const { job } = await master.sync.importSource({ name, uri: `file://${join(tmp.path, name)}`, at: `/${name}` });
      await master.sync.jobs.wait(job.id);
    }
    await admin.bindSource('hot-src', 'hot');
    for (const [user, grant] of [['ada', 'admin'], ['oscar', 'operator'], ['vera', 'viewer'], ['max', 'member'], ['hana', 'operator@hot']] as const) {
      await admin.createUser(user, [grant]);
      const r = await admin.createKey(user);
      keys[grant] = { keyId: r.key!.id, secret: r.secret };
    }
  });

  after(async () => {
    for (const c of clients) await c.close();
    await master.stop(2_000);
    tmp.remove();
  });

  it('the bootstrap key file is 0600, and a restart neither rewrites it nor makes another', () => {
    const st = statSync(join(tmp.path, 'meta', 'admin.key'));
    assert.equal(st.mode & 0o777, 0o600);
    assert.match(adminKey.keyId, /^WK[A-Z2-9]{18}$/);
  });

  it('every role against every Admin RPC: allowed ones reach the handler, the rest are refused with EACCES', async () => {
    const methods = Object.keys(wharfProto().wharf.v1.Admin.service);
    assert.ok(methods.length > 55, `the Admin service has ${methods.length} methods`);
    const mismatches: string[] = [];
    for (const role of ['admin', 'operator', 'viewer', 'member']) {
      const c = adminAs(keys[role]);
      for (const m of methods) {
        let refused = false;
        try {
          await c.invokeMethod(m, EMPTY_REQUEST[m] ?? {});
        } catch (e) {
          refused = authRefusal(e);
          if (!(e instanceof WharfError)) throw e;
          if (e.errno === 'EKEYREJECTED') throw e;
        }
        if (refused === allowed(role, m)) mismatches.push(`${role} ${m}: ${refused ? 'refused' : 'allowed'}`);
      }
    }
    assert.deepEqual(mismatches, []);
  });

  it('a grant scoped to an instance covers its sources and itself, not the others nor cluster-wide calls', async () => {
    const hana = adminAs(keys['operator@hot']);
    const r = await hana.createRule({ source: 'hot-src', name: 'r1', type: 'manual', directory: '/' }).catch((e: unknown) => e);
    assert.ok(!authRefusal(r), `a rule on a source of hot: ${String(r)}`);
    assert.ok(authRefusal(await hana.createRule({ source: 'other-src', name: 'r1', type: 'manual', directory: '/' }).catch((e: unknown) => e)));
    assert.ok(!authRefusal(await hana.resizeInstance({ name: 'hot', add_nodes: [], remove_nodes: [] }).catch((e: unknown) => e)));
    assert.ok(authRefusal(await hana.resizeInstance({ name: 'cold', add_nodes: [], remove_nodes: [] }).catch((e: unknown) => e)));
    const e = await hana.createInstance({ name: 'mine', capacity_bytes: '1', nodes: [] }).catch((x: unknown) => x);
    assert.ok(authRefusal(e));
    assert.match((e as Error).message, /cluster-wide/);
    // Moving hot's source to cold needs cold too.
    assert.ok(authRefusal(await hana.bindSource('hot-src', 'cold').catch((x: unknown) => x)));
    assert.ok(!authRefusal(await hana.addGroupRule('hot', 'default', '10.0.0.0/8', 'ReadOnly').catch((x: unknown) => x)));
    assert.ok(authRefusal(await hana.addGroupRule('cold', 'default', '10.0.0.0/8', 'ReadOnly').catch((x: unknown) => x)));
    // Lists stay visible.
    assert.ok((await hana.listSources()).length >= 2);
  });

  it('keys are refused precisely: none, wrong secret, unknown, disabled, expired, disabled user; re-enabled applies to the next call', async () => {
    const none = await rejectsErrno(adminAs().listSources(), 'EKEYREJECTED', 'no key');
    assert.match(none.message, /requires an access key/);
    const wrong = await rejectsErrno(adminAs({ keyId: keys['viewer']!.keyId, secret: 'x'.repeat(43) }).listSources(), 'EKEYREJECTED');
    assert.match(wrong.message, /unknown key or wrong secret/);
    const unknown = await rejectsErrno(adminAs({ keyId: 'WKAAAAAAAAAAAAAAAAAA', secret: 'x' }).listSources(), 'EKEYREJECTED');
    assert.equal(unknown.message.replace(/WK\w+/, 'K'), wrong.message.replace(/WK\w+/, 'K'), 'an unknown id and a wrong secret read the same');

    const admin = adminAs(adminKey);
    const vera = adminAs(keys['viewer']);
    await vera.listSources();
    await admin.setKeyDisabled(keys['viewer']!.keyId, true);
    assert.match((await rejectsErrno(vera.listSources(), 'EKEYREJECTED')).message, /is disabled/);
    await admin.setKeyDisabled(keys['viewer']!.keyId, false);
    await vera.listSources();

    await admin.updateUser('vera', { disabled: true });
    assert.match((await rejectsErrno(vera.listSources(), 'EKEYREJECTED')).message, /user vera is disabled/);
    await admin.updateUser('vera', { disabled: false });

    const short = await admin.createKey('vera', { expiresMs: Date.now() + 1_500 });
    const brief = adminAs({ keyId: short.key!.id, secret: short.secret });
    await brief.listSources();
    await new Promise((r) => setTimeout(r, 1_700));
    assert.match((await rejectsErrno(brief.listSources(), 'EKEYEXPIRED')).message, /expired at/);
    await rejectsErrno(admin.createKey('vera', { expiresMs: Date.now() - 1 }), 'EINVAL', 'an expiry in the past');
  });

  it('no lockout: the last key of an unscoped admin cannot be disabled or deleted', async () => {
    const admin = adminAs(adminKey);
    // Two admins exist (the bootstrap one and ada); take ada's away, then the bootstrap key is the last.
    await admin.updateUser('ada', { grants: ['viewer'] });
    await rejectsErrno(admin.setKeyDisabled(adminKey.keyId, true), 'EPERM');
    await rejectsErrno(admin.deleteKey(adminKey.keyId), 'EPERM');
    await rejectsErrno(admin.deleteUser('admin'), 'EPERM');
    await admin.updateUser('ada', { grants: ['admin'] });
  });

  it('a key is never sent in clear, and a plaintext client cannot talk to a TLS master', async () => {
    assert.throws(() => new AdminClient(address, 2_000, { key: adminKey }), (e: unknown) => e instanceof WharfError && e.errno === 'EINVAL' && /over plaintext/.test(e.message));
    const plain = new GrpcMetaClient(address, { deadlineMs: 2_000 });
    clients.push(plain);
    await rejectsErrno(plain.getattr(ROOT_INO), 'ENOTCONN', 'plaintext to TLS');
  });

  it('a client that trusts another CA does not connect', async () => {
    const c = new GrpcMetaClient(address, { deadlineMs: 2_000, security: { tls: { caFile: pki.otherCa.cert }, key: adminKey } });
    clients.push(c);
    await rejectsErrno(c.getattr(ROOT_INO), 'ENOTCONN');
  });

  it('namespace calls: every role reads, viewers cannot change, no key is refused', async () => {
    await rejectsErrno(nsAs().getattr(ROOT_INO), 'EKEYREJECTED');
    const vera = nsAs(keys['viewer']);
    await vera.getattr(ROOT_INO);
    const e = await rejectsErrno(vera.mkdir(ROOT_INO, 'by-viewer', { mode: 0o755, uid: 0, gid: 0 }), 'EACCES');
    assert.match(e.message, /viewer/);
    await nsAs(keys['member']).mkdir(ROOT_INO, 'by-member', { mode: 0o755, uid: 0, gid: 0 });
    // A grant scoped to hot reaches hot's source only.
    const hana = nsAs(keys['operator@hot']);
    const hot = await hana.lookup(ROOT_INO, 'hot-src');
    await hana.mkdir(hot.ino, 'by-hana', { mode: 0o755, uid: 0, gid: 0 });
    const other = await nsAs(keys['admin']).lookup(ROOT_INO, 'other-src');
    await rejectsErrno(hana.mkdir(other.ino, 'by-hana', { mode: 0o755, uid: 0, gid: 0 }), 'EACCES');
  });

  it('the audit log names the principal of allowed and refused calls, and a refused key by its id only', async () => {
    const vera = adminAs(keys['viewer']);
    await vera.listInstances();
    await vera.createInstance({ name: 'nope', capacity_bytes: '1', nodes: [] }).catch(() => undefined);
    await adminAs({ keyId: keys['viewer']!.keyId, secret: 'wrong-secret-value' }).listInstances().catch(() => undefined);
    const lines = await adminAs(adminKey).queryAudit({ limit: 500 });
    const v = `vera/${keys['viewer']!.keyId}`;
    assert.ok(lines.some((l) => l.principal === v && l.action === 'ListInstances' && l.result === 'ok'));
    assert.ok(lines.some((l) => l.principal === v && l.action === 'CreateInstance' && l.result === 'EACCES'));
    assert.ok(lines.some((l) => l.principal === `unverified/${keys['viewer']!.keyId}` && l.result === 'EKEYREJECTED'));
    const audit = readFileSync(join(tmp.path, 'meta', 'audit', `audit-${new Date().toISOString().slice(0, 10)}.jsonl`), 'utf8');
    for (const k of [adminKey, ...Object.values(keys)]) assert.ok(!audit.includes(k.secret), 'no secret in the audit file');
    assert.ok(!audit.includes('wrong-secret-value'));
  });

  it('a rotated server certificate is served to new connections without a restart', async () => {
    const dir = join(tmp.path, 'rotate');
    mkdirSync(dir);
    const a = pki.leaf('rot-a');
    const b = pki.leaf('rot-b');
    copyFileSync(a.cert, join(dir, 'tls.crt'));
    copyFileSync(a.key, join(dir, 'tls.key'));
    const m = await Master.start({ dataDir: join(tmp.path, 'meta-rot'), listen: 'localhost:0', tls: { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), refreshMs: 200 } });
    const port = Number(m.address.slice(m.address.lastIndexOf(':') + 1));
    const peerCn = () => new Promise<string>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(pki.ca.cert), ALPNProtocols: ['h2'] }, () => {
        const cn = s.getPeerCertificate().subject.CN;
        s.destroy();
        resolve(String(cn));
      });
      s.once('error', reject);
    });
    try {
      // The first connection starts the file watcher.
      const c = new GrpcMetaClient(m.address, { deadlineMs: 5_000, security: { tls: { caFile: pki.ca.cert } } });
      await c.getattr(ROOT_INO);
      await c.close();
      assert.equal(await peerCn(), 'rot-a');
      copyFileSync(b.key, join(dir, 'tls.key'));
      copyFileSync(b.cert, join(dir, 'tls.crt'));
      const deadline = Date.now() + 5_000;
      let cn = await peerCn();
      while (cn !== 'rot-b' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        cn = await peerCn();
      }
      assert.equal(cn, 'rot-b');
    } finally {
      await m.stop(1_000);
    }
  });

  it('mutual TLS: no client certificate, or one of another CA, is refused; the cluster CA\'s is accepted', async () => {
    const server = pki.leaf('mtls-master');
    const client = pki.leaf('mtls-client');
    const stranger = pki.leaf('stranger', { ca: pki.otherCa });
    const m = await Master.start({ dataDir: join(tmp.path, 'meta-mtls'), listen: 'localhost:0', tls: { certFile: server.cert, keyFile: server.key, clientCaFile: pki.ca.cert } });
    try {
      const without = new AdminClient(m.address, 3_000, { tls: { caFile: pki.ca.cert } });
      await rejectsErrno(without.whoAmI(), 'ENOTCONN', 'no client certificate');
      without.close();
      const wrong = new AdminClient(m.address, 3_000, { tls: { caFile: pki.ca.cert, certFile: stranger.cert, keyFile: stranger.key } });
      await rejectsErrno(wrong.whoAmI(), 'ENOTCONN', 'a certificate of another CA');
      wrong.close();
      const right = new AdminClient(m.address, 3_000, { tls: { caFile: pki.ca.cert, certFile: client.cert, keyFile: client.key } });
      const w = await right.whoAmI();
      right.close();
      assert.equal(w.tls, true);
      assert.equal(w.client_certificate, true);
      assert.equal(w.auth, false);
    } finally {
      await m.stop(1_000);
    }
  });

  it('refuses to start: an expired certificate, auth without TLS, a public address without TLS and auth (unless --insecure)', async () => {
    const expired = pki.leaf('expired', { days: -1 });
    const dir = (n: string) => join(tmp.path, `meta-${n}`);
    await rejectsErrno(Master.start({ dataDir: dir('exp'), listen: 'localhost:0', tls: { certFile: expired.cert, keyFile: expired.key } }), 'EINVAL', 'expired');
    const noTls = await rejectsErrno(Master.start({ dataDir: dir('notls'), listen: '127.0.0.1:0', auth: { enabled: true } }), 'EINVAL');
    assert.match(noTls.message, /--auth needs TLS/);
    const pub = await rejectsErrno(Master.start({ dataDir: dir('pub'), listen: '0.0.0.0:0' }), 'EINVAL');
    assert.match(pub.message, /refusing to listen on 0\.0\.0\.0:0 without TLS .* and auth/);
    const m = await Master.start({ dataDir: dir('insecure'), listen: '0.0.0.0:0', insecure: true });
    await m.stop(500);
    await rejectsErrno(BlockServer.start({ cacheDir: dir('node-pub'), listen: '0.0.0.0:0', capacityBytes: 1 << 20, storeFor: async () => { throw new WharfError('ENOENT', 'none'); } }), 'EINVAL', 'a node on a public address without TLS');
  });

  it('a cache node serves mutual TLS only: no client certificate is refused, the cluster CA\'s is served', async () => {
    const nodeCert = pki.leaf('node');
    const tlsFiles = new NodeTls({ caFile: pki.ca.cert, certFile: nodeCert.cert, keyFile: nodeCert.key });
    const node = await BlockServer.start({ cacheDir: join(tmp.path, 'node'), listen: '127.0.0.1:0', capacityBytes: 1 << 20, tls: tlsFiles, storeFor: async () => { throw new WharfError('ENOENT', 'none'); } });
    const port = Number(node.address.slice(node.address.lastIndexOf(':') + 1));
    const get = (o: { cert?: string; key?: string }) => new Promise<number>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port, path: '/v1/stats', ca: readFileSync(pki.ca.cert), ...(o.cert ? { cert: readFileSync(o.cert), key: readFileSync(o.key!) } : {}), agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.once('error', reject);
      req.end();
    });
    try {
      await assert.rejects(get({}), 'no client certificate');
      await assert.rejects(get(pki.leaf('node-stranger', { ca: pki.otherCa })), 'a certificate of another CA');
      assert.equal(await get(pki.leaf('mount')), 200);
    } finally {
      await node.close();
    }
  });
});

describe('mutual TLS between cache nodes, and expired client certificates', () => {
  it('a node\'s miss is read from a peer over mutual TLS (no store read)', async () => {
    const tmp = tempDir('wharf-peer-tls-');
    const pki = makePki(tmp.path);
    const storeDir = join(tmp.path, 'store');
    mkdirSync(storeDir);
    const content = randomBytes(300_000);
    writeFileSync(join(storeDir, 'f.bin'), content);
    const store = await LocalStore.open(storeDir);
    const head = (await store.head('f.bin'))!;
    const fingerprint = `${content.length}:${head.etag}:${head.mtimeMs}`;
    const start = (name: string) => {
      const c = pki.leaf(name);
      return BlockServer.start({
        cacheDir: join(tmp.path, name), listen: '127.0.0.1:0', capacityBytes: 64 << 20, minFreeBytes: 0,
        tls: new NodeTls({ caFile: pki.ca.cert, certFile: c.cert, keyFile: c.key }), storeFor: async () => store,
      });
    };
    const a = await start('node-a');
    const b = await start('node-b');
    const client = pki.leaf('mount');
    const get = (address: string) => new Promise<Buffer>((resolve, reject) => {
      const i = address.lastIndexOf(':');
      const req = httpsRequest({
        host: '127.0.0.1', port: Number(address.slice(i + 1)), agent: false,
        path: blockUrlPath({ source: 'data', key: 'f.bin', fingerprint, blockSize: 1 << 20, size: content.length }),
        headers: { range: `bytes=0-${content.length - 1}` }, ca: readFileSync(pki.ca.cert), cert: readFileSync(client.cert), key: readFileSync(client.key),
      }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.once('end', () => (res.statusCode === 206 ? resolve(Buffer.concat(parts)) : reject(new Error(`status ${res.statusCode}`))));
      });
      req.once('error', reject);
      req.end();
    });
    try {
      assert.ok((await get(a.address)).equals(content));
      assert.equal(a.stats().storeFetches, 1);
      b.setPeers([{ id: a.id, address: a.address, weight: 1, readable: true }, { id: b.id, address: b.address, weight: 1, readable: true }], 1n);
      assert.ok((await get(b.address)).equals(content));
      assert.equal(b.stats().storeFetches, 0, 'b read the block from its peer a, not the store');
      assert.equal(b.stats().peerReads, 1);
      assert.equal(a.stats().servedToPeers, 1);
    } finally {
      await a.close();
      await b.close();
      await store.close();
      tmp.remove();
    }
  });

  it('a node picks up a rotated certificate without a restart', async () => {
    const tmp = tempDir('wharf-node-rotate-');
    const pki = makePki(tmp.path);
    const [a, b, client] = [pki.leaf('node-old'), pki.leaf('node-new'), pki.leaf('client')];
    const f = { caFile: join(tmp.path, 'live-ca.crt'), certFile: join(tmp.path, 'live.crt'), keyFile: join(tmp.path, 'live.key'), refreshMs: 100 };
    copyFileSync(pki.ca.cert, f.caFile);
    copyFileSync(a.cert, f.certFile);
    copyFileSync(a.key, f.keyFile);
    const node = await BlockServer.start({ cacheDir: join(tmp.path, 'n'), listen: '127.0.0.1:0', capacityBytes: 1 << 20, tls: new NodeTls(f), storeFor: async () => { throw new WharfError('ENOENT', 'none'); } });
    const port = Number(node.address.slice(node.address.lastIndexOf(':') + 1));
    const cn = () => new Promise<string>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, ca: readFileSync(pki.ca.cert), cert: readFileSync(client.cert), key: readFileSync(client.key) }, () => {
        const name = String(s.getPeerCertificate().subject.CN);
        s.destroy();
        resolve(name);
      });
      s.once('error', reject);
    });
    try {
      assert.equal(await cn(), 'node-old');
      copyFileSync(b.key, f.keyFile);
      copyFileSync(b.cert, f.certFile);
      await waitUntil(async () => (await cn()) === 'node-new', 5_000);
    } finally {
      await node.close();
      tmp.remove();
    }
  });

  it('an expired client certificate: a client refuses to use it, and a mutual-TLS master refuses the handshake', async () => {
    const tmp = tempDir('wharf-expired-client-');
    const pki = makePki(tmp.path);
    const server = pki.leaf('master');
    const expired = pki.leaf('old-client', { days: -1 });
    const m = await Master.start({ dataDir: join(tmp.path, 'meta'), listen: 'localhost:0', tls: { certFile: server.cert, keyFile: server.key, clientCaFile: pki.ca.cert } });
    try {
      assert.throws(() => new AdminClient(m.address, 2_000, { tls: { caFile: pki.ca.cert, certFile: expired.cert, keyFile: expired.key } }), /expired/);
      const port = Number(m.address.slice(m.address.lastIndexOf(':') + 1));
      await assert.rejects(new Promise<void>((resolve, reject) => {
        const s = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(pki.ca.cert), cert: readFileSync(expired.cert), key: readFileSync(expired.key), ALPNProtocols: ['h2'] }, () => {
          // TLS 1.3: the server's verdict on our certificate arrives after the handshake, as an alert.
          s.once('data', () => { s.destroy(); resolve(); });
          s.once('close', () => reject(new Error('closed by the server')));
          s.write(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
        });
        s.once('error', reject);
      }), /certificate expired|closed by the server|alert|disconnected before secure TLS connection/i);
    } finally {
      await m.stop(500);
      tmp.remove();
    }
  });
});

describe('IAM through the wharf command', () => {
  it('bootstrap, users and keys from the CLI, exit codes for refused keys, and no secret in any log line', async () => {
    const tmp = tempDir('wharf-iam-cli-');
    const pki = makePki(tmp.path);
    const server = pki.leaf('master');
    const dataDir = join(tmp.path, 'meta');
    // Debug logging: the most a master ever writes.
    const child = spawn(process.execPath, [WHARF_BIN, 'master', '--data', dataDir, '--listen', 'localhost:0', '--auth', '--tls-cert', server.cert, '--tls-key', server.key], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WHARF_LOG_LEVEL: 'debug' },
    });
    let logs = '';
    child.stdout!.on('data', (d: Buffer) => { logs += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { logs += d.toString(); });
    const exited = new Promise((r) => child.once('exit', r));
    try {
      const deadline = Date.now() + 20_000;
      while (!/listening on (\S+)/.test(logs) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const address = /listening on ([^,\s]+)/.exec(logs)![1]!;
      const base = ['--master', address, '--tls-ca', pki.ca.cert];
      const asAdmin = [...base, '--key-file', join(dataDir, 'admin.key')];
      const secrets = [readFileSync(join(dataDir, 'admin.key'), 'utf8').trim().split(':')[1]!];
      let cliOutput = '';
      const cli = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
        const r = await runCli(args, env);
        cliOutput += r.stdout + r.stderr;
        return r;
      };

      assert.equal((await cli([...asAdmin, 'user', 'create', 'etl', '--role', 'operator'])).code, 0);
      const bad = await cli([...asAdmin, 'user', 'create', 'x', '--role', 'operator@nowhere']);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /no cache instance "nowhere"/);
      const keyFile = join(tmp.path, 'etl.key');
      assert.equal((await cli([...asAdmin, 'key', 'create', 'etl', '--out', keyFile, '--expires', '30d'])).code, 0);
      assert.equal(statSync(keyFile).mode & 0o777, 0o600);
      secrets.push(readFileSync(keyFile, 'utf8').trim().split(':')[1]!);
      // Printed once, on the stdout of the command that made it (and nowhere else).
      const shown = await runCli([...asAdmin, '--json', 'key', 'create', 'etl']);
      const printed = (JSON.parse(shown.stdout) as { secret: string }).secret;
      secrets.push(printed);

      const who = await cli([...base, '--key-file', keyFile, '--json', 'whoami']);
      assert.equal(who.code, 0, who.stderr);
      assert.deepEqual((JSON.parse(who.stdout) as { grants: string[] }).grants, ['operator']);
      const etlKey = readFileSync(keyFile, 'utf8').trim();
      const wrong = await cli([...base, 'whoami'], { WHARF_ACCESS_KEY: `${etlKey.split(':')[0]}:not-the-secret` });
      assert.equal(wrong.code, 5, wrong.stderr);
      assert.match(wrong.stderr, /EKEYREJECTED/);
      const none = await cli([...base, 'source', 'list']);
      assert.equal(none.code, 5);
      assert.match(none.stderr, /requires an access key/);
      const denied = await cli([...base, '--key-file', keyFile, 'user', 'list']);
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, /EACCES.*may not call ListUsers/);
      const plain = await cli(['--master', address, '--key-file', keyFile, 'whoami']);
      assert.equal(plain.code, 1);
      assert.match(plain.stderr, /refusing to send access key .* over plaintext/);
      const keyId = etlKey.split(':')[0]!;
      assert.equal((await cli([...asAdmin, 'key', 'disable', keyId])).code, 0);
      assert.match((await cli([...base, '--key-file', keyFile, 'whoami'])).stderr, /is disabled/);
      assert.match((await cli([...asAdmin, 'key', 'list', '--user', 'etl'])).stdout, new RegExp(`${keyId}\\s+etl\\s+disabled`));

      child.kill('SIGTERM');
      await exited;
      const audit = readFileSync(join(dataDir, 'audit', `audit-${new Date().toISOString().slice(0, 10)}.jsonl`), 'utf8');
      for (const s of secrets) {
        assert.ok(s.length >= 40);
        assert.ok(!logs.includes(s), 'a secret in the master\'s log');
        assert.ok(!audit.includes(s), 'a secret in the audit log');
        assert.ok(!cliOutput.includes(s), 'a secret in a command\'s output other than key create\'s');
      }
      assert.ok(!logs.includes('not-the-secret') && !audit.includes('not-the-secret'));
      assert.match(logs, /bootstrap admin key written/);
    } finally {
      child.kill('SIGKILL');
      tmp.remove();
    }
  });

  it('wharf master refuses a public address without TLS and auth, with the reason; --insecure starts it', async () => {
    const tmp = tempDir('wharf-iam-pub-');
    try {
      const r = await runCli(['master', '--data', join(tmp.path, 'm'), '--listen', '0.0.0.0:0']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /refusing to listen on 0\.0\.0\.0:0 without TLS .* and auth .*--insecure/);
      const m = await startMasterProcess(join(tmp.path, 'm2'), ['--listen', '0.0.0.0:0', '--insecure']);
      try {
        const c = new GrpcMetaClient(`127.0.0.1:${m.address.slice(m.address.lastIndexOf(':') + 1)}`, { deadlineMs: 5_000 });
        await c.getattr(ROOT_INO);
        await c.close();
        assert.match(m.stderr(), /INSECURE/);
      } finally {
        m.child.kill('SIGKILL');
        await m.exited;
      }
    } finally {
      tmp.remove();
    }
  });
});
