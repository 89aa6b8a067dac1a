// Failure behaviour: FaultyStore's injected faults, and S3Store against a store
// that dies (s3rver SIGKILLed), one that never answers (a silent TCP listener)
// and one that refuses our credentials — always a WharfError in bounded time,
// never a hang, never a secret in a message or a log line.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { isWharfError } from '../src/common/index.js';
import { FaultyStore, LocalStore, S3Store, type UnderStore } from '../src/ufs/index.js';
import { startS3rver, type S3rver } from './helpers/s3rver.js';
import { tempDir } from './helpers/tmp.js';

async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Awaits `p`, expecting a WharfError with one of `errnos`, within `withinMs`. */
async function failsWith(p: Promise<unknown>, errnos: string[], withinMs = 10_000): Promise<Error> {
  const t0 = performance.now();
  let err: unknown;
  try { await p; } catch (e) { err = e; }
  const ms = performance.now() - t0;
  assert.ok(isWharfError(err), `expected a WharfError, got ${String(err)}`);
  assert.ok(errnos.includes(err.errno), `errno ${err.errno} (${err.message}), expected ${errnos.join('|')}`);
  assert.ok(ms < withinMs, `took ${Math.round(ms)} ms`);
  return err;
}

function captureLog() {
  let text = '';
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { text += chunk.toString(); cb(); } });
  return { log: pino({ level: 'debug' }, sink), text: () => text };
}

describe('FaultyStore', () => {
  let dir: { path: string; remove: () => void };
  let inner: UnderStore;
  before(async () => {
    dir = tempDir('wharf-ufs-faulty-');
    inner = await LocalStore.open(dir.path);
    await inner.put('f/small', Buffer.from('hello'));
    await inner.put('f/big', randomBytes(100_000));
    await inner.put('secret/x', Buffer.from('s'));
  });
  after(async () => { await inner.close(); dir.remove(); });

  it('fails an operation after N calls, a set number of times', async () => {
    const s = new FaultyStore(inner, { rules: [{ ops: ['get'], after: 2, times: 1, errno: 'EIO' }] });
    await readAll(await s.get('f/small'));
    await readAll(await s.get('f/small'));
    await failsWith(s.get('f/small'), ['EIO']);
    assert.equal((await readAll(await s.get('f/small'))).toString(), 'hello');
    assert.ok(await s.head('f/small'));
    assert.equal(s.calls.get, 4);
    assert.equal(s.calls.head, 1);
    assert.equal(s.faults, 1);
  });

  it('filters by key prefix, with any errno, and rules can be removed', async () => {
    const s = new FaultyStore(inner);
    const remove = s.inject({ keyPrefix: 'secret/', errno: 'EACCES' });
    await failsWith(s.head('secret/x'), ['EACCES']);
    await failsWith(s.list('secret/'), ['EACCES']);
    assert.ok(await s.head('f/small'));
    remove();
    assert.ok(await s.head('secret/x'));
  });

  it('fires with a seeded probability: the same seed replays the same faults', async () => {
    const pattern = async (seed: number) => {
      const s = new FaultyStore(inner, { seed, rules: [{ ops: ['head'], probability: 0.3 }] });
      const out: boolean[] = [];
      for (let i = 0; i < 200; i++) out.push(await s.head('f/small').then(() => false, () => true));
      return out;
    };
    const a = await pattern(42);
    assert.deepEqual(await pattern(42), a);
    assert.notDeepEqual(await pattern(7), a);
    const n = a.filter(Boolean).length;
    assert.ok(n > 30 && n < 90, `${n} of 200 failed`);
  });

  it('adds latency, which an abort cuts short', async () => {
    const s = new FaultyStore(inner, { latencyMs: 60 });
    const t0 = performance.now();
    await s.head('f/small');
    assert.ok(performance.now() - t0 >= 55);
    s.setLatency(5_000);
    await failsWith(s.head('f/small', { signal: AbortSignal.timeout(50) }), ['EINTR'], 1_000);
  });

  it('truncates GET bodies: ending early or failing mid-way', async () => {
    const s = new FaultyStore(inner, { truncate: [{ afterBytes: 1000, mode: 'end', times: 1 }] });
    assert.equal((await readAll(await s.get('f/big'))).length, 1000);
    assert.equal((await readAll(await s.get('f/big'))).length, 100_000);
    s.truncateGets({ keyPrefix: 'f/big', afterBytes: 70_000, mode: 'error' });
    let got = 0;
    const stream = await s.get('f/big');
    await failsWith((async () => { for await (const c of stream) got += (c as Buffer).length; })(), ['EIO']);
    assert.equal(got, 70_000);
  });

  it('goes away with EIO, failing bodies being read, and comes back', async () => {
    const s = new FaultyStore(inner);
    const reading = await s.get('f/big');
    s.goAway('eio');
    await failsWith(readAll(reading), ['EIO']);
    await failsWith(s.head('f/small'), ['EIO']);
    await failsWith(s.list(''), ['EIO']);
    await failsWith(s.put('f/new', Buffer.from('x')), ['EIO']);
    await failsWith(s.delete('f/small'), ['EIO']);
    await failsWith(s.copy('f/small', 'f/c'), ['EIO']);
    s.comeBack();
    assert.equal((await readAll(await s.get('f/small'))).toString(), 'hello');
  });

  it('goes away by hanging: ETIMEDOUT after the timeout, EINTR on abort, EIO on close', async () => {
    const s = new FaultyStore(inner, { hangTimeoutMs: 150 });
    s.goAway('hang');
    const t0 = performance.now();
    await failsWith(s.head('f/small'), ['ETIMEDOUT'], 2_000);
    assert.ok(performance.now() - t0 >= 140);
    await failsWith(s.get('f/small', undefined, { signal: AbortSignal.timeout(20) }), ['EINTR'], 140);
    const slow = new FaultyStore(inner, { hangTimeoutMs: 60_000, rules: [{ ops: ['put'], hang: true }] });
    const pending = slow.put('f/hung', Buffer.from('x'));
    await new Promise((r) => setTimeout(r, 20));
    await slow.close();
    await failsWith(pending, ['EIO'], 1_000);
    inner = await LocalStore.open(dir.path); // close() closed the wrapped store too
  });
});

