// A store wrapper that misbehaves on purpose, for tests of sync, cache and
// write-back: injected errors (by operation, after N calls, with a probability
// from a seeded RNG, so a failing run replays), added latency, truncated GET
// bodies, and a "gone" switch that fails every call like a store that went
// away — at once with EIO, or by hanging until a timeout (ETIMEDOUT).
// Everything it throws or emits is a WharfError, as from a real store.
import { Readable } from 'node:stream';
import { WharfError, type Errno } from '../common/index.js';
import { delay } from './streams.js';
import type { ByteRange, ListOptions, ListPage, ObjectInfo, PutOptions, PutResult, StoreOp, UnderStore } from './UnderStore.js';

export interface FaultRule {
  /** Operations it applies to (default: all). */
  ops?: StoreOp[];
  /** Only keys (for list: prefixes) starting with this. */
  keyPrefix?: string;
  /** Let this many matching calls succeed first. */
  after?: number;
  /** Fire at most this many times (default: no limit). */
  times?: number;
  /** Chance of firing per matching call, from the seeded RNG (default 1). */
  probability?: number;
  /** The error to throw (default EIO). */
  errno?: Errno;
  /** Hang instead of failing: ETIMEDOUT after hangTimeoutMs, EINTR on abort. */
  hang?: boolean;
}

export interface TruncateRule {
  keyPrefix?: string;
  /** Bytes delivered before the stream misbehaves. */
  afterBytes: number;
  /** 'end': the stream ends early, silently; 'error': it fails with EIO. */
  mode: 'end' | 'error';
  after?: number;
  times?: number;
  probability?: number;
}

export interface FaultyStoreOptions {
  /** RNG seed (default 1): the same seed and call sequence give the same faults. */
  seed?: number;
  /** Added to every call, plus a random 0..jitterMs. */
  latencyMs?: number;
  jitterMs?: number;
  /** How long a hanging call waits before ETIMEDOUT (default 30 s). */
  hangTimeoutMs?: number;
  rules?: FaultRule[];
  truncate?: TruncateRule[];
}

interface Armed<R> { rule: R; seen: number; fired: number }

export class FaultyStore implements UnderStore {
  /** Calls per operation, faulted or not. */
  readonly calls: Record<StoreOp, number> = { list: 0, head: 0, get: 0, put: 0, delete: 0, copy: 0 };
  /** Faults injected so far (errors, hangs, truncations, gone). */
  faults = 0;
  private rules: Armed<FaultRule>[] = [];
  private truncations: Armed<TruncateRule>[] = [];
  private gone: false | 'eio' | 'hang' = false;
  private latencyMs: number;
  private jitterMs: number;
  private readonly hangTimeoutMs: number;
  private readonly rng: () => number;
  private readonly streams = new Set<Readable>();
  private readonly hangs = new Set<(e: WharfError) => void>();

  get putsAreDurable(): boolean | undefined {
    return this.inner.putsAreDurable;
  }

  constructor(readonly inner: UnderStore, options: FaultyStoreOptions = {}) {
    this.rng = mulberry32(options.seed ?? 1);
    this.latencyMs = options.latencyMs ?? 0;
    this.jitterMs = options.jitterMs ?? 0;
    this.hangTimeoutMs = options.hangTimeoutMs ?? 30_000;
    for (const r of options.rules ?? []) this.inject(r);
    for (const t of options.truncate ?? []) this.truncateGets(t);
  }

  /** Adds a fault rule; returns a function that removes it. */
  inject(rule: FaultRule): () => void {
    const armed = { rule, seen: 0, fired: 0 };
    this.rules.push(armed);
    return () => { this.rules = this.rules.filter((r) => r !== armed); };
  }

  /** Makes matching GET bodies end early or fail mid-way; returns a remover. */
  truncateGets(rule: TruncateRule): () => void {
    const armed = { rule, seen: 0, fired: 0 };
    this.truncations.push(armed);
    return () => { this.truncations = this.truncations.filter((r) => r !== armed); };
  }

  setLatency(latencyMs: number, jitterMs = 0): void {
    this.latencyMs = latencyMs;
    this.jitterMs = jitterMs;
  }

  /** Removes every rule and truncation, and brings the store back. */
  clear(): void {
    this.rules = [];
    this.truncations = [];
    this.gone = false;
  }

  /**
   * The store goes away: every call fails with EIO ('eio') or hangs until
   * ETIMEDOUT ('hang'), and GET bodies being read fail the same way.
   */
  goAway(mode: 'eio' | 'hang' = 'eio'): void {
    this.gone = mode;
    // Bodies being read fail now ('eio'), or stall before their next chunk ('hang', in relay).
    if (mode === 'eio') for (const s of this.streams) s.destroy(goneError());
  }

