// Console sessions: a random id in an HttpOnly, SameSite=Strict cookie names a
// session held in the master's memory — the access key it logged in with (never
// sent back to the browser), the Admin client that calls with it, and the CSRF
// token its forms carry. Sessions end at logout, after 30 idle minutes, after 12
// hours, and when the master restarts; the oldest goes when 1,000 are open.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AdminClient } from '../rpc/index.js';

export interface Session {
  id: string;
  csrf: string;
  user: string;
  keyId: string;
  grants: string[];
  client: AdminClient;
  createdMs: number;
  lastMs: number;
  flash?: { kind: 'ok' | 'error'; text: string };
  /** A new key's secret, shown once on the next page and then forgotten. */
  reveal?: { keyId: string; secret: string };
}

const IDLE_MS = 30 * 60_000;
const MAX_AGE_MS = 12 * 3_600_000;
const MAX_SESSIONS = 1_000;

export class Sessions {
  private readonly byId = new Map<string, Session>();

  create(o: Omit<Session, 'id' | 'csrf' | 'createdMs' | 'lastMs'>): Session {
    while (this.byId.size >= MAX_SESSIONS) this.end(this.byId.keys().next().value!);
    const now = Date.now();
    const s: Session = { ...o, id: randomBytes(32).toString('base64url'), csrf: randomBytes(24).toString('base64url'), createdMs: now, lastMs: now };
    this.byId.set(s.id, s);
    return s;
  }

  /** The live session a cookie names (its idle clock restarted), or undefined. */
  get(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const s = this.byId.get(id);
    if (!s) return undefined;
    const now = Date.now();
    if (now - s.lastMs > IDLE_MS || now - s.createdMs > MAX_AGE_MS) {
      this.end(id);
      return undefined;
    }
    s.lastMs = now;
    return s;
  }

  end(id: string): void {
    const s = this.byId.get(id);
    this.byId.delete(id);
    s?.client.close();
  }

  endAll(): void {
    for (const id of [...this.byId.keys()]) this.end(id);
  }

  get size(): number {
    return this.byId.size;
  }
}

export function sameToken(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