describe('S3Store when the store fails', () => {
  let server: S3rver;
  before(async () => { server = await startS3rver(); });
  after(async () => { await server.stop(); });

  it('fails with EIO within a bounded time when s3rver is killed, and recovers when it is back', async () => {
    const store = new S3Store(server.storeOptions({ maxAttempts: 2, connectionTimeoutMs: 1_000 }));
    try {
      await store.put('down/x', Buffer.from('x'));
      await server.kill();
      for (const op of [
        () => store.head('down/x'), () => store.get('down/x'), () => store.put('down/y', Buffer.from('y')),
        () => store.list('down/'), () => store.delete('down/x'), () => store.copy('down/x', 'down/z'),
      ]) await failsWith(op(), ['EIO', 'ETIMEDOUT'], 5_000);
      await server.restart();
      assert.equal((await readAll(await store.get('down/x'))).toString(), 'x');
    } finally {
      await store.close();
    }
  });

  it('fails a body being read with EIO when the store dies mid-stream', async () => {
    const store = new S3Store(server.storeOptions({ maxAttempts: 2, multipartThreshold: 64 * 1024 * 1024 }));
    try {
      await store.put('mid/big', randomBytes(48 * 1024 * 1024));
      const body = await store.get('mid/big');
      let got = 0;
      let killed = false;
      await failsWith((async () => {
        for await (const c of body) {
          got += (c as Buffer).length;
          if (!killed) { killed = true; await server.kill(); }
        }
      })(), ['EIO', 'ETIMEDOUT'], 10_000);
      assert.ok(got < 48 * 1024 * 1024, `read ${got} bytes`);
    } finally {
      await store.close();
      await server.restart();
    }
  });

  it('fails with ETIMEDOUT against a store that accepts connections and never answers', async () => {
    const sockets = new Set<Socket>();
    const blackHole = createServer((sock) => { sockets.add(sock); sock.on('error', () => undefined); });
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const port = (blackHole.address() as { port: number }).port;
    const store = new S3Store({
      ...server.storeOptions({ maxAttempts: 2, requestTimeoutMs: 400, socketTimeoutMs: 300, connectionTimeoutMs: 500 }),
      endpoint: `http://127.0.0.1:${port}`,
    });
    try {
      await failsWith(store.head('x'), ['ETIMEDOUT'], 5_000);
      await failsWith(store.put('x', Buffer.from('x')), ['ETIMEDOUT'], 5_000);
    } finally {
      await store.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => blackHole.close(() => resolve()));
    }
  });

  /**
   * An HTTP proxy in front of s3rver that counts what the client does on the wire:
   * requests, TCP connections, the most requests in flight at once; and can answer
   * the next N requests 503 SlowDown (S3's "retry later").
   */
  async function countingProxy(target: string) {
    const to = new URL(target);
    const stats = { requests: 0, connections: 0, inFlight: 0, maxInFlight: 0, failNext: 0 };
    const proxy = createHttpServer((req, res) => {
      stats.requests++;
      if (stats.failNext > 0) {
        stats.failNext--;
        req.resume();
        res.writeHead(503, { 'content-type': 'application/xml' });
        res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
        return;
      }
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      const up = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
        ur.on('end', () => { stats.inFlight--; });
      });
      up.on('error', () => { stats.inFlight--; res.destroy(); });
      req.pipe(up);
    });
    proxy.on('connection', () => { stats.connections++; });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
    const close = () => new Promise<void>((resolve) => { proxy.closeAllConnections(); proxy.close(() => resolve()); });
    return { stats, endpoint, close };
  }

  it('retries a store that says "slow down" (503) with backoff, and gives up after maxAttempts with EIO', async () => {
    const p = await countingProxy(server.endpoint);
    const store = new S3Store({ ...server.storeOptions({ maxAttempts: 4 }), endpoint: p.endpoint });
    try {
      await store.put('retry/x', Buffer.from('x'));
      p.stats.failNext = 2;
      const before = p.stats.requests;
      const t0 = Date.now();
      assert.equal((await store.head('retry/x'))?.size, 1n, 'answered on the third attempt');
      assert.equal(p.stats.requests - before, 3, 'two refused, one answered');
      assert.ok(Date.now() - t0 >= 20, 'the attempts were spaced (backoff)');
      p.stats.failNext = 100;
      const e = await failsWith(store.list('retry/'), ['EIO']);
      assert.match(e.message, /SlowDown|HTTP 503/);
      assert.equal(p.stats.failNext, 100 - 4, 'exactly maxAttempts requests, then the error');
    } finally {
      p.stats.failNext = 0;
      await store.close();
      await p.close();
    }
  });

  it('keeps connections alive across requests, and never has more requests in flight than maxSockets', async () => {
    const p = await countingProxy(server.endpoint);
    const store = new S3Store({ ...server.storeOptions({ maxSockets: 4 }), endpoint: p.endpoint });
    try {
      await store.put('conc/x', Buffer.from('x'));
      const conns = p.stats.connections;
      for (let i = 0; i < 20; i++) await store.head('conc/x');
      assert.ok(p.stats.connections - conns <= 1, `20 sequential requests opened ${p.stats.connections - conns} connections`);
      p.stats.maxInFlight = 0;
      const heads = await Promise.all(Array.from({ length: 40 }, () => store.head('conc/x')));
      assert.ok(heads.every((h) => h?.size === 1n));
      assert.ok(p.stats.maxInFlight <= 4, `${p.stats.maxInFlight} requests in flight at once with maxSockets 4`);
      assert.ok(p.stats.maxInFlight >= 2, 'requests did run in parallel');
      assert.ok(p.stats.connections <= 5, `${p.stats.connections} connections for maxSockets 4`);
    } finally {
      await store.close();
      await p.close();
    }
  });

  it('never puts a secret in an error message, a log line or describe()', async () => {
    const secret = 'wharf-SECRET-KEY-9f3b2c7d1e';
    const token = 'wharf-SESSION-TOKEN-5a6b7c';
    const cap = captureLog();
    const store = new S3Store({
      ...server.storeOptions({ maxAttempts: 2, connectionTimeoutMs: 1_000, log: cap.log }),
      // s3rver checks the key id but not SigV4 signatures: a wrong id is what it refuses.
      credentials: { accessKeyId: 'NOT-S3RVER', secretAccessKey: secret, sessionToken: token },
    });
    const messages: string[] = [];
    const collect = async (p: Promise<unknown>, errnos: string[]) => {
      const e = await failsWith(p, errnos);
      messages.push(e.message, String((e as Error & { cause?: Error }).cause?.message), e.stack ?? '');
    };
    try {
      await collect(store.head('sec/x').then((r) => { if (r === undefined) throw new Error('head succeeded with a wrong secret'); }), ['EACCES']);
      await collect(store.get('sec/x'), ['EACCES']);
      await collect(store.put('sec/x', Buffer.from('x')), ['EACCES']);
      await collect(store.list('sec/'), ['EACCES']);
      await server.kill();
      await collect(store.head('sec/x'), ['EIO', 'ETIMEDOUT']);
      await collect(store.put('sec/x', Buffer.from('x')), ['EIO', 'ETIMEDOUT']);
    } finally {
      await store.close();
      await server.restart();
    }
    assert.match(messages.join('\n'), /InvalidAccessKeyId/);
    assert.ok(cap.text().length > 0, 'failures were logged');
    for (const text of [...messages, cap.text(), store.describe()]) {
      assert.ok(!text.includes(secret), `secret leaked: ${text}`);
      assert.ok(!text.includes(token), `session token leaked: ${text}`);
    }
  });
});
