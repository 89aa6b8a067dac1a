// The web console: server-rendered pages over the Admin API, served by the master
// (`wharf master --console HOST:PORT`). Every page and action is an Admin call
// made with the logged-in user's own access key, over gRPC to the master — the
// same roles, gates, errors and audit log as the CLI; nothing is decided here.
//
// Security: with auth on, nothing but the login page and the stylesheet answers
// without a session; the session cookie is HttpOnly, SameSite=Strict (and Secure
// over TLS); every POST carries the session's CSRF token and is refused when the
// browser says it came from another site (Origin, Sec-Fetch-Site). The console is
// HTTPS whenever the master has TLS (its certificate, re-read on the master's
// refresh interval), and a non-loopback address needs TLS and auth unless
// --insecure. No script runs in its pages (the CSP forbids it).
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { WharfError, logger } from '../common/index.js';
import { checkExposure, parseKeyText } from '../access/index.js';
import { AdminClient, type ClientSecurity, type WireNode } from '../rpc/index.js';
import { CSS, html, layout, type Html, type PageContext } from './html.js';
import { Sessions, sameToken, type Session } from './Sessions.js';
import { handleAction } from './actions.js';
import { instancePage, instancesPage, nodesPage, overviewPage, type NodeSample } from './pages/cluster.js';
import { cacheJobPage, jobPage, sourcePage, sourcesPage } from './pages/sources.js';
import { accessPage, auditPage, usersPage } from './pages/access.js';

const log = logger('console');
const COOKIE = 'wharf_session';
const MAX_BODY = 64 * 1024;

export interface ConsoleOptions {
  listen: string;
  /** The master's gRPC address, as the console dials it. */
  masterAddress: string;
  /** How the console reaches the master (its CA; its certificate under mutual TLS). */
  security?: Omit<ClientSecurity, 'key'>;
  /** Serve HTTPS from these files (the master's), re-read every refreshMs. */
  tls?: { certFile: string; keyFile: string; refreshMs: number };
  /** The master requires access keys: so does the console. */
  auth: boolean;
  insecure?: boolean;
  /** A node's /v1/stats (over the nodes' TLS when they have it), for the overview's hit ratio and rates. */
  nodeStats?: (address: string) => Promise<Record<string, unknown>>;
}

export class ConsoleServer {
  private readonly sessions = new Sessions();
  private readonly samples = new Map<string, NodeSample>();
  private refresh: NodeJS.Timeout | undefined;

  private constructor(private readonly o: ConsoleOptions, private readonly server: Server, readonly url: string) {}

