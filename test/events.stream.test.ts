// Store events over the Kafka protocol end to end: the test broker (a fixture
// speaking the wire protocol), producers writing AWS, MinIO and Ceph notifications,
// and a master consuming them into the namespace — poison to the dead-letter topic
// and the stream going on, offsets committed only after the writes, the state and
// counters in `wharf source stream show` and `wharf status`, a restart resuming
// after the committed offset, a kill -9 mid-stream leaving the namespace equal to
// the store, and the stream's refusals of bad settings.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { ROOT_INO, WharfError } from '../src/common/index.js';
import { Master } from '../src/master/index.js';
import { AdminClient } from '../src/rpc/index.js';
import { startKafkaBroker, type KafkaTestBroker } from './helpers/kafkaBroker.js';
import { runCli, startMasterProcess } from './helpers/processes.js';
import { rejectsErrno, until } from './helpers/sourceFixture.js';
import { tempDir } from './helpers/tmp.js';

let seq = 0x5000_0000; // one length throughout: S3 compares sequencers right-padded
const nextSeq = () => (seq++).toString(16).toUpperCase();
function awsRecord(op: 'put' | 'delete', key: string, size = 0, extra: Record<string, unknown> = {}): object {
  const encoded = encodeURIComponent(key).replace(/%20/g, '+').replace(/%2F/g, '/');
  return {
    eventVersion: '2.1', eventSource: 'aws:s3', eventTime: new Date().toISOString(), eventName: op === 'put' ? 'ObjectCreated:Put' : 'ObjectRemoved:Delete',
    s3: { bucket: { name: 'lake' }, object: { key: encoded, sequencer: nextSeq(), ...(op === 'put' ? { size, eTag: `etag-${key}-${size}` } : {}), ...extra } },
  };
}
const aws = (...records: object[]) => JSON.stringify({ Records: records });

