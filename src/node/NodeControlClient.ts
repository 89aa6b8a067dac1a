// The master's client of a cache node's control requests (cacheProtocol): a warmup
// whose results arrive line by line, and an eviction. Errors are WharfErrors: the
// node's refusal (its errno), a connection that fails as EIO naming the address, a
// silent node as ETIMEDOUT, and ECANCELED when the caller aborted.
import type { IncomingMessage } from 'node:http';
import { NodeTransport, type NodeTls } from './NodeTls.js';
import { WharfError } from '../common/index.js';
import { ERRNO_HEADER, refusalError } from './blockProtocol.js';
import { EVICT_PATH, WARM_PATH, type EvictRequest, type EvictResult, type WarmRequest, type WarmResult } from './cacheProtocol.js';

export class NodeControlClient {
  private readonly transport: NodeTransport;

  constructor(private readonly timeoutMs = 30_000, tls?: NodeTls) {
    this.transport = new NodeTransport(tls, 8);
  }

  /** Sends a warmup and hands each result to `onResult` as the node reports it; resolves at the node's end line. */
  async warm(address: string, r: WarmRequest, signal: AbortSignal, onResult: (x: Exclude<WarmResult, { end: true }>) => void): Promise<void> {
    const res = await this.post(address, WARM_PATH, JSON.stringify(r), signal);
    await new Promise<void>((resolve, reject) => {
      let rest = '';
      let ended = false;
      let idle: NodeJS.Timeout | undefined;
      const arm = () => {
        clearTimeout(idle);
        idle = setTimeout(() => res.destroy(new WharfError('ETIMEDOUT', `cache node ${address} reported nothing for ${this.timeoutMs} ms`)), this.timeoutMs);
      };
      arm();
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        arm();
        rest += chunk;
        let nl: number;
        while ((nl = rest.indexOf('\n')) >= 0) {
          const line = rest.slice(0, nl);
          rest = rest.slice(nl + 1);
          if (!line) continue;
          let x: WarmResult;
          try {
            x = JSON.parse(line) as WarmResult;
          } catch {
            res.destroy(new WharfError('EIO', `cache node ${address} sent a line that is not JSON`));
            return;
          }
          if ('end' in x) ended = true;
          else onResult(x);
        }
      });
      res.once('end', () => {
        clearTimeout(idle);
        if (ended) resolve();
        else reject(new WharfError('EIO', `cache node ${address} ended the warmup before its end line`));
      });
      res.once('error', (e) => {
        clearTimeout(idle);
        reject(signal.aborted ? new WharfError('ECANCELED', 'warmup stopped') : e instanceof WharfError ? e : new WharfError('EIO', `cache node ${address}: ${e.message}`, e));
      });
      res.once('close', () => {
        clearTimeout(idle);
        if (!ended) reject(signal.aborted ? new WharfError('ECANCELED', 'warmup stopped') : new WharfError('EIO', `cache node ${address} cut the warmup`));
      });
    });
  }

  async evict(address: string, r: EvictRequest, signal?: AbortSignal): Promise<EvictResult> {
    const res = await this.post(address, EVICT_PATH, JSON.stringify(r), signal);
    const body = await text(res);
    try {
      return JSON.parse(body) as EvictResult;
    } catch {
      throw new WharfError('EIO', `cache node ${address} answered an eviction with something that is not JSON`);
    }
  }

  /** The node's counters (/v1/stats: BlockServer's NodeStats), for the console. */
  async stats(address: string): Promise<Record<string, unknown>> {
    const body = await text(await this.post(address, '/v1/stats', undefined));
    try {
      return JSON.parse(body) as Record<string, unknown>;
    } catch {
      throw new WharfError('EIO', `cache node ${address} answered /v1/stats with something that is not JSON`);
    }
  }

  close(): void {
    this.transport.close();
  }

  /** POST `body` to `path`, or GET it when there is no body. */
  private post(address: string, path: string, body: string | undefined, signal?: AbortSignal): Promise<IncomingMessage> {
    const i = address.lastIndexOf(':');
    return new Promise((resolve, reject) => {
      const req = this.transport.request({
        method: body === undefined ? 'GET' : 'POST', host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)), path,
        headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, ...(signal ? { signal } : {}),
      });
      const timer = setTimeout(() => req.destroy(new WharfError('ETIMEDOUT', `cache node ${address} did not answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      req.once('error', (e) => {
        clearTimeout(timer);
        if (signal?.aborted) reject(new WharfError('ECANCELED', 'request stopped'));
        else reject(e instanceof WharfError ? e : new WharfError('EIO', `cache node ${address}: ${e.message}`, e));
      });
      req.once('response', (res) => {
        clearTimeout(timer);
        if (res.statusCode === 200) return resolve(res);
        text(res).then((t) => reject(refusalError(res.statusCode ?? 0, res.headers[ERRNO_HEADER], t.trim())), reject);
      });
      req.end(body);
    });
  }
}

function text(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => { if (body.length < 1_000_000) body += c; });
    res.once('end', () => resolve(body));
    res.once('error', reject);
  });
}
