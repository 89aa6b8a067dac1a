// The in-memory Kafka test broker (test/helpers/kafkaBroker.ts) against the
// real kafkajs client: admin, producer and consumer groups (commits, resume,
// rebalance, fromBeginning), offsets, and the per-partition byte bound.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kafka, Partitioners, logLevel, type Admin, type Consumer, type ConsumerConfig, type KafkaMessage, type Producer } from 'kafkajs';
import { startKafkaBroker, type KafkaTestBroker } from './helpers/kafkaBroker.js';

/** Short group timings so joins and rebalances take well under a second. */
const GROUP_TIMINGS = { sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 6000, maxWaitTimeInMs: 100 } as const;

async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Received { topic: string; partition: number; message: KafkaMessage }

describe('in-memory Kafka test broker, driven by kafkajs', () => {
  let broker: KafkaTestBroker;
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  const clients: { disconnect(): Promise<void> }[] = [];

  /** A consumer in `groupId` on `topic` that collects what it receives, disconnected in `after`. */
  async function consume(groupId: string, topic: string, fromBeginning: boolean, extra: Partial<ConsumerConfig> = {}): Promise<{ consumer: Consumer; received: Received[]; assignments: number[][] }> {
    const consumer = kafka.consumer({ groupId, ...GROUP_TIMINGS, ...extra });
    clients.push(consumer);
    const received: Received[] = [];
    const assignments: number[][] = [];
    consumer.on(consumer.events.GROUP_JOIN, (e) => assignments.push([...(e.payload.memberAssignment[topic] ?? [])].sort()));
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning });
    await consumer.run({ eachMessage: async ({ topic: t, partition, message }) => void received.push({ topic: t, partition, message }) });
    return { consumer, received, assignments };
  }

  async function stopClient(client: { disconnect(): Promise<void> }): Promise<void> {
    await client.disconnect();
    clients.splice(clients.indexOf(client), 1);
  }

  before(async () => {
    broker = await startKafkaBroker();
    kafka = new Kafka({ clientId: 'broker-test', brokers: [broker.address], logLevel: logLevel.NOTHING, retry: { initialRetryTime: 50, retries: 8 } });
    admin = kafka.admin();
    producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    clients.push(admin, producer);
    await admin.connect();
    await producer.connect();
  });

  after(async () => {
    await Promise.allSettled(clients.map((c) => c.disconnect()));
    await broker.stop();
  });

  it('creates topics and describes them', async () => {
    assert.equal(await admin.createTopics({ topics: [{ topic: 'admin-topic', numPartitions: 3 }] }), true);
    assert.equal(await admin.createTopics({ topics: [{ topic: 'admin-topic', numPartitions: 3 }] }), false, 'already exists');
    const { topics } = await admin.fetchTopicMetadata({ topics: ['admin-topic'] });
    assert.equal(topics.length, 1);
    assert.equal(topics[0]?.name, 'admin-topic');
    assert.deepEqual(topics[0]?.partitions.map((p) => [p.partitionId, p.leader, p.replicas, p.isr]).sort(), [[0, 0, [0], [0]], [1, 0, [0], [0]], [2, 0, [0], [0]]]);
    assert.ok((await admin.listTopics()).includes('admin-topic'));
  });

  it('delivers keyed messages with headers to a group, commits, and a new member resumes after the commits', async () => {
    await admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 3 }] });
    const sent = Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, headers: { idx: String(i), kind: 'order' } }));
    await producer.send({ topic: 'orders', messages: sent });
    const stored = [0, 1, 2].map((p) => broker.records('orders', p));
    assert.equal(stored.flat().length, 30);
    assert.ok(stored.every((r) => r.length > 0), 'keys spread over all 3 partitions');
    assert.deepEqual(stored[0]?.map((r) => r.offset), stored[0]?.map((_, i) => BigInt(i)), 'offsets are dense from 0');
    const first = stored.flat().find((r) => r.key?.toString() === 'k7');
    assert.equal(first?.value?.toString(), 'v7');
    assert.equal(first?.headers.idx?.toString(), '7');

    const a = await consume('orders-group', 'orders', true);
    await until('30 messages consumed', () => a.received.length >= 30);
    assert.equal(a.received.length, 30);
    for (const { message } of a.received) {
      const i = Number(message.key?.toString().slice(1));
      assert.equal(message.value?.toString(), `v${i}`);
      assert.equal(message.headers?.idx?.toString(), String(i));
      assert.equal(message.headers?.kind?.toString(), 'order');
    }
    const committed = (): bigint[] => [0, 1, 2].map((p) => broker.committed('orders-group', 'orders', p) ?? -1n);
    await until('offsets committed', () => committed().every((c, p) => c === BigInt(stored[p]?.length ?? 0)));
    await stopClient(a.consumer);

    await producer.send({ topic: 'orders', messages: Array.from({ length: 6 }, (_, i) => ({ key: `new${i}`, value: `n${i}` })) });
    const b = await consume('orders-group', 'orders', true);
    await until('6 new messages consumed', () => b.received.length >= 6);
    await sleep(300); // anything redelivered would arrive by now
    assert.deepEqual(b.received.map((r) => r.message.key?.toString()).sort(), ['new0', 'new1', 'new2', 'new3', 'new4', 'new5']);
    await stopClient(b.consumer);
  });

  it('rebalances when a second member joins and splits the partitions between the two', async () => {
    await admin.createTopics({ topics: [{ topic: 'shared', numPartitions: 3 }] });
    const a = await consume('shared-group', 'shared', true);
    await until('first member owns all partitions', () => a.assignments.at(-1)?.length === 3);
    const b = await consume('shared-group', 'shared', true);
    const split = (): boolean => {
      const pa = a.assignments.at(-1) ?? [];
      const pb = b.assignments.at(-1) ?? [];
      return pa.length > 0 && pb.length > 0 && [...pa, ...pb].sort().join() === '0,1,2';
    };
    await until('partitions split between the two members', split);
    assert.ok(a.assignments.length >= 2, 'the first member rejoined');

    // Messages to every partition reach exactly the member that owns it
    // (fromBeginning, so they need not have resolved their start offsets yet).
    await producer.sendBatch({ topicMessages: [{ topic: 'shared', messages: [0, 1, 2].map((partition) => ({ partition, value: `p${partition}` })) }] });
    await until('3 messages consumed', () => a.received.length + b.received.length >= 3);
    await sleep(200);
    assert.deepEqual(a.received.map((r) => r.partition).sort(), a.assignments.at(-1));
    assert.deepEqual(b.received.map((r) => r.partition).sort(), b.assignments.at(-1));
    await Promise.all([stopClient(a.consumer), stopClient(b.consumer)]);
  });

  it('reads old messages fromBeginning, and ListOffsets reports the watermarks', async () => {
    await producer.send({ topic: 'history', messages: ['a', 'b', 'c', 'd', 'e'].map((value) => ({ value })) }); // auto-created
    assert.deepEqual(await admin.fetchTopicOffsets('history'), [{ partition: 0, offset: '5', high: '5', low: '0' }]);
    const c = await consume('history-group', 'history', true);
    await until('old messages consumed', () => c.received.length >= 5);
    assert.deepEqual(c.received.map((r) => [r.message.offset, r.message.value?.toString(), r.message.key]), [['0', 'a', null], ['1', 'b', null], ['2', 'c', null], ['3', 'd', null], ['4', 'e', null]]);
    await stopClient(c.consumer);
  });
});

