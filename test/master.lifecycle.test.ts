// The master process: graceful stop on SIGTERM/SIGINT with calls in flight,
// one master per data directory, and the metrics/health endpoint.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ROOT_INO, WharfError } from '../src/common/index.js';
import { fsckDataDir, readdirAll } from '../src/meta/index.js';
import { GrpcMetaClient } from '../src/rpc/index.js';
import { startMasterProcess } from './helpers/processes.js';
import { tempDir } from './helpers/tmp.js';

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} with calls in flight: acknowledged calls stay, the process exits 0, LevelDB is closed`, async () => {
    const dir = tempDir();
    const dataDir = `${dir.path}/meta`;
    try {
      const m = await startMasterProcess(dataDir, ['--grace', '5000']);
      const c = new GrpcMetaClient(m.address, { deadlineMs: 10_000 });
      const d = await c.mkdir(ROOT_INO, 'd', { mode: 0o755, uid: 0, gid: 0 });
      const acked: string[] = [];
      let refused = 0;
      let signalled = false;
      const calls = Array.from({ length: 1500 }, async (_, i) => {
        try {
          await c.create(d.ino, `f${i}`, { mode: 0o644, uid: 0, gid: 0 });
          acked.push(`f${i}`);
          if (acked.length === 100 && !signalled) {
            signalled = true;
            m.child.kill(signal);
          }
        } catch (e) {
          assert.ok(e instanceof WharfError && ['ENOTCONN', 'EINTR', 'EIO'].includes(e.errno), `unexpected failure ${String(e)}`);
          refused++;
        }
      });
      await Promise.all(calls);
      assert.equal(await m.exited, 0, `exit status; stderr: ${m.stderr()}`);
      await c.close();
      assert.ok(acked.length >= 100 && acked.length + refused === 1500);
      // LevelDB was closed cleanly: fsck can open it at once and finds nothing.
      assert.deepEqual((await fsckDataDir(dataDir)).findings, []);
      const again = await startMasterProcess(dataDir);
      const c2 = new GrpcMetaClient(again.address);
      const names = new Set<string>();
      for await (const e of readdirAll(c2, d.ino)) names.add(e.name);
      for (const a of acked) assert.ok(names.has(a), `${a} was acknowledged before the stop`);
      await c2.close();
      again.child.kill('SIGTERM');
      await again.exited;
    } finally {
      dir.remove();
    }
  });
}

test('a second master on the same data directory is refused with a clear message', async () => {
  const dir = tempDir();
  try {
    const first = await startMasterProcess(`${dir.path}/meta`);
    await assert.rejects(startMasterProcess(`${dir.path}/meta`), /in use by another process/);
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);
  } finally {
    dir.remove();
  }
});

test('metrics and health over HTTP', async () => {
  const dir = tempDir();
  try {
    const m = await startMasterProcess(`${dir.path}/meta`, ['--metrics', '127.0.0.1:0']);
    const c = new GrpcMetaClient(m.address);
    await c.getattr(ROOT_INO);
    await c.lookup(ROOT_INO, 'nothing').catch(() => undefined);
    await c.close();
    const metricsUrl = m.metricsUrl;
    assert.ok(metricsUrl, 'the listening line names the metrics address');
    const health = await fetch(metricsUrl.replace('/metrics', '/healthz'));
    assert.equal(health.status, 200);
    const text = await (await fetch(metricsUrl)).text();
    assert.match(text, /wharf_rpc_calls_total\{method="GetAttr",errno="ok"\} 1/);
    assert.match(text, /wharf_rpc_calls_total\{method="Lookup",errno="ENOENT"\} 1/);
    assert.match(text, /wharf_write_queue_depth 0/);
    m.child.kill('SIGTERM');
    assert.equal(await m.exited, 0);
  } finally {
    dir.remove();
  }
});
