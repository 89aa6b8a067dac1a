// The namespace's change stream: the outbox written in each mutation's own batch
// (src/meta ChangeLog), the chains that tell a subscriber a loss from a duplicate
// (src/events SequenceChains), the message codec's refusals, and end to end over
// the Kafka protocol: a consumer sees every acknowledged mutation of a storm once
// in effect and in per-path order, across a kill -9 of the master mid-storm.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { ROOT_INO, WharfError } from '../src/common/index.js';
import { SequenceChains, decodeChangeMessage, encodeChangeMessage, type ChangeMessage } from '../src/events/index.js';
import { InodeTree, type NamespaceChange } from '../src/meta/index.js';
import { GrpcMetaClient } from '../src/rpc/index.js';
import { startKafkaBroker } from './helpers/kafkaBroker.js';
import { runCli, startMasterProcess } from './helpers/processes.js';
import { DIR_INIT, FILE_INIT, until } from './helpers/sourceFixture.js';
import { tempDir } from './helpers/tmp.js';

describe('the change-stream outbox', () => {
  it('records each client mutation with its paths in the mutation\'s own batch; a refused one records nothing; numbers survive a reopen', async () => {
    const tmp = tempDir('wharf-outbox-');
    try {
      let tree = await InodeTree.open(join(tmp.path, 'meta'), { changeLog: true });
      const a = await tree.mkdir(ROOT_INO, 'a', DIR_INIT);
      const b = await tree.mkdir(a.ino, 'b', DIR_INIT);
      const f = await tree.create(b.ino, 'f 1+%.txt', FILE_INIT);
      await tree.setattr(f.ino, { mode: 0o600 });
      await tree.commitWrite(f.ino, { size: 5n, etag: 'e', mtimeNs: 1_000_000_000n });
      await tree.setattr(f.ino, { pendingWrite: true }); // bookkeeping: not a change
      await tree.rename(ROOT_INO, 'a', ROOT_INO, 'z'); // a directory moves: the paths below it change
      await tree.link(f.ino, ROOT_INO, 'hard');
      await tree.symlink(ROOT_INO, 'ln', 'z/b', { uid: 0, gid: 0 });
      await assert.rejects(tree.mkdir(ROOT_INO, 'z', DIR_INIT), (e: WharfError) => e.errno === 'EEXIST');
      await tree.unlink(b.ino, 'f 1+%.txt');
      await tree.rmdir((await tree.lookup(ROOT_INO, 'z')).ino, 'b'); // empty: f's other name, /hard, holds it now
      const recs = await tree.changes!.read(100);
      const view = (c: NamespaceChange) => [c.op, c.path, c.toPath ?? '', c.type, c.changed?.join(',') ?? '', c.size?.toString() ?? ''].join(' ');
      assert.deepEqual(recs.map(view), [
        'mkdir /a  directory  ',
        'mkdir /a/b  directory  ',
        'create /a/b/f 1+%.txt  file  ',
        'setattr /a/b/f 1+%.txt  file mode 0',
        'write /a/b/f 1+%.txt  file  5',
        'rename /a /z directory  ',
        'link /z/b/f 1+%.txt /hard file  ',
        'symlink /ln  symlink  ',
        'unlink /z/b/f 1+%.txt  file  ',
        'rmdir /z/b  directory  ',
      ]);
      const seqs = recs.map((r) => r.seq);
      assert.deepEqual(seqs, [...seqs].sort((x, y) => (x < y ? -1 : 1)), 'in sequence order');
      assert.equal(new Set(seqs).size, seqs.length);
      assert.equal(tree.changes!.pending, recs.length);
      // Published: removed; the counter goes on after a reopen, never reusing a number.
      await tree.write('published', async (tx) => tree.changes!.remove(tx, seqs.slice(0, 4)));
      tree.changes!.removed(4);
      await tree.close();
      tree = await InodeTree.open(join(tmp.path, 'meta'), { changeLog: true });
      assert.equal(tree.changes!.pending, recs.length - 4);
      await tree.mkdir(ROOT_INO, 'again', DIR_INIT);
      const after = await tree.changes!.read(100);
      assert.equal(after.length, recs.length - 3);
      assert.ok(after.at(-1)!.seq > seqs.at(-1)!, 'a new number after the reopen');
      await tree.close();
      // Without the outbox, nothing is recorded (and what waits is kept).
      tree = await InodeTree.open(join(tmp.path, 'meta'));
      await tree.mkdir(ROOT_INO, 'quiet', DIR_INIT);
      await tree.close();
      tree = await InodeTree.open(join(tmp.path, 'meta'), { changeLog: true });
      assert.equal((await tree.changes!.read(100)).length, recs.length - 3);
      await tree.close();
    } finally {
      tmp.remove();
    }
  });
});

