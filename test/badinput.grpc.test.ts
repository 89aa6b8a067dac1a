// Malformed and hostile requests at the wire level: each gets a precise status
// with the errno in trailing metadata, the master keeps serving, and nothing is
// half-applied.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, credentials, status, type ServiceError } from '@grpc/grpc-js';
import { ROOT_INO } from '../src/common/index.js';
import { ERRNO_METADATA_KEY, wharfProto } from '../src/rpc/index.js';
import { rejectsWith } from './conformance/metaClientSuite.js';
import { startTestMaster, type TestMaster } from './helpers/master.js';

interface Failure { code: status; errno: string | undefined; details: string }

describe('bad input over gRPC', () => {
  let m: TestMaster;
  let raw: Client;

  before(async () => {
    m = await startTestMaster();
    // A client with no send limit of its own, so the server's limits are what is tested.
    raw = new Client(m.master.address, credentials.createInsecure(), { 'grpc.max_send_message_length': 64 * 1024 * 1024 });
  });
  after(async () => {
    raw.close();
    await m.stop();
  });

  function rawCall(method: string, body: Buffer): Promise<Failure | 'ok'> {
    return new Promise((resolve) => {
      raw.makeUnaryRequest(`/wharf.v1.Namespace/${method}`, (b: Buffer) => b, (b: Buffer) => b, body, (err: ServiceError | null) => {
        if (!err) return resolve('ok');
        const e = err.metadata.get(ERRNO_METADATA_KEY)[0];
        resolve({ code: err.code, errno: typeof e === 'string' ? e : undefined, details: err.details });
      });
    });
  }

  function encode(type: 'LookupRequest' | 'InodeRequest' | 'ReadDirRequest' | 'MkdirRequest' | 'SetAttrRequest', value: object): Buffer {
    const def = wharfProto().wharf.v1[type];
    return def.serialize(value as never);
  }

  test('errno travels in trailing metadata beside a matching status', async () => {
    const f = await rawCall('Lookup', encode('LookupRequest', { parent: '1', name: 'missing' }));
    assert.deepEqual(f !== 'ok' && [f.code, f.errno], [status.NOT_FOUND, 'ENOENT']);
    await m.client.mkdir(ROOT_INO, 'full', { mode: 0o755, uid: 0, gid: 0 });
    await m.client.create((await m.client.lookup(ROOT_INO, 'full')).ino, 'x', { mode: 0o644, uid: 0, gid: 0 });
    const g = await rawCall('Rmdir', encode('LookupRequest', { parent: '1', name: 'full' }));
    assert.deepEqual(g !== 'ok' && [g.code, g.errno], [status.FAILED_PRECONDITION, 'ENOTEMPTY']);
  });

  test('bytes that are not a protobuf message', async () => {
    const f = await rawCall('Mkdir', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]));
    assert.notEqual(f, 'ok');
    assert.ok(f !== 'ok' && [status.INTERNAL, status.INVALID_ARGUMENT].includes(f.code), `status ${f !== 'ok' && f.code}`);
    // Still serving, and nothing was created.
    assert.equal((await m.client.getattr(ROOT_INO)).type, 'directory');
  });

  test('an oversized message is refused with RESOURCE_EXHAUSTED and changes nothing', async () => {
    const before = await m.client.getattr(ROOT_INO);
    const f = await rawCall('Mkdir', encode('MkdirRequest', { parent: '1', name: 'n'.repeat(5 * 1024 * 1024), mode: 0o755 }));
    assert.ok(f !== 'ok' && f.code === status.RESOURCE_EXHAUSTED, JSON.stringify(f));
    assert.deepEqual(await m.client.getattr(ROOT_INO), before);
    // Through the typed client the same failure comes back as E2BIG.
    await rejectsWith(m.client.mkdir(ROOT_INO, 'n'.repeat(5 * 1024 * 1024), { mode: 0o755, uid: 0, gid: 0 }), 'E2BIG');
  });

  test('inode 0 and an unknown inode', async () => {
    const zero = await rawCall('GetAttr', encode('InodeRequest', { ino: '0' }));
    assert.deepEqual(zero !== 'ok' && [zero.code, zero.errno], [status.INVALID_ARGUMENT, 'EINVAL']);
    const big = await rawCall('GetAttr', encode('InodeRequest', { ino: '18446744073709551615' }));
    assert.deepEqual(big !== 'ok' && [big.code, big.errno], [status.NOT_FOUND, 'ENOENT']);
  });

  test('a forged readdir cursor', async () => {
    const f = await rawCall('ReadDir', encode('ReadDirRequest', { ino: '1', cursor: Buffer.alloc(300, 0x61) }));
    assert.deepEqual(f !== 'ok' && f.errno, 'EINVAL');
  });

  test('a negative size and a mode with type bits', async () => {
    const d = await m.client.create(ROOT_INO, 'sized', { mode: 0o644, uid: 0, gid: 0 });
    const neg = await rawCall('SetAttr', encode('SetAttrRequest', { ino: d.ino.toString(), size: '-5' }));
    assert.deepEqual(neg !== 'ok' && neg.errno, 'EINVAL');
    const mode = await rawCall('SetAttr', encode('SetAttrRequest', { ino: d.ino.toString(), mode: 0o100644 }));
    assert.deepEqual(mode !== 'ok' && mode.errno, 'EINVAL');
    const after = await m.client.getattr(d.ino);
    assert.deepEqual([after.size, after.mode], [0n, 0o644]);
  });

  test('an unknown method', async () => {
    const f = await rawCall('DropEverything', Buffer.alloc(0));
    assert.ok(f !== 'ok' && f.code === status.UNIMPLEMENTED);
  });

  test('an unreachable master is ENOTCONN at once; a silent one is ETIMEDOUT at the deadline', async () => {
    const { GrpcMetaClient } = await import('../src/rpc/index.js');
    const nowhere = new GrpcMetaClient('127.0.0.1:1', { deadlineMs: 1_000 });
    await rejectsWith(nowhere.getattr(ROOT_INO), 'ENOTCONN');
    await rejectsWith(nowhere.waitForReady(300), 'ENOTCONN');
    await nowhere.close();
    // A peer that accepts the connection and never answers: the deadline must end the call.
    const { createServer } = await import('node:net');
    const sockets: import('node:net').Socket[] = [];
    const silent = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const port = (silent.address() as import('node:net').AddressInfo).port;
    const stuck = new GrpcMetaClient(`127.0.0.1:${port}`, { deadlineMs: 500 });
    const t0 = Date.now();
    await rejectsWith(stuck.getattr(ROOT_INO), 'ETIMEDOUT');
    assert.ok(Date.now() - t0 < 5_000);
    await stuck.close();
    for (const s of sockets) s.destroy();
    silent.close();
  });
});