  static async start(o: ConsoleOptions): Promise<ConsoleServer> {
    const exposure = checkExposure('the console', o.listen, { tls: Boolean(o.tls), auth: o.auth, insecure: o.insecure ?? false });
    if (exposure === 'insecure') log.warn({ listen: o.listen }, 'INSECURE: the console on a non-loopback address without TLS and auth (--insecure)');
    const tlsFiles = () => ({ cert: readFileSync(o.tls!.certFile), key: readFileSync(o.tls!.keyFile) });
    let self: ConsoleServer | undefined;
    const handler = (req: IncomingMessage, res: ServerResponse) => void self!.handle(req, res);
    const server = o.tls ? createHttpsServer(tlsFiles(), handler) : createHttpServer(handler);
    const i = o.listen.lastIndexOf(':');
    const host = o.listen.slice(0, i);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(new WharfError('EBUSY', `the console cannot listen on ${o.listen}: ${e.message}`, e)));
      server.listen(Number(o.listen.slice(i + 1)), host.replace(/^\[|\]$/g, ''), () => resolve());
    });
    const a = server.address();
    const port = typeof a === 'object' && a ? a.port : 0;
    self = new ConsoleServer(o, server, `${o.tls ? 'https' : 'http'}://${host}:${port}/`);
    if (o.tls) {
      self.refresh = setInterval(() => {
        try {
          (server as ReturnType<typeof createHttpsServer>).setSecureContext(tlsFiles());
        } catch (e) {
          log.warn({ err: (e as Error).message }, 'console: the TLS files could not be re-read; keeping the old ones');
        }
      }, o.tls.refreshMs).unref();
    }
    log.info({ url: self.url, auth: o.auth }, 'console serving');
    return self;
  }

  async close(): Promise<void> {
    clearInterval(this.refresh);
    this.sessions.endAll();
    this.server.closeAllConnections?.();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private client(key?: { keyId: string; secret: string }): AdminClient {
    return new AdminClient(this.o.masterAddress, 30_000, { ...this.o.security, ...(key ? { key } : {}) });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('content-security-policy', "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    res.setHeader('x-content-type-options', 'nosniff');
    // same-origin, not no-referrer: with no-referrer a browser's form posts say Origin: null.
    res.setHeader('referrer-policy', 'same-origin');
    res.setHeader('cache-control', 'no-store');
    try {
      const url = new URL(req.url ?? '/', 'http://console');
      const method = req.method ?? 'GET';
      // Without auth the console is loopback-only; a page of another site whose name was made to point
      // at 127.0.0.1 (DNS rebinding) would otherwise be same-origin with it.
      if (!this.o.auth && !this.loopbackHost(req.headers.host)) return this.send(res, 421, this.bare('Refused', html`<p>Without auth the console answers only to its own address, 127.0.0.1, [::1] and localhost.</p>`));
      if (url.pathname === '/console.css') return void res.writeHead(200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'max-age=3600' }).end(CSS);
      if (url.pathname === '/healthz') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      if (method === 'POST' && !this.sameSite(req)) return this.send(res, 403, this.bare('Refused', html`<p>This request came from another site; the console accepts forms only from its own pages.</p>`));
      if (url.pathname === '/login') return method === 'POST' ? await this.login(req, res) : this.send(res, 200, this.loginPage());
      let session = this.sessions.get(cookieOf(req));
      if (!session && !this.o.auth) session = this.anonymous(res);
      if (!session) return this.redirect(res, '/login');
      if (method === 'POST') {
        const form = await readForm(req);
        if (!sameToken(form.get('csrf') ?? undefined, session.csrf)) return this.send(res, 403, this.bare('Refused', html`<p>The form's token does not match this session (an old page, or a forged request): reload the page and try again.</p>`));
        if (url.pathname === '/logout') {
          this.sessions.end(session.id);
          res.setHeader('set-cookie', this.cookie('', 0));
          return this.redirect(res, '/login');
        }
        return this.redirect(res, await this.act(session, url.pathname, form));
      }
      if (method !== 'GET' && method !== 'HEAD') return this.send(res, 405, this.bare('Method not allowed', html``));
      await this.page(session, url, res);
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'console request failed');
      if (!res.headersSent) this.send(res, 500, this.bare('Error', html`<p>${(e as Error).message}</p>`));
    }
  }

  private loopbackHost(host: string | undefined): boolean {
    if (!host) return false;
    const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '').toLowerCase();
    const listenHost = this.o.listen.slice(0, this.o.listen.lastIndexOf(':')).replace(/^\[|\]$/g, '').toLowerCase();
    return name === 'localhost' || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name) || name === listenHost;
  }

  /** A browser's own word on where a POST came from; absent headers (curl, old browsers) leave the CSRF token to decide. */
  private sameSite(req: IncomingMessage): boolean {
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined) return site === 'same-origin' || site === 'none';
    const origin = req.headers['origin'];
    if (origin === undefined) return true;
    if (origin === 'null') return false;
    try {
      return new URL(origin).host === req.headers['host'];
    } catch {
      return false;
    }
  }

  private anonymous(res: ServerResponse): Session {
    const s = this.sessions.create({ user: 'anonymous (auth is off)', keyId: '', grants: ['admin'], client: this.client() });
    res.setHeader('set-cookie', this.cookie(s.id));
    return s;
  }

  private cookie(value: string, maxAgeS?: number): string {
    return `${COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict${this.o.tls ? '; Secure' : ''}${maxAgeS !== undefined ? `; Max-Age=${maxAgeS}` : ''}`;
  }

  private loginPage(message = ''): Html {
    return this.bare('Log in', html`${message ? html`<p class="flash error" role="alert">${message}</p>` : ''}
<form method="post" action="/login" class="box"><label>Access key (ID:SECRET, as <code>wharf key create</code> printed it)<input name="key" type="password" required size="60" autocomplete="off" autofocus></label><button>Log in</button></form>`);
  }

  private async login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = await readForm(req);
    const key = parseKeyText((form.get('key') ?? '').trim());
    if (!key) return this.send(res, 400, this.loginPage('That is not an access key: expected ID:SECRET.'));
    const client = this.client(key);
    try {
      const who = await client.whoAmI();
      const s = this.sessions.create({ user: who.auth ? `${who.user} (${who.key_id})` : 'anonymous (auth is off)', keyId: who.key_id, grants: who.grants, client });
      res.setHeader('set-cookie', this.cookie(s.id));
      log.info({ user: who.user, key: who.key_id }, 'console login');
      this.redirect(res, '/');
    } catch (e) {
      client.close();
      const errno = e instanceof WharfError ? e.errno : 'EIO';
      this.send(res, errno === 'EKEYREJECTED' || errno === 'EKEYEXPIRED' ? 401 : 502, this.loginPage(errno === 'EKEYREJECTED' || errno === 'EKEYEXPIRED' ? `Refused: ${(e as Error).message}` : `The master did not answer: ${(e as Error).message}`));
    }
  }

  /** Runs a form's Admin call; the page to go back to, with what happened as its flash. */
  private async act(s: Session, path: string, form: URLSearchParams): Promise<string> {
    try {
      const r = await handleAction(s.client, path, form);
      s.flash = { kind: 'ok', text: r.message };
      if (r.reveal) s.reveal = r.reveal;
      return r.back;
    } catch (e) {
      if (e instanceof WharfError && (e.errno === 'EKEYREJECTED' || e.errno === 'EKEYEXPIRED')) {
        this.sessions.end(s.id);
        return '/login';
      }
      s.flash = { kind: 'error', text: e instanceof WharfError ? `Refused (${e.errno}): ${e.message}` : String(e) };
      return backOf(path);
    }
  }

  private async page(s: Session, url: URL, res: ServerResponse): Promise<void> {
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const ctx: PageContext = { user: s.user, csrf: s.csrf, path: url.pathname, flash: s.flash };
    delete s.flash;
    const a = s.client;
    let title: string;
    let body: Html;
    try {
      if (parts.length === 0) [title, body] = ['Overview', await overviewPage(ctx, a, (n) => this.sample(n))];
      else if (parts[0] === 'nodes' && parts.length === 1) [title, body] = ['Cache nodes', await nodesPage(ctx, a)];
      else if (parts[0] === 'instances' && parts.length === 1) [title, body] = ['Cache instances', await instancesPage(ctx, a)];
      else if (parts[0] === 'instances' && parts.length === 2) [title, body] = [`Instance ${parts[1]}`, await instancePage(ctx, a, parts[1]!)];
      else if (parts[0] === 'sources' && parts.length === 1) [title, body] = ['Data sources', await sourcesPage(ctx, a)];
      else if (parts[0] === 'sources' && parts.length === 2) {
        const p = await sourcePage(ctx, a, parts[1]!);
        if (p.running) ctx.refreshSeconds = 2;
        [title, body] = [`Source ${parts[1]}`, p.body];
      } else if ((parts[0] === 'jobs' || parts[0] === 'cache-jobs') && parts.length === 2) {
        const p = parts[0] === 'jobs' ? await jobPage(a, parts[1]!) : await cacheJobPage(a, parts[1]!);
        if (p.running) ctx.refreshSeconds = 2;
        [title, body] = [`${parts[0] === 'jobs' ? 'Sync' : 'Cache'} job ${parts[1]}`, p.body];
      } else if (parts[0] === 'access' && parts.length === 1) {
        const address = url.searchParams.get('address');
        [title, body] = ['Permission groups', await accessPage(ctx, a, address ? { source: url.searchParams.get('source') ?? '', address } : undefined)];
      } else if (parts[0] === 'users' && parts.length === 1) {
        const reveal = s.reveal;
        delete s.reveal;
        [title, body] = ['Users and access keys', await usersPage(ctx, a, reveal)];
      } else if (parts[0] === 'audit' && parts.length === 1) [title, body] = ['Audit log', await auditPage(a, url.searchParams)];
      else return this.send(res, 404, layout('Not found', ctx, html`<p>No page at ${url.pathname}.</p>`));
    } catch (e) {
      if (e instanceof WharfError && (e.errno === 'EKEYREJECTED' || e.errno === 'EKEYEXPIRED')) {
        this.sessions.end(s.id);
        return this.redirect(res, '/login');
      }
      const errno = e instanceof WharfError ? e.errno : 'EIO';
      const status = errno === 'ENOENT' ? 404 : errno === 'EACCES' ? 403 : errno === 'EINVAL' ? 400 : 502;
      return this.send(res, status, layout('Refused', ctx, html`<p class="flash error" role="alert">${errno}: ${(e as Error).message}</p>`));
    }
    this.send(res, 200, layout(title, ctx, body));
  }

  private async sample(n: WireNode): Promise<{ now?: NodeSample; before?: NodeSample }> {
    const before = this.samples.get(n.id);
    try {
      if (!this.o.nodeStats) return {};
      const j = await this.o.nodeStats(n.address);
      const num = (k: string) => (typeof j[k] === 'number' ? (j[k] as number) : 0);
      const now = { timeMs: Date.now(), hits: num('hits'), misses: num('misses'), bytesServed: num('bytesServed'), storeBytes: num('storeBytes') };
      this.samples.set(n.id, now);
      return { now, ...(before ? { before } : {}) };
    } catch {
      return {}; // a node down or slow: its counters are not shown
    }
  }

  private bare(title: string, body: Html): Html {
    return html`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title} · Wharf</title><link rel="stylesheet" href="/console.css"></head>
<body><header><strong>Wharf</strong></header><main><h1>${title}</h1>${body}</main></body></html>`;
  }

  private send(res: ServerResponse, status: number, body: Html): void {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' }).end(body.text);
  }

  private redirect(res: ServerResponse, to: string): void {
    res.writeHead(303, { location: to }).end();
  }
}

function cookieOf(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, v] = part.trim().split('=');
    if (k === COOKIE && v) return v;
  }
  return undefined;
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > MAX_BODY) throw new WharfError('E2BIG', 'form too large');
    chunks.push(c);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** The page a failed action returns to: the collection it acted on. */
function backOf(path: string): string {
  const p = path.split('/').filter(Boolean);
  if (p[0] === 'sources' && p.length >= 2) return `/sources/${p[1]}`;
  if (p[0] === 'keys') return '/users';
  return `/${p[0] ?? ''}`;
}
