// Permission groups: the longest-prefix matcher as a property against a brute-force
// one (IPv4, IPv6, IPv4-mapped), the groups' limits and refusals over the Admin API,
// and enforcement by the master on real gRPC calls and through a real FUSE mount
// from two loopback addresses: 127.0.0.1 directly, and 127.0.0.2 through a TCP relay
// that connects from that address (what the master sees of a client behind a proxy).
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { AccessMatcher, normalizeCidr, peerAddress, type AccessMode, type AccessRule } from '../src/access/index.js';
import { ROOT_INO } from '../src/common/index.js';
import { Master } from '../src/master/index.js';
import { AdminClient, GrpcMetaClient } from '../src/rpc/index.js';
import { wharfMount, type MountProcess } from './helpers/mount.js';
import { rejectsErrno } from './helpers/sourceFixture.js';
import { tempDir } from './helpers/tmp.js';

const o = { mode: 0o644, uid: 0, gid: 0 };

/** An address or network as (family, 128-bit value, prefix bits), IPv4 in the low 32 bits. */
function bits(addr: string): { v6: boolean; value: bigint } {
  if (addr.includes(':')) {
    const [head, tail] = addr.split('::') as [string, string | undefined];
    const h = head ? head.split(':') : [];
    const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
    const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
    return { v6: true, value: groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g, 16)), 0n) };
  }
  return { v6: false, value: addr.split('.').reduce((a, x) => (a << 8n) | BigInt(Number(x)), 0n) };
}

function bruteForce(rules: readonly AccessRule[], address: string): AccessMode {
  const a = bits(address);
  let best: AccessRule | undefined;
  let bestLen = -1;
  for (const r of rules) {
    const [net, lenText] = r.cidr.split('/') as [string, string];
    const len = Number(lenText);
    const n = bits(net);
    if (n.v6 !== a.v6) continue;
    const width = a.v6 ? 128n : 32n;
    const shift = width - BigInt(len);
    if ((a.value >> shift) === (n.value >> shift) && len > bestLen) {
      best = r;
      bestLen = len;
    }
  }
  return best?.mode ?? 'Forbidden';
}

describe('access rules: matching', () => {
  const mode = fc.constantFrom<AccessMode>('ReadWrite', 'ReadOnly', 'Forbidden');
  // A small address space, so that rules and addresses overlap often.
  const v4 = fc.tuple(fc.constantFrom(10, 192), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 7 })).map((p) => p.join('.'));
  const v6 = fc.tuple(fc.constantFrom('fd00', '2001'), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 7 })).map(([a, b, c]) => `${a}:${b}::${c}`);
  const rule = fc.oneof(
    fc.tuple(v4, fc.integer({ min: 0, max: 32 }), mode).map(([a, l, m]) => ({ cidr: `${a}/${l}`, mode: m })),
    fc.tuple(v6, fc.integer({ min: 0, max: 128 }), mode).map(([a, l, m]) => ({ cidr: `${a}/${l}`, mode: m })),
  );

  it('the longest prefix decides, across IPv4 and IPv6, order-free (against a brute-force matcher)', () => {
    fc.assert(fc.property(fc.array(rule, { maxLength: 12 }), fc.oneof(v4, v6), (raw, address) => {
      // As a group stores them: normalised, one rule per network.
      const byCidr = new Map<string, AccessRule>();
      for (const r of raw) byCidr.set(normalizeCidr(r.cidr), { cidr: normalizeCidr(r.cidr), mode: r.mode });
      const rules = [...byCidr.values()];
      const want = bruteForce(rules, peerAddress(address));
      assert.equal(new AccessMatcher(rules).modeFor(peerAddress(address)), want);
      assert.equal(new AccessMatcher([...rules].reverse()).modeFor(peerAddress(address)), want, 'order-free');
    }), { numRuns: 2000 });
  });

  it('mapped addresses are their IPv4 address; CIDRs are normalised; peers are parsed as gRPC writes them', () => {
    assert.equal(peerAddress('ipv6:[::ffff:10.1.2.3]:5000'), '10.1.2.3');
    assert.equal(peerAddress('ipv4:127.0.0.2:41234'), '127.0.0.2');
    assert.equal(peerAddress('ipv6:[::1]:80'), '::1');
    assert.equal(peerAddress('127.0.0.2:43231'), '127.0.0.2', 'as grpc-js writes a peer');
    assert.equal(peerAddress('[::ffff:127.0.0.1]:80'), '127.0.0.1');
    assert.equal(normalizeCidr('10.1.2.3/8'), '10.0.0.0/8');
    assert.equal(normalizeCidr('::ffff:10.0.0.0/104'), '10.0.0.0/8');
    assert.equal(normalizeCidr('10.0.0.7'), '10.0.0.7/32');
    assert.equal(normalizeCidr('2001:db8:0:0::1/32'), '2001:db8::/32');
    const m = new AccessMatcher([{ cidr: '0.0.0.0/0', mode: 'ReadWrite' }, { cidr: '10.0.0.0/8', mode: 'ReadOnly' }, { cidr: '::/0', mode: 'Forbidden' }]);
    assert.equal(m.modeFor(peerAddress('::ffff:10.9.9.9')), 'ReadOnly', 'a mapped peer is judged by the IPv4 rules');
    assert.equal(m.modeFor('::1'), 'Forbidden');
    for (const bad of ['', '10.0.0.0/33', 'ten/8', '1.2.3.4/-1', 'fe80::/129']) assert.throws(() => normalizeCidr(bad), /not a CIDR/, bad);
  });
});