describe('store events over Kafka into the namespace', () => {
  let tmp: { path: string; remove: () => void };
  let broker: KafkaTestBroker;
  let master: Master;
  let admin: AdminClient;
  let producer: Producer;
  let store: string;
  const stat = async (path: string) => {
    const parts = path.split('/');
    const dir = await master.tree.lookupPath(ROOT_INO, ['lake', ...parts.slice(0, -1)]);
    if (dir === undefined) throw new WharfError('ENOENT', `${path}: not in the namespace`);
    return master.tree.lookup(dir, parts[parts.length - 1]!);
  };
  const exists = async (path: string) => stat(path).then(() => true, () => false);
  const send = (...values: (string | null)[]) => producer.send({ topic: 's3-events', messages: values.map((value, i) => ({ key: `k${i}`, value })) });

  before(async () => {
    tmp = tempDir('wharf-events-stream-');
    store = join(tmp.path, 'store');
    mkdirSync(store);
    broker = await startKafkaBroker();
    const kafka = new Kafka({ clientId: 'test-producer', brokers: [broker.address], logLevel: logLevel.NOTHING });
    producer = kafka.producer({ allowAutoTopicCreation: true });
    await producer.connect();
    master = await Master.start({ dataDir: join(tmp.path, 'meta'), listen: '127.0.0.1:0', sync: { snapshotDeadlineMs: 1_500 } });
    admin = new AdminClient(master.address, 10_000);
    const { job } = await master.sync.importSource({ name: 'lake', uri: `file://${store}`, at: '/lake' });
    await master.sync.jobs.wait(job.id);
  });
  after(async () => {
    admin.close();
    await producer.disconnect();
    await master.stop(1_000);
    await broker.stop();
    tmp.remove();
  });

  it('refuses bad stream settings precisely', async () => {
    const base = { brokers: [broker.address], topics: ['s3-events'], group: 'g', bucket: 'lake' };
    await rejectsErrno(admin.setSourceStream('lake', { ...base, brokers: [] }), 'EINVAL', 'no broker');
    await rejectsErrno(admin.setSourceStream('lake', { ...base, brokers: ['no-port'] }), 'EINVAL', 'not host:port');
    await rejectsErrno(admin.setSourceStream('lake', { ...base, topics: ['bad topic'] }), 'EINVAL', 'topic name');
    await rejectsErrno(admin.setSourceStream('lake', { ...base, bucket: '' }), 'EINVAL', 'a file:// source needs --bucket');
    await rejectsErrno(admin.setSourceStream('lake', { ...base, sasl_mechanism: 'plain', sasl_username: 'u' }), 'EINVAL', 'SASL without the password');
    await rejectsErrno(admin.setSourceStream('nope', base), 'ENOENT');
    assert.equal((await admin.showSourceStream('lake')).state, 'inactive');
  });

  it('AWS, MinIO and Ceph events apply; poison goes to the dead-letter topic and the stream goes on; offsets follow the writes', async () => {
    await admin.setSourceStream('lake', { brokers: [broker.address, '127.0.0.1:1'], topics: ['s3-events'], group: 'wharf-lake', bucket: 'lake' });
    await until('the stream active', async () => (await admin.showSourceStream('lake')).state === 'active', 20_000);
    writeFileSync(join(store, 'a b+c.txt'), 'x'.repeat(11));
    await send(
      aws(awsRecord('put', 'raw/a b+c.txt', 11)),
      JSON.stringify({ EventName: 's3:ObjectCreated:Put', Key: 'lake/minio.bin', Records: [{ ...awsRecord('put', 'minio.bin', 5), eventSource: 'minio:s3', eventName: 's3:ObjectCreated:Put' }] }),
      '{this is not an event',
      aws({ ...awsRecord('put', 'ceph/x.dat', 7), eventSource: 'ceph:s3' }),
      aws(awsRecord('put', 'other-bucket.txt', 1, {}), { ...awsRecord('put', 'elsewhere', 1), s3: { bucket: { name: 'not-lake' }, object: { key: 'elsewhere', size: 1, eTag: 'e', sequencer: nextSeq() } } }),
    );
    await until('every event applied', async () => (await exists('ceph/x.dat')) && (await exists('minio.bin')) && (await exists('raw/a b+c.txt')), 15_000);
    assert.equal((await stat('raw/a b+c.txt')).size, 11n);
    await send(aws(awsRecord('delete', 'minio.bin')));
    await until('the delete after the poison applied', async () => !(await exists('minio.bin')), 15_000);
    const st = await admin.showSourceStream('lake');
    assert.equal(st.state, 'active');
    assert.equal(Number(st.dead_lettered), 1);
    assert.equal(Number(st.skipped), 1, 'the event of another bucket');
    assert.ok(Number(st.applied) >= 5, `applied ${st.applied}`);
    assert.equal(st.lag, '0');
    const dlq = broker.records('s3-events.dlq');
    assert.equal(dlq.length, 1);
    assert.equal(dlq[0]!.value?.toString(), '{this is not an event');
    assert.match(dlq[0]!.headers['wharf-reason']!.toString(), /not JSON/);
    assert.equal(dlq[0]!.headers['wharf-source']!.toString(), 'lake');
    // Committed: every message consumed so far (6), and only after they were applied.
    await until('offsets committed', async () => broker.committed('wharf-lake', 's3-events', 0) === 6n, 10_000);
    const status = await runCli(['--master', master.address, 'status']);
    assert.match(status.stdout, /stream:\s+active \(s3-events as group wharf-lake\), lag 0/);
    const show = await runCli(['--master', master.address, '--json', 'source', 'stream', 'show', 'lake']);
    assert.equal((JSON.parse(show.stdout) as { dead_letter_topic: string }).dead_letter_topic, 's3-events.dlq');
  });

  it('a master restart resumes after the committed offset; the ledger drops a replayed old event', async () => {
    const dataDir = join(tmp.path, 'meta');
    const replay = aws(awsRecord('put', 'replayed.txt', 3));
    await send(replay);
    await until('applied', () => exists('replayed.txt'), 15_000);
    await send(aws(awsRecord('delete', 'replayed.txt')));
    await until('deleted', async () => !(await exists('replayed.txt')), 15_000);
    admin.close();
    await master.stop(1_000);
    await send(aws(awsRecord('put', 'while-down.txt', 4)), replay); // the replay: an older sequencer than its delete
    master = await Master.start({ dataDir, listen: '127.0.0.1:0', sync: { snapshotDeadlineMs: 1_500 } });
    admin = new AdminClient(master.address, 10_000);
    await until('the event sent while it was down', () => exists('while-down.txt'), 20_000);
    await until('both consumed', async () => broker.committed('wharf-lake', 's3-events', 0) === 10n, 10_000);
    assert.equal(await exists('replayed.txt'), false, 'the replayed put is older than the delete');
    assert.equal(Number((await admin.showSourceStream('lake')).dropped), 1);
  });

  it('resync over a stream: begin moves the consumer to a new topic and group; snapshot complete after the deadline; end removes what the new feed did not name', async () => {
    await admin.beginResync('lake', { topic: 's3-events-v2', group: 'wharf-lake-v2' });
    const st = await admin.showSourceStream('lake');
    assert.deepEqual([st.topics, st.group], [['s3-events-v2'], 'wharf-lake-v2']);
    await rejectsErrno(admin.beginResync('lake', { topic: 'x', group: '' }), 'EINVAL', 'a topic without a group');
    // The new feed: every object the store has now (while-down.txt is gone from it).
    await producer.send({ topic: 's3-events-v2', messages: [
      { value: aws(awsRecord('put', 'raw/a b+c.txt', 11), awsRecord('put', 'ceph/x.dat', 7)) },
    ] });
    await until('the new feed applied', async () => Number((await admin.showSourceStream('lake')).applied) >= 2, 15_000);
    await until('snapshot complete once the feed is quiet for the deadline', async () => (await admin.showSource('lake')).sync_mode === 'snapshot complete', 10_000);
    const end = await admin.endResync('lake', true);
    assert.ok(Number(end.removed) >= 1);
    assert.equal(await exists('while-down.txt'), false, 'not in the new feed: removed at end');
    assert.equal(await exists('raw/a b+c.txt'), true);
    assert.equal(await exists('ceph/x.dat'), true);
  });

  it('clear stops consuming; the namespace stays', async () => {
    await admin.clearSourceStream('lake');
    assert.equal((await admin.showSourceStream('lake')).state, 'inactive');
    await send(aws(awsRecord('put', 'after-clear.txt', 1)));
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(await exists('after-clear.txt'), false);
    assert.equal(await exists('raw/a b+c.txt'), true);
  });
});

