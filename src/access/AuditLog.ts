// The audit log: one JSON line per management call and per denied data-plane call —
// time, request id, principal, source address, action, resource, redacted parameters,
// result, latency — in one file per UTC day (<dir>/audit-YYYY-MM-DD.jsonl), files
// older than the retention removed at open and once a day. Queried newest first.
//
// Secrets never reach it: every parameter whose name looks like a secret is replaced
// by "[redacted]", credentials in URIs (user:password@) are cut, long strings are
// shortened. Lines are appended in order through one promise chain, so a query
// after a call sees the call's line.
import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { WharfError, logger } from '../common/index.js';

const log = logger('audit');
const FILE = /^audit-(\d{4}-\d{2}-\d{2})\.jsonl$/;
const SECRET = /secret|password|passwd|token|credential|private|session/i;

export interface AuditEntry {
  time: string;
  requestId: string;
  /** Who: an access key id once IAM exists; until then "anonymous". */
  principal: string;
  sourceIp: string;
  /** "admin" for management calls, "data" for denied namespace and block calls. */
  plane: 'admin' | 'data';
  action: string;
  resource: string;
  params: Record<string, unknown>;
  /** "ok", or the errno of the failure or refusal. */
  result: string;
  latencyMs: number;
}

export interface AuditQuery {
  /** ms since the epoch. */
  sinceMs?: number;
  untilMs?: number;
  action?: string;
  /** "ok", "failed" (any errno), or one errno. */
  result?: string;
  sourceIp?: string;
  principal?: string;
  plane?: 'admin' | 'data';
  limit?: number;
}

export function newRequestId(): string {
  return randomUUID();
}

/** A copy of `v` fit for the audit log: secrets redacted, credentials cut from URIs, strings shortened. */
export function redact(v: unknown, depth = 0): unknown {
  if (depth > 4) return '[…]';
  if (typeof v === 'string') {
    const s = v.replace(/\/\/[^/@\s]*:[^/@\s]*@/g, '//[redacted]@');
    return s.length > 256 ? `${s.slice(0, 256)}…` : s;
  }
  if (Buffer.isBuffer(v)) return `[${v.length} bytes]`;
  if (Array.isArray(v)) return v.slice(0, 20).map((x) => redact(x, depth + 1));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (k.startsWith('_')) continue; // protobuf oneof markers
      out[k] = SECRET.test(k) ? '[redacted]' : redact(x, depth + 1);
    }
    return out;
  }
  return v;
}

export class AuditLog {
  private chain: Promise<unknown> = Promise.resolve();
  private pruned = '';

  private constructor(readonly dir: string, private readonly retentionDays: number) {}

  static async open(dir: string, retentionDays = 30): Promise<AuditLog> {
    if (!Number.isInteger(retentionDays) || retentionDays < 1) throw new WharfError('EINVAL', `audit retention must be a whole number of days ≥ 1, not ${retentionDays}`);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const a = new AuditLog(dir, retentionDays);
    await a.prune(new Date());
    return a;
  }

  /** Appends one entry (never fails the call it records: a write error is logged). */
  record(e: Omit<AuditEntry, 'time'> & { time?: Date }): void {
    const at = e.time ?? new Date();
    const line = JSON.stringify({ ...e, time: at.toISOString(), params: redact(e.params) }) + '\n';
    const day = at.toISOString().slice(0, 10);
    this.chain = this.chain.then(async () => {
      if (day !== this.pruned) await this.prune(at);
      await appendFile(join(this.dir, `audit-${day}.jsonl`), line, { mode: 0o600 });
    }).catch((err: unknown) => log.error({ err: err instanceof Error ? err.message : String(err) }, 'cannot write the audit log'));
  }

  /** Entries newest first. */
  async query(q: AuditQuery = {}): Promise<AuditEntry[]> {
    await this.chain;
    const limit = Math.min(q.limit ?? 100, 10_000);
    const files = (await readdir(this.dir)).filter((f) => FILE.test(f)).sort().reverse();
    const out: AuditEntry[] = [];
    for (const f of files) {
      const day = FILE.exec(f)![1]!;
      if (q.sinceMs !== undefined && Date.parse(`${day}T23:59:59.999Z`) < q.sinceMs) break;
      const lines = (await readFile(join(this.dir, f), 'utf8')).split('\n').filter(Boolean).reverse();
      for (const l of lines) {
        let e: AuditEntry;
        try {
          e = JSON.parse(l) as AuditEntry;
        } catch {
          continue; // a line cut by a crash
        }
        const t = Date.parse(e.time);
        if (q.sinceMs !== undefined && t < q.sinceMs) continue;
        if (q.untilMs !== undefined && t > q.untilMs) continue;
        if (q.action && e.action !== q.action) continue;
        if (q.plane && e.plane !== q.plane) continue;
        if (q.sourceIp && e.sourceIp !== q.sourceIp) continue;
        if (q.principal && e.principal !== q.principal) continue;
        if (q.result && !(q.result === 'failed' ? e.result !== 'ok' : e.result === q.result)) continue;
        out.push(e);
        if (out.length >= limit) return out;
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await this.chain;
  }

  private async prune(now: Date): Promise<void> {
    this.pruned = now.toISOString().slice(0, 10);
    const oldest = new Date(now.getTime() - this.retentionDays * 86_400_000).toISOString().slice(0, 10);
    for (const f of await readdir(this.dir)) {
      const m = FILE.exec(f);
      if (m && m[1]! < oldest) {
        await rm(join(this.dir, f), { force: true });
        log.info({ file: f }, 'audit file past its retention removed');
      }
    }
  }
}
