// Store events applied per second from a topic, beside the raw consume rate of the
// same topic with kafkajs in the same run (a consumer group that does nothing with
// the messages), and the latency from produce to visible in the namespace (a
// getattr over gRPC, polled every millisecond) for single events. Goals: ≥ 20,000
// events/s; p99 produce → visible ≤ 200 ms. The broker is the tests' Kafka-protocol
// fixture (test/helpers/kafkaBroker.ts) in this process: both consumers read the
// same bytes from it. The master runs in this process, on a local-directory source.
//
// Settings: BENCH_EVENTS (50,000) events in BENCH_EVENTS_PER_MESSAGE (1) records per
// message; BENCH_LATENCY_SAMPLES (200).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Kafka, logLevel } from 'kafkajs';
import { Master } from '../src/master/index.js';
import { AdminClient, GrpcMetaClient } from '../src/rpc/index.js';
import { startKafkaBroker } from '../test/helpers/kafkaBroker.js';
import { envNumber, percentile, withTempDir } from './harness.js';
import { fmtCount, fmtMs, fmtPct, printNotes, printTable, verdict, writeResults } from './report.js';

const EVENTS = envNumber('BENCH_EVENTS', 50_000);
const PER_MESSAGE = envNumber('BENCH_EVENTS_PER_MESSAGE', 1);
const SAMPLES = envNumber('BENCH_LATENCY_SAMPLES', 200);
const RATE_GOAL = 20_000;
const P99_GOAL_MS = 200;

let seq = 0x5000_0000; // one length throughout: S3 compares sequencers right-padded
function event(key: string, size: number): object {
  return { eventName: 'ObjectCreated:Put', eventTime: new Date().toISOString(), s3: { bucket: { name: 'lake' }, object: { key, size, eTag: `e${size}`, sequencer: (seq++).toString(16).toUpperCase() } } };
}