describe('in-memory Kafka test broker, bounded partitions', () => {
  it('drops the oldest batches beyond maxBytesPerPartition and advances the log start offset', async () => {
    const broker = await startKafkaBroker({ maxBytesPerPartition: 1000, autoCreateTopics: false });
    const kafka = new Kafka({ clientId: 'bound-test', brokers: [broker.address], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    const admin = kafka.admin();
    try {
      broker.createTopic('bounded');
      await Promise.all([producer.connect(), admin.connect()]);
      await assert.rejects(producer.send({ topic: 'not-created', messages: [{ value: 'x' }] }), 'no auto-creation');
      for (let i = 0; i < 20; i++) await producer.send({ topic: 'bounded', messages: [{ value: Buffer.alloc(100, i) }] });
      const [offsets] = await admin.fetchTopicOffsets('bounded');
      const kept = broker.records('bounded');
      assert.equal(offsets?.high, '20');
      assert.ok(Number(offsets?.low) > 0 && kept.length < 20, `some batches dropped (low ${offsets?.low})`);
      assert.equal(kept[0]?.offset, BigInt(offsets?.low ?? -1));
      assert.equal(kept.at(-1)?.offset, 19n);
      assert.deepEqual(kept.at(-1)?.value, Buffer.alloc(100, 19));
    } finally {
      await Promise.allSettled([producer.disconnect(), admin.disconnect()]);
      await broker.stop();
    }
  });
});
