// The namespace's change stream: what the outbox costs the writes that fill it,
// how fast the relay publishes it beside a bare kafkajs producer sending the same
// messages, and how long a write in one cluster takes to be visible in another
// (write → publish → the other's feed marks the directory → its next lookup lists
// it from the store). Two masters in this process on one local-directory store;
// the broker is the tests' Kafka-protocol fixture, also in this process.
//
// Settings: BENCH_CHANGES (20,000) creates, BENCH_CHANGES_CONCURRENCY (32) in
// flight; BENCH_LATENCY_SAMPLES (100).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Kafka, logLevel } from 'kafkajs';
import { ROOT_INO, type Ino } from '../src/common/index.js';
import { Master } from '../src/master/index.js';
import { InodeTree } from '../src/meta/index.js';
import { GrpcMetaClient } from '../src/rpc/index.js';
import { startKafkaBroker, type KafkaTestBroker } from '../test/helpers/kafkaBroker.js';
import { envNumber, percentile, withTempDir } from './harness.js';
import { fmtCount, fmtMs, fmtPct, printNotes, printTable, writeResults } from './report.js';

const N = envNumber('BENCH_CHANGES', 20_000);
const CONCURRENCY = envNumber('BENCH_CHANGES_CONCURRENCY', 32);
const SAMPLES = envNumber('BENCH_LATENCY_SAMPLES', 100);
const INIT = { mode: 0o644, uid: 0, gid: 0 };

async function creates(client: GrpcMetaClient, dir: Ino, n: number): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    for (let i = next++; i < n; i = next++) await client.create(dir, `f${i}`, INIT);
  }));
  return n / ((performance.now() - t0) / 1000);
}

async function createRate(tmp: string, name: string, broker: KafkaTestBroker | undefined): Promise<{ rate: number; publishedRate?: number }> {
  const master = await Master.start({
    dataDir: join(tmp, name), listen: '127.0.0.1:0',
    ...(broker ? { changes: { cluster: 'bench', brokers: [broker.address], topic: `changes-${name}` } } : {}),
  });
  const client = new GrpcMetaClient(master.address);
  try {
    const dir = await client.mkdir(ROOT_INO, 'd', { mode: 0o755, uid: 0, gid: 0 });
    const t0 = performance.now();
    const rate = await creates(client, dir.ino, N);
    if (!broker) return { rate };
    // Published once the outbox is empty; the relay started with the first create.
    while ((master.changes.status().changes?.pending ?? 0) > 0) await new Promise((r) => setTimeout(r, 5));
    return { rate, publishedRate: (N + 1) / ((performance.now() - t0) / 1000) };
  } finally {
    client.close();
    await master.stop(2_000);
  }
}