  comeBack(): void {
    this.gone = false;
  }

  describe(): string {
    return `faulty+${this.inner.describe()}`;
  }

  async close(): Promise<void> {
    const err = new WharfError('EIO', 'store closed');
    for (const release of this.hangs) release(err);
    for (const s of this.streams) s.destroy(err);
    await this.inner.close();
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListPage> {
    await this.before('list', prefix, opts.signal);
    return this.inner.list(prefix, opts);
  }

  async head(key: string, opts: { signal?: AbortSignal } = {}): Promise<ObjectInfo | undefined> {
    await this.before('head', key, opts.signal);
    return this.inner.head(key, opts);
  }

  async get(key: string, range?: ByteRange, opts: { signal?: AbortSignal } = {}): Promise<Readable> {
    await this.before('get', key, opts.signal);
    const body = await this.inner.get(key, range, opts);
    const t = this.pick(this.truncations, (r) => key.startsWith(r.keyPrefix ?? ''));
    const out = Readable.from(this.relay(body, t), { objectMode: false });
    this.streams.add(out);
    out.once('close', () => this.streams.delete(out));
    return out;
  }

  async put(key: string, body: Readable | Buffer, opts: PutOptions = {}): Promise<PutResult> {
    await this.before('put', key, opts.signal);
    return this.inner.put(key, body, opts);
  }

  async delete(key: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.before('delete', key, opts.signal);
    return this.inner.delete(key, opts);
  }

  async copy(srcKey: string, dstKey: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.before('copy', srcKey, opts.signal);
    return this.inner.copy(srcKey, dstKey, opts);
  }

  private async *relay(body: Readable, t: TruncateRule | undefined): AsyncGenerator<Buffer> {
    let sent = 0;
    try {
      for await (const raw of body) {
        const chunk = raw as Buffer;
        if (this.gone === 'eio') throw goneError();
        if (this.gone === 'hang') await this.hang('get', undefined);
        if (t && sent + chunk.length >= t.afterBytes) {
          if (t.afterBytes > sent) yield chunk.subarray(0, t.afterBytes - sent);
          this.faults++;
          if (t.mode === 'error') throw new WharfError('EIO', `injected fault: connection lost after ${t.afterBytes} bytes`);
          return;
        }
        sent += chunk.length;
        yield chunk;
      }
    } finally {
      body.destroy();
    }
  }

  /** Counts the call, adds latency, and fails or hangs it if the store is gone or a rule fires. */
  private async before(op: StoreOp, key: string, signal: AbortSignal | undefined): Promise<void> {
    this.calls[op]++;
    const wait = this.latencyMs + (this.jitterMs > 0 ? this.rng() * this.jitterMs : 0);
    if (wait > 0) await delay(wait, signal);
    if (this.gone) {
      this.faults++;
      if (this.gone === 'hang') await this.hang(op, signal);
      throw goneError();
    }
    const rule = this.pick(this.rules, (r) => (r.ops === undefined || r.ops.includes(op)) && key.startsWith(r.keyPrefix ?? ''));
    if (!rule) return;
    this.faults++;
    if (rule.hang) await this.hang(op, signal);
    throw new WharfError(rule.errno ?? 'EIO', `injected fault: ${op} ${JSON.stringify(key)}`);
  }

  /** The first armed rule that matches and is due, after its after/times/probability. */
  private pick<R extends { after?: number; times?: number; probability?: number }>(armed: Armed<R>[], matches: (r: R) => boolean): R | undefined {
    for (const a of armed) {
      if (!matches(a.rule)) continue;
      a.seen++;
      if (a.seen <= (a.rule.after ?? 0)) continue;
      if (a.rule.times !== undefined && a.fired >= a.rule.times) continue;
      if (a.rule.probability !== undefined && this.rng() >= a.rule.probability) continue;
      a.fired++;
      return a.rule;
    }
    return undefined;
  }

  /** Never resolves: rejects with ETIMEDOUT after hangTimeoutMs, EINTR on abort, EIO on close. */
  private hang(op: StoreOp, signal: AbortSignal | undefined): Promise<never> {
    return new Promise<never>((_, reject) => {
      const finish = (e: WharfError): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.hangs.delete(finish);
        reject(e);
      };
      const onAbort = (): void => finish(new WharfError('EINTR', `${op}: aborted`));
      const timer = setTimeout(() => finish(new WharfError('ETIMEDOUT', `${op}: the store did not answer in ${this.hangTimeoutMs} ms`)), this.hangTimeoutMs);
      this.hangs.add(finish);
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function goneError(): WharfError {
  return new WharfError('EIO', 'injected fault: the store is gone');
}

/** A small, fast, seedable PRNG (mulberry32): determinism matters, quality hardly. Tests replay runs with it. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