async function main(): Promise<void> {
  await withTempDir('events', async (tmp) => {
    const broker = await startKafkaBroker({ maxBytesPerPartition: 512 * 1024 * 1024 });
    const kafka = new Kafka({ clientId: 'bench', brokers: [broker.address], logLevel: logLevel.NOTHING });
    const producer = kafka.producer({ allowAutoTopicCreation: true });
    await producer.connect();
    mkdirSync(join(tmp, 'store'));
    const master = await Master.start({ dataDir: join(tmp, 'meta'), listen: '127.0.0.1:0' });
    const admin = new AdminClient(master.address, 60_000);
    const client = new GrpcMetaClient(master.address);
    try {
      const { job } = await master.sync.importSource({ name: 'lake', uri: `file://${join(tmp, 'store')}`, at: '/lake' });
      await master.sync.jobs.wait(job.id);
      // The topic: EVENTS puts over 100 directories.
      const messages: { value: string }[] = [];
      for (let i = 0; i < EVENTS; i += PER_MESSAGE) {
        const records = [];
        for (let j = i; j < Math.min(EVENTS, i + PER_MESSAGE); j++) records.push(event(`d${j % 100}/f${j}.bin`, j % 4096));
        messages.push({ value: JSON.stringify({ Records: records }) });
      }
      for (let i = 0; i < messages.length; i += 2_000) await producer.send({ topic: 'bulk', messages: messages.slice(i, i + 2_000) });
      process.stderr.write(`  ${EVENTS} events in ${messages.length} messages produced\n`);

      // Raw: a kafkajs consumer group that only counts.
      const raw = kafka.consumer({ groupId: 'raw', sessionTimeout: 10_000, heartbeatInterval: 1_000 });
      await raw.connect();
      await raw.subscribe({ topics: ['bulk'], fromBeginning: true });
      let rawCount = 0;
      let rawStart = 0;
      const rawDone = new Promise<number>((resolve) => {
        void raw.run({
          eachBatch: async ({ batch }) => {
            if (rawStart === 0) rawStart = performance.now();
            rawCount += batch.messages.length;
            if (rawCount >= messages.length) resolve(performance.now());
          },
        });
      });
      const rawEnd = await rawDone;
      await raw.disconnect();
      const rawRate = (messages.length * PER_MESSAGE) / ((rawEnd - rawStart) / 1000);
      process.stderr.write(`  raw consume: ${fmtCount(rawRate)} events/s\n`);

      // Wharf: the source's stream applies every event into the namespace.
      await admin.setSourceStream('lake', { brokers: [broker.address], topics: ['bulk'], group: 'wharf', bucket: 'lake' });
      let t0 = 0;
      for (;;) {
        const st = await admin.showSourceStream('lake');
        if (t0 === 0 && Number(st.applied) > 0) t0 = performance.now();
        if (Number(st.applied) >= EVENTS) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const wharfSeconds = (performance.now() - t0) / 1000;
      const wharfRate = EVENTS / wharfSeconds;
      process.stderr.write(`  wharf apply: ${fmtCount(wharfRate)} events/s\n`);

      // Latency: one event at a time, produce → visible to a getattr over gRPC.
      await admin.setSourceStream('lake', { brokers: [broker.address], topics: ['single'], group: 'wharf-single', bucket: 'lake', from_latest: false });
      // The objects exist in the store, as they would: the first access of the new directory lists it.
      mkdirSync(join(tmp, 'store', 'lat'));
      writeFileSync(join(tmp, 'store', 'lat', 'warm.bin'), Buffer.alloc(1));
      await producer.send({ topic: 'single', messages: [{ value: JSON.stringify({ Records: [event('lat/warm.bin', 1)] }) }] });
      const lake = await client.resolve('/lake');
      const find = async (name: string) => {
        const dir = await client.lookup(lake.ino, 'lat').catch(() => undefined);
        return dir ? client.lookup(dir.ino, name).then(() => true, () => false) : false;
      };
      while (!(await find('warm.bin'))) await new Promise((r) => setTimeout(r, 5));
      const latencies: number[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        const name = `l${i}.bin`;
        // Into the store just before its event (the directory was listed once already, at its first access).
        writeFileSync(join(tmp, 'store', 'lat', name), Buffer.alloc(i));
        const t = performance.now();
        await producer.send({ topic: 'single', messages: [{ value: JSON.stringify({ Records: [event(`lat/${name}`, i)] }) }] });
        while (!(await find(name))) await new Promise((r) => setTimeout(r, 1));
        latencies.push(performance.now() - t);
      }
      latencies.sort((a, b) => a - b);
      const p50 = percentile(latencies, 0.5);
      const p99 = percentile(latencies, 0.99);

      printTable(`store events from Kafka into the namespace (${EVENTS} events, ${PER_MESSAGE} per message; broker: the test fixture in this process)`,
        ['path', 'events/s', 'of raw consume'],
        [['kafkajs consumer group, counting only', fmtCount(rawRate), '100%'], ['Wharf: decode, order, apply (one LevelDB transaction per 2,000 events), commit', fmtCount(wharfRate), fmtPct(wharfRate / rawRate)]]);
      printTable(`produce → visible to getattr over gRPC, one event at a time (${SAMPLES} samples)`, ['p50', 'p99', 'max'], [[fmtMs(p50), fmtMs(p99), fmtMs(latencies[latencies.length - 1]!)]]);
      printNotes([
        `goal ≥ ${fmtCount(RATE_GOAL)} events/s: ${fmtCount(wharfRate)} — ${verdict(wharfRate >= RATE_GOAL)}`,
        `goal p99 produce → visible ≤ ${P99_GOAL_MS} ms: ${fmtMs(p99)} — ${verdict(p99 <= P99_GOAL_MS)} (visible to a getattr through the master; a mount adds its --attr-timeout for names it has cached)`,
      ]);
      await writeResults('events', {
        settings: { events: EVENTS, perMessage: PER_MESSAGE, samples: SAMPLES },
        results: { rawEventsPerSec: rawRate, wharfEventsPerSec: wharfRate, latencyMs: { p50, p99, max: latencies[latencies.length - 1] } },
        goals: { rate: { goal: RATE_GOAL, met: wharfRate >= RATE_GOAL }, p99: { goalMs: P99_GOAL_MS, met: p99 <= P99_GOAL_MS } },
      });
    } finally {
      client.close();
      admin.close();
      await producer.disconnect();
      await master.stop(2_000);
      await broker.stop();
    }
  });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
