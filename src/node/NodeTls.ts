// Mutual TLS of the block and control protocol (HTTPS): every cache node serves
// with its certificate and requires a client certificate signed by the cluster CA;
// mounts, peers and the master present theirs. The PEM files are re-read every
// `refreshMs`; a change replaces the server's secure context (new connections get
// it, open ones keep theirs) and the client's agent. Without TLS the same code
// speaks plain HTTP (loopback only, or --insecure).
import { readFileSync, statSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest, type Server as HttpsServer } from 'node:https';
import { WharfError, logger } from '../common/index.js';

const log = logger('tls');

export interface NodeTlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
  refreshMs?: number;
}

interface Pem {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export class NodeTls {
  private pem: Pem;
  private stamp: string;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(pem: Pem) => void>();

  constructor(readonly files: NodeTlsFiles) {
    this.pem = this.load();
    this.stamp = this.mtimes();
  }

  /** Options of https.createServer: our identity, and client certificates required. */
  serverOptions(): { ca: Buffer; cert: Buffer; key: Buffer; requestCert: true; rejectUnauthorized: true } {
    return { ...this.pem, requestCert: true, rejectUnauthorized: true };
  }

  /** Keeps `server`'s certificates current with the files. */
  watchServer(server: HttpsServer): () => void {
    const l = (pem: Pem) => server.setSecureContext({ ...pem });
    return this.listen(l);
  }

  /** Calls `fn` with the new PEMs whenever the files change (re-read every refreshMs). */
  listen(fn: (pem: Pem) => void): () => void {
    this.listeners.add(fn);
    this.timer ??= setInterval(() => this.poll(), this.files.refreshMs ?? 60_000).unref();
    return () => {
      this.listeners.delete(fn);
      if (this.listeners.size === 0 && this.timer) { clearInterval(this.timer); this.timer = undefined; }
    };
  }

  current(): Pem {
    return this.pem;
  }

  private poll(): void {
    const stamp = this.mtimes();
    if (stamp === this.stamp) return;
    let pem: Pem;
    try {
      pem = this.load();
      // A certificate with the previous key (a renewal half written) must not become our identity.
      createSecureContext({ ...pem });
    } catch (e) {
      // Keep serving with the old files; try again next time (the stamp is not taken).
      log.warn({ err: (e as Error).message }, 'TLS files changed but do not load yet; keeping the previous ones');
      return;
    }
    this.pem = pem;
    this.stamp = stamp;
    log.info({ cert: this.files.certFile }, 'TLS files changed: new connections use them');
    for (const l of this.listeners) {
      try {
        l(pem);
      } catch (e) {
        log.warn({ err: (e as Error).message }, 'applying new TLS files failed for one user of them');
      }
    }
  }

  private mtimes(): string {
    return [this.files.caFile, this.files.certFile, this.files.keyFile].map((f) => { try { return String(statSync(f).mtimeMs); } catch { return '-'; } }).join('/');
  }

  private load(): Pem {
    const read = (f: string, what: string) => {
      try {
        return readFileSync(f);
      } catch (e) {
        throw new WharfError('EINVAL', `cannot read the ${what} ${f}: ${(e as Error).message}`);
      }
    };
    return { ca: read(this.files.caFile, 'TLS CA certificate'), cert: read(this.files.certFile, 'TLS certificate'), key: read(this.files.keyFile, 'TLS private key') };
  }
}

/**
 * How a client reaches cache nodes: HTTP, or HTTPS presenting its certificate. One
 * keep-alive agent, replaced (the old one drained) when the TLS files change.
 */
export class NodeTransport {
  private agent: HttpAgent;
  private readonly stop: (() => void) | undefined;

  constructor(private readonly tls: NodeTls | undefined, private readonly maxSockets: number) {
    this.agent = this.newAgent();
    this.stop = tls?.listen(() => {
      const old = this.agent;
      this.agent = this.newAgent();
      // Requests in flight on the old agent finish; its sockets close as they go idle.
      old.on('free', (socket) => socket.destroy());
      setTimeout(() => old.destroy(), 120_000).unref();
    });
  }

  get secure(): boolean {
    return this.tls !== undefined;
  }

  request(o: RequestOptions, onResponse?: (res: IncomingMessage) => void): ClientRequest {
    const opts = { ...o, agent: this.agent };
    return this.tls ? httpsRequest(opts, onResponse) : httpRequest(opts, onResponse);
  }

  close(): void {
    this.stop?.();
    this.agent.destroy();
  }

  private newAgent(): HttpAgent {
    if (!this.tls) return new HttpAgent({ keepAlive: true, maxSockets: this.maxSockets });
    // Nodes are addressed by IP: the certificate must name it (a subjectAltName IP entry), as the README's openssl lines make.
    return new HttpsAgent({ keepAlive: true, maxSockets: this.maxSockets, ...this.tls.current() });
  }
}