async function main(): Promise<void> {
  await withTempDir('changes', async (tmp) => {
    const broker = await startKafkaBroker({ maxBytesPerPartition: 512 * 1024 * 1024, defaultPartitions: 3 });
    try {
      // 1. The outbox's cost to creates over gRPC, and the relay's rate.
      const off = await createRate(tmp, 'off', undefined);
      const on = await createRate(tmp, 'on', broker);
      process.stderr.write(`  creates/s: ${fmtCount(off.rate)} without, ${fmtCount(on.rate)} with the outbox; published ${fmtCount(on.publishedRate!)}/s\n`);
      // The same messages from a bare producer: what the broker and kafkajs allow.
      const sample = broker.records('changes-on', 0).slice(0, 1)[0]?.value ?? Buffer.alloc(300);
      const kafka = new Kafka({ clientId: 'bench', brokers: [broker.address], logLevel: logLevel.NOTHING });
      const producer = kafka.producer({ allowAutoTopicCreation: true, maxInFlightRequests: 1 });
      await producer.connect();
      const t0 = performance.now();
      for (let i = 0; i < N; i += 500) {
        await producer.send({ topic: 'raw', acks: -1, messages: Array.from({ length: Math.min(500, N - i) }, (_, j) => ({ key: `/d/f${i + j}`, value: sample, partition: (i + j) % 3 })) });
      }
      const rawRate = N / ((performance.now() - t0) / 1000);
      await producer.disconnect();
      // The relay on a backlog: N changes made with the outbox on and no relay (in process), then a master started on them.
      const backlog = await InodeTree.open(join(tmp, 'backlog'), { changeLog: true });
      const bd = await backlog.mkdir(ROOT_INO, 'd', { mode: 0o755, uid: 0, gid: 0 });
      for (let i = 0; i < N; i++) await backlog.create(bd.ino, `f${i}`, INIT);
      await backlog.close();
      const t1 = performance.now();
      const drainer = await Master.start({ dataDir: join(tmp, 'backlog'), listen: '127.0.0.1:0', changes: { cluster: 'bench', brokers: [broker.address], topic: 'backlog' } });
      while ((drainer.changes.status().changes?.pending ?? 1) > 0) await new Promise((r) => setTimeout(r, 5));
      const drainRate = (N + 1) / ((performance.now() - t1) / 1000);
      await drainer.stop(2_000);

      // 2. Write in one cluster → visible in the other.
      const store = join(tmp, 'store');
      mkdirSync(join(store, 'lat'), { recursive: true });
      const changes = (cluster: string) => ({ cluster, brokers: [broker.address], topic: 'shared', invalidateFrom: ['shared'] });
      const a = await Master.start({ dataDir: join(tmp, 'a'), listen: '127.0.0.1:0', changes: changes('a') });
      const b = await Master.start({ dataDir: join(tmp, 'b'), listen: '127.0.0.1:0', changes: changes('b') });
      const ca = new GrpcMetaClient(a.address);
      const cb = new GrpcMetaClient(b.address);
      const latencies: number[] = [];
      try {
        for (const m of [a, b]) await m.sync.jobs.wait((await m.sync.importSource({ name: 'lake', uri: `file://${store}`, at: '/lake' })).job.id);
        while (b.changes.status().invalidations?.state !== 'active') await new Promise((r) => setTimeout(r, 20));
        const latA = await ca.resolve('/lake/lat');
        const latB = await cb.resolve('/lake/lat');
        await cb.readdir(latB.ino); // listed once: from now on only an invalidation re-lists it
        for (let i = 0; i < SAMPLES; i++) {
          const name = `l${i}`;
          const t = performance.now();
          // What a mount does: the object uploaded, the name and its bytes committed.
          writeFileSync(join(store, 'lat', name), 'x');
          const f = await ca.create(latA.ino, name, INIT);
          await ca.commitWrite(f.ino, { size: 1n, etag: 'e', mtimeNs: BigInt(Date.now()) * 1_000_000n });
          while (!(await cb.lookup(latB.ino, name).then(() => true, () => false))) await new Promise((r) => setTimeout(r, 1));
          latencies.push(performance.now() - t);
        }
      } finally {
        ca.close();
        cb.close();
        await a.stop(2_000);
        await b.stop(2_000);
      }
      latencies.sort((x, y) => x - y);
      const p50 = percentile(latencies, 0.5);
      const p99 = percentile(latencies, 0.99);

      printTable(`creates over gRPC, ${CONCURRENCY} in flight (${N} files)`, ['master', 'creates/s', 'of without'],
        [['no change stream', fmtCount(off.rate), '100%'], ['outbox in each create\'s batch, relay publishing', fmtCount(on.rate), fmtPct(on.rate / off.rate)]]);
      printTable('publishing the change stream (3 partitions, acks from all replicas, one request in flight)', ['path', 'messages/s', 'of raw'],
        [['kafkajs producer, the same messages in batches of 500', fmtCount(rawRate), '100%'],
          ['Wharf relay on a backlog: outbox read → Kafka → outbox deleted (incl. the master\'s start)', fmtCount(drainRate), fmtPct(drainRate / rawRate)],
          ['Wharf relay while the creates run (bounded by them)', fmtCount(on.publishedRate!), fmtPct(on.publishedRate! / rawRate)]]);
      printTable(`write in cluster A → visible to a lookup in cluster B (${SAMPLES} samples)`, ['p50', 'p99', 'max'], [[fmtMs(p50), fmtMs(p99), fmtMs(latencies[latencies.length - 1]!)]]);
      printNotes([
        'B\'s lookup lists the invalidated directory from the store: the latency includes that listing (one small directory here)',
      ]);
      await writeResults('changes', {
        settings: { creates: N, concurrency: CONCURRENCY, samples: SAMPLES },
        results: { createsPerSecOff: off.rate, createsPerSecOn: on.rate, publishedPerSec: on.publishedRate, backlogPublishedPerSec: drainRate, rawProducePerSec: rawRate, latencyMs: { p50, p99, max: latencies[latencies.length - 1] } },
      });
    } finally {
      await broker.stop();
    }
  });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