describe('sequence chains and the change message', () => {
  const msg = (cluster: string, epoch: number, seq: bigint, prev: bigint) => ({ cluster, epoch, seq, prev });

  it('tells new, duplicate and lost messages apart, per publisher, partition and epoch', () => {
    const c = new SequenceChains();
    assert.equal(c.observe('t', 0, msg('a', 1, 5n, 3n)).kind, 'new', 'the first contact is the baseline');
    assert.equal(c.observe('t', 0, msg('a', 1, 7n, 5n)).kind, 'new');
    assert.equal(c.observe('t', 0, msg('a', 1, 7n, 5n)).kind, 'duplicate', 'a replay');
    assert.equal(c.observe('t', 0, msg('a', 1, 6n, 5n)).kind, 'duplicate', 'not above the last');
    assert.equal(c.observe('t', 1, msg('a', 1, 6n, 0n)).kind, 'new', 'another partition has its own chain');
    assert.equal(c.observe('t', 0, msg('b', 1, 1n, 0n)).kind, 'new', 'another publisher has its own chain');
    const gap = c.observe('t', 0, msg('a', 1, 12n, 9n));
    assert.equal(gap.kind, 'gap');
    assert.match((gap as { reason: string }).reason, /after seq 7 up to 9/);
    assert.equal(c.observe('t', 0, msg('a', 1, 13n, 12n)).kind, 'new', 'the chain goes on from the gap');
    assert.equal(c.observe('t', 0, msg('a', 2, 14n, 0n)).kind, 'new', 'a new epoch starts at prev 0');
    assert.equal(c.observe('t', 0, msg('a', 1, 20n, 13n)).kind, 'duplicate', 'an older epoch is behind us');
    assert.equal(c.observe('t', 0, msg('a', 3, 30n, 25n)).kind, 'gap', 'a new epoch seen after its start');
    // Offsets: a jump is a loss, a step back a replay.
    assert.equal(c.position('t', 0, 10n), undefined);
    assert.equal(c.position('t', 0, 11n), undefined);
    assert.equal(c.position('t', 0, 4n), undefined);
    assert.match(c.position('t', 0, 20n) ?? '', /jumped from offset 11 to 20: 8 message\(s\) were never read/);
    // A copy is independent; the serialised state reads back the same.
    const copy = c.copy();
    copy.observe('t', 0, msg('a', 3, 31n, 30n));
    assert.equal(c.observe('t', 0, msg('a', 3, 31n, 30n)).kind, 'new');
    const back = SequenceChains.parse(c.serialize());
    assert.equal(back.observe('t', 0, msg('a', 3, 31n, 30n)).kind, 'duplicate');
    assert.equal(back.position('t', 0, 21n), undefined);
  });

  it('decodes what it encodes and refuses malformed messages precisely', () => {
    const m: ChangeMessage = { v: 1, cluster: 'east', epoch: 2, seq: 99n, prev: 97n, op: 'create', path: '/lake/a b', ino: '12', type: 'file', timeMs: 1, store: { source: 'lake', id: 's3://b', key: 'p/a b' } };
    assert.deepEqual(decodeChangeMessage(encodeChangeMessage(m)), m);
    const bad = (v: unknown, re: RegExp) => assert.throws(() => decodeChangeMessage(v === null ? null : Buffer.from(typeof v === 'string' ? v : JSON.stringify(v))), (e: WharfError) => e.errno === 'EINVAL' && re.test(e.message));
    const base = JSON.parse(encodeChangeMessage(m).toString()) as Record<string, unknown>;
    bad(null, /empty/);
    bad('{not json', /not JSON/);
    bad({ ...base, v: 2 }, /version 2/);
    bad({ ...base, cluster: '' }, /no cluster/);
    bad({ ...base, epoch: 0 }, /epoch/);
    bad({ ...base, seq: 12 }, /decimal strings/);
    bad({ ...base, path: 'relative' }, /absolute path/);
    bad({ ...base, store: { id: 's3://b' } }, /store is not/);
  });
});