/** A TCP relay that connects to `target` from `localAddress`: the master sees the relay's address. */
async function relay(target: number, localAddress: string): Promise<{ port: number; server: Server }> {
  const server = createServer((down) => {
    const up = connect({ port: target, host: '127.0.0.1', localAddress });
    down.pipe(up).pipe(down);
    const end = () => { down.destroy(); up.destroy(); };
    down.once('error', end);
    up.once('error', end);
    down.once('close', end);
    up.once('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  return { port: typeof a === 'object' && a ? a.port : 0, server };
}

describe('permission groups on the master', () => {
  let tmp: { path: string; remove: () => void };
  let master: Master;
  let admin: AdminClient;
  let direct: GrpcMetaClient;
  let viaRelay: GrpcMetaClient;
  let proxy: { port: number; server: Server };
  let dataIno: bigint;

  before(async () => {
    tmp = tempDir('wharf-access-');
    const store = join(tmp.path, 'store');
    mkdirSync(join(store, 'd'), { recursive: true });
    writeFileSync(join(store, 'd', 'f.txt'), 'hello\n');
    master = await Master.start({ dataDir: join(tmp.path, 'meta'), listen: '127.0.0.1:0' });
    admin = new AdminClient(master.address, 10_000);
    const { job } = await master.sync.importSource({ name: 'data', uri: `file://${store}`, at: '/data' });
    await master.sync.jobs.wait(job.id);
    proxy = await relay(Number(master.address.split(':')[1]), '127.0.0.2');
    direct = new GrpcMetaClient(master.address, { deadlineMs: 10_000 });
    viaRelay = new GrpcMetaClient(`127.0.0.1:${proxy.port}`, { deadlineMs: 10_000 });
    dataIno = (await direct.resolve('/data')).ino;
  });
  after(async () => {
    await direct.close();
    await viaRelay.close();
    admin.close();
    proxy.server.close();
    await master.stop(2_000);
    tmp.remove();
  });

  it('limits and refusals are precise', async () => {
    const d = await admin.showGroup('', 'default');
    assert.equal(d.is_default, true);
    assert.deepEqual(d.rules.map((r) => `${r.cidr} ${r.mode}`).sort(), ['0.0.0.0/0 ReadWrite', '::/0 ReadWrite']);
    await rejectsErrno(admin.createGroup('', 'bad name'), 'EINVAL', 'name');
    await rejectsErrno(admin.createGroup('', 'x'.repeat(66)), 'EINVAL', 'a 66-character name');
    await rejectsErrno(admin.createGroup('nope', 'g'), 'ENOENT', 'unknown instance');
    await rejectsErrno(admin.createGroup('', 'default'), 'EEXIST', 'the default exists');
    await admin.createGroup('', 'ro', 'read-only clients');
    await rejectsErrno(admin.createGroup('', 'ro'), 'EEXIST', 'duplicate');
    await admin.addGroupRule('', 'ro', '127.0.0.2/32', 'ReadOnly');
    await rejectsErrno(admin.addGroupRule('', 'ro', '127.0.0.2', 'Forbidden'), 'EEXIST', 'the same network spelt otherwise');
    await rejectsErrno(admin.addGroupRule('', 'ro', '127.0.0.0/8', 'Sometimes'), 'EINVAL', 'unknown mode');
    await rejectsErrno(admin.addGroupRule('', 'ro', '300.0.0.0/8', 'ReadOnly'), 'EINVAL', 'bad CIDR');
    await rejectsErrno(admin.deleteGroupRule('', 'ro', '0.0.0.0/0'), 'EPERM', 'the catch-all cannot go');
    await rejectsErrno(admin.deleteGroupRule('', 'ro', '::/0'), 'EPERM', 'nor the IPv6 one');
    await rejectsErrno(admin.deleteGroupRule('', 'ro', '10.0.0.0/8'), 'ENOENT', 'no such rule');
    await rejectsErrno(admin.deleteGroup('', 'default'), 'EPERM', 'the default group stays');
    for (let i = 0; i < 18; i++) await admin.createGroup('', `g${i}`);
    await rejectsErrno(admin.createGroup('', 'the-21st'), 'ENOSPC', '21 groups with the default');
    for (let i = 0; i < 18; i++) await admin.deleteGroup('', `g${i}`);
    await admin.bindSourceGroup('data', 'ro');
    await rejectsErrno(admin.deleteGroup('', 'ro'), 'EBUSY', 'a group with a bound source');
    await rejectsErrno(admin.bindSourceGroup('data', 'nope'), 'ENOENT', 'unknown group');
    assert.equal((await admin.showSource('data')).source!.group, 'ro');
  });

  it('ReadOnly: reads pass, every change is EROFS; a rule edit applies to the next call; Forbidden is EACCES', async () => {
    const viaRelayFile = await viaRelay.resolve('/data/d/f.txt');
    assert.equal(viaRelayFile.size, 6n, 'the relayed client reads');
    await rejectsErrno(viaRelay.create(dataIno, 'new', o), 'EROFS', 'ReadOnly: create');
    await rejectsErrno(viaRelay.setattr(viaRelayFile.ino, { mode: 0o600 }), 'EROFS', 'ReadOnly: chmod');
    await rejectsErrno(viaRelay.unlink((await viaRelay.resolve('/data/d')).ino, 'f.txt'), 'EROFS', 'ReadOnly: unlink');
    await direct.create(dataIno, 'from-127.0.0.1', o); // the other address still writes
    const check = await admin.checkAccess('data', '127.0.0.2');
    assert.deepEqual({ mode: check.mode, group: check.group, cidr: check.cidr }, { mode: 'ReadOnly', group: 'ro', cidr: '127.0.0.2/32' });

    await admin.setGroupRule('', 'ro', '127.0.0.2/32', 'Forbidden');
    await rejectsErrno(viaRelay.getattr(viaRelayFile.ino), 'EACCES', 'Forbidden on the very next call, same connection');
    await rejectsErrno(viaRelay.readdir(dataIno, null, 100), 'EACCES', 'readdir');
    assert.equal((await direct.getattr(viaRelayFile.ino)).size, 6n, '127.0.0.1 is not affected');
    // Outside the source the '' instance's default group applies: still ReadWrite.
    assert.equal((await viaRelay.getattr(ROOT_INO)).type, 'directory');
    await admin.setGroupRule('', 'default', '0.0.0.0/0', 'Forbidden');
    await admin.addGroupRule('', 'default', '127.0.0.1/32', 'ReadWrite');
    await rejectsErrno(viaRelay.getattr(ROOT_INO), 'EACCES', 'the namespace itself forbidden to 127.0.0.2');
    assert.equal((await direct.getattr(ROOT_INO)).type, 'directory');
    await admin.setGroupRule('', 'default', '0.0.0.0/0', 'ReadWrite');
    await admin.setGroupRule('', 'ro', '127.0.0.2/32', 'ReadOnly');
  });

  it('a mount refused at start says why', async () => {
    await admin.addGroupRule('', 'default', '127.0.0.2/32', 'Forbidden');
    try {
      await assert.rejects(
        wharfMount({ master: `127.0.0.1:${proxy.port}`, mountpoint: join(tmp.path, 'mnt-refused'), cacheDir: join(tmp.path, 'cache-refused') }),
        /Permission denied \(EACCES\).*127\.0\.0\.2 is forbidden from the namespace outside every source/,
      );
    } finally {
      await admin.deleteGroupRule('', 'default', '127.0.0.2/32');
    }
  });

  it('through a real mount from 127.0.0.2: reads work, writes are EROFS; Forbidden refuses the next open', async () => {
    const mnt = join(tmp.path, 'mnt');
    const m: MountProcess = await wharfMount({ master: `127.0.0.1:${proxy.port}`, mountpoint: mnt, cacheDir: join(tmp.path, 'cache'), args: ['--attr-timeout', '0'] });
    try {
      assert.equal(await readFile(join(mnt, 'data', 'd', 'f.txt'), 'utf8'), 'hello\n');
      await assert.rejects(writeFile(join(mnt, 'data', 'd', 'new.txt'), 'x'), (e: NodeJS.ErrnoException) => e.code === 'EROFS');
      await admin.setGroupRule('', 'ro', '127.0.0.2/32', 'Forbidden');
      await assert.rejects(readFile(join(mnt, 'data', 'd', 'f.txt'), 'utf8'), (e: NodeJS.ErrnoException) => e.code === 'EACCES');
    } finally {
      await m.stop();
      await admin.setGroupRule('', 'ro', '127.0.0.2/32', 'ReadOnly');
    }
  });
});