describe('kill -9 of the master mid-stream', () => {
  it('after a restart, the namespace equals the store: nothing lost, nothing applied twice in effect', async () => {
    const tmp = tempDir('wharf-events-crash-');
    const broker = await startKafkaBroker();
    const store = join(tmp.path, 'store');
    mkdirSync(join(store, 'd'), { recursive: true });
    const kafka = new Kafka({ clientId: 'crash-producer', brokers: [broker.address], logLevel: logLevel.NOTHING });
    const producer = kafka.producer({ allowAutoTopicCreation: true });
    await producer.connect();
    const dataDir = join(tmp.path, 'meta');
    let m = await startMasterProcess(dataDir);
    try {
      const cli = async (...args: string[]) => {
        const r = await runCli(['--master', m.address, ...args], {}, 60_000);
        assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
        return r.stdout;
      };
      await cli('source', 'import', 'lake', '--uri', `file://${store}`, '--at', '/lake', '--wait');
      await cli('source', 'stream', 'set', 'lake', '--brokers', broker.address, '--topic', 'crash-events', '--group', 'wharf-crash', '--bucket', 'lake');
      // 3,000 objects created, then every third one deleted and every fifth rewritten, in the store and in events.
      const N = 3_000;
      const sizes = new Map<string, number>();
      const messages: string[] = [];
      for (let i = 0; i < N; i++) {
        const key = `d/f${i}.bin`;
        writeFileSync(join(store, key), Buffer.alloc(i % 97));
        sizes.set(key, i % 97);
        messages.push(aws(awsRecord('put', key, i % 97)));
      }
      for (let i = 0; i < N; i++) {
        const key = `d/f${i}.bin`;
        if (i % 3 === 0) { rmSync(join(store, key)); sizes.delete(key); messages.push(aws(awsRecord('delete', key))); }
        else if (i % 5 === 0) { writeFileSync(join(store, key), Buffer.alloc(200)); sizes.set(key, 200); messages.push(aws(awsRecord('put', key, 200))); }
      }
      for (let i = 0; i < messages.length; i += 500) await producer.send({ topic: 'crash-events', messages: messages.slice(i, i + 500).map((value) => ({ value })) });
      // Kill it while it consumes: once some, not all, offsets are committed.
      await until('part of the stream consumed', async () => (broker.committed('wharf-crash', 'crash-events', 0) ?? 0n) > 200n, 30_000);
      m.child.kill('SIGKILL');
      await m.exited;
      const at = broker.committed('wharf-crash', 'crash-events', 0)!;
      assert.ok(at < BigInt(messages.length), `killed before the end (${at} of ${messages.length})`);
      m = await startMasterProcess(dataDir);
      await until('everything consumed', async () => broker.committed('wharf-crash', 'crash-events', 0) === BigInt(messages.length), 60_000);
      const ls = JSON.parse(await cli('--json', 'fs', 'ls', '-l', '/lake/d')) as { name: string; attr?: { size: string }; size?: string }[];
      const seen = new Map(ls.map((e) => [`d/${e.name}`, Number(e.attr?.size ?? e.size)]));
      assert.equal(seen.size, sizes.size, 'as many entries as objects');
      for (const [k, size] of sizes) assert.equal(seen.get(k), size, k);
    } finally {
      m.child.kill('SIGKILL');
      await m.exited;
      await producer.disconnect();
      await broker.stop();
      tmp.remove();
    }
  });
});