describe('the master\'s change-stream settings', () => {
  it('refuses bad ones precisely, before opening anything', async () => {
    const tmp = tempDir('wharf-changes-flags-');
    try {
      const data = join(tmp.path, 'meta');
      const refused = async (args: string[], re: RegExp, env: NodeJS.ProcessEnv = {}) => {
        const r = await runCli(['master', '--data', data, '--listen', '127.0.0.1:0', ...args], env);
        assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout} ${r.stderr}`);
        assert.match(r.stderr, re);
      };
      await refused(['--change-topic', 't'], /--change-topic and --invalidate-from need --change-brokers/);
      await refused(['--change-brokers', '127.0.0.1:9'], /--change-brokers needs --change-topic or --invalidate-from/);
      await refused(['--change-brokers', 'nohostport', '--change-topic', 't'], /broker "nohostport" is not host:port/);
      await refused(['--change-brokers', '127.0.0.1:9', '--change-topic', 'bad topic'], /topic "bad topic" is not a Kafka topic name/);
      await refused(['--change-brokers', '127.0.0.1:9', '--invalidate-from', 't', '--cluster', 'no/slash'], /cluster name "no\/slash"/);
      await refused(['--change-brokers', '127.0.0.1:9', '--change-topic', 't', '--change-sasl', 'md5:u'], /expected mechanism:user/);
      await refused(['--change-brokers', '127.0.0.1:9', '--change-topic', 't', '--change-sasl', 'plain:u'], /needs the password in \$WHARF_KAFKA_PASSWORD/);
      await refused(['--change-brokers', '127.0.0.1:9', '--change-topic', 't', '--change-sasl', 'plain:u'], /SASL PLAIN sends the password as it is/, { WHARF_KAFKA_PASSWORD: 'p' });
    } finally {
      tmp.remove();
    }
  });

  it('with the brokers down the master serves, keeps the changes in its outbox and says why in its status', async () => {
    const tmp = tempDir('wharf-changes-down-');
    // A port nothing listens on: the relay retries in the background.
    const m = await startMasterProcess(join(tmp.path, 'meta'), ['--cluster', 'east', '--change-brokers', '127.0.0.1:9', '--change-topic', 't']);
    try {
      const client = new GrpcMetaClient(m.address, { deadlineMs: 5_000 });
      for (let i = 0; i < 5; i++) await client.mkdir(ROOT_INO, `d${i}`, DIR_INIT);
      client.close();
      let st: { changes?: { state: string; pending: string; error: string; last_seq: string } } = {};
      await until('the relay reports the brokers down', async () => {
        const r = await runCli(['--master', m.address, '--json', 'status']);
        st = JSON.parse(r.stdout) as typeof st;
        return st.changes?.state === 'error' || st.changes?.state === 'waiting';
      }, 30_000);
      assert.equal(st.changes?.pending, '5', 'the outbox keeps every change');
      assert.equal(st.changes?.last_seq, '5');
      const text = await runCli(['--master', m.address, 'status']);
      assert.match(text.stdout, /change stream: (error|waiting) on t as cluster east .* 5 waiting in the outbox/);
    } finally {
      m.child.kill('SIGTERM');
      await m.exited;
      tmp.remove();
    }
  });
});

describe('the change stream over Kafka across a master crash', () => {
  it('a consumer sees every acknowledged mutation once in effect (by seq), in per-path order, after a kill -9 mid-storm', async () => {
    const tmp = tempDir('wharf-changes-crash-');
    const broker = await startKafkaBroker({ defaultPartitions: 3 });
    const dataDir = join(tmp.path, 'meta');
    const flags = ['--cluster', 'east', '--change-brokers', broker.address, '--change-topic', 'ns.changes'];
    let m = await startMasterProcess(dataDir, flags);
    const kafka = new Kafka({ clientId: 'change-reader', brokers: [broker.address], logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: 'reader', sessionTimeout: 10_000, heartbeatInterval: 500 });
    const seen: ChangeMessage[] = [];
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: ['ns.changes'], fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => { seen.push(decodeChangeMessage(message.value)); } });
      let client = new GrpcMetaClient(m.address, { deadlineMs: 5_000 });
      const dir = await client.mkdir(ROOT_INO, 'storm', DIR_INIT);
      // Eight writers: each creates a file, changes its mode, and removes every other one.
      const acked: { path: string; op: string }[] = [];
      let stop = false;
      const writer = async (w: number) => {
        for (let i = 0; !stop; i++) {
          const name = `w${w}-${i}`;
          try {
            const f = await client.create(dir.ino, name, FILE_INIT);
            acked.push({ path: `/storm/${name}`, op: 'create' });
            await client.setattr(f.ino, { mode: 0o600 });
            acked.push({ path: `/storm/${name}`, op: 'setattr' });
            if (i % 2 === 0) {
              await client.unlink(dir.ino, name);
              acked.push({ path: `/storm/${name}`, op: 'unlink' });
            }
          } catch {
            return; // the master died under us: what was acknowledged is what counts
          }
        }
      };
      const writers = Array.from({ length: 8 }, (_, w) => writer(w));
      await until('a storm under way', () => acked.length >= 600, 30_000);
      m.child.kill('SIGKILL');
      await m.exited;
      stop = true;
      await Promise.all(writers);
      client.close();
      const before = seen.length;
      m = await startMasterProcess(dataDir, flags);
      // After the restart, more changes: the outbox's leftovers go out first, then these.
      client = new GrpcMetaClient(m.address, { deadlineMs: 5_000 });
      await client.mkdir(dir.ino, 'after-restart', DIR_INIT);
      acked.push({ path: '/storm/after-restart', op: 'mkdir' });
      client.close();
      const key = (x: { path: string; op: string }) => `${x.op} ${x.path}`;
      await until('every acknowledged change consumed', () => {
        const have = new Set(seen.map(key));
        return acked.every((a) => have.has(key(a)));
      }, 60_000);
      // Once in effect: the same seq is the same change; a duplicate carries it again.
      const bySeq = new Map<bigint, string>();
      for (const s of seen) {
        const k = key(s);
        assert.equal(bySeq.get(s.seq) ?? k, k, `seq ${s.seq} names one change`);
        bySeq.set(s.seq, k);
      }
      // Per-path order: create before setattr before unlink, seqs increasing, first sightings in that order.
      const firsts = new Map<string, { op: string; seq: bigint }[]>();
      const counted = new Set<bigint>();
      for (const s of seen) {
        if (counted.has(s.seq)) continue;
        counted.add(s.seq);
        const l = firsts.get(s.path) ?? [];
        l.push({ op: s.op, seq: s.seq });
        firsts.set(s.path, l);
      }
      for (const [path, l] of firsts) {
        if (!path.startsWith('/storm/w')) continue;
        const ops = l.map((x) => x.op);
        assert.deepEqual(ops, ['create', 'setattr', 'unlink'].slice(0, ops.length), `${path}: ${ops.join(', ')}`);
        for (let i = 1; i < l.length; i++) assert.ok(l[i]!.seq > l[i - 1]!.seq, `${path}: seqs increase`);
      }
      const epochs = new Set(seen.map((s) => s.epoch));
      assert.equal(epochs.size, 2, 'one epoch per start of the master');
      assert.ok(seen.every((s) => s.cluster === 'east'));
      assert.ok(before < seen.length, 'the restarted master published');
    } finally {
      await consumer.disconnect().catch(() => undefined);
      m.child.kill('SIGKILL');
      await m.exited;
      await broker.stop();
      tmp.remove();
    }
  });
});
