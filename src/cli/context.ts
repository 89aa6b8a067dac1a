// What every `wharf` command shares: the global options, output (text or --json),
// error printing with exit codes, and connected clients.
import bytes from 'bytes';
import { Command, InvalidArgumentError } from 'commander';
import { WharfError, describeErrno, masterAddress } from '../common/index.js';
import { readFileSync } from 'node:fs';
import { parseKeyText } from '../access/index.js';
import type { NodeTls } from '../node/index.js';
import { AdminClient, GrpcMetaClient, type ClientSecurity } from '../rpc/index.js';
import { EXIT, exitCodeOf } from './exitCodes.js';

export interface GlobalOptions {
  master?: string;
  timeout: number;
  json: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsRefresh: number;
  keyFile?: string;
}

let program: Command;

export function useProgram(p: Command): void {
  program = p;
}

export function globals(): GlobalOptions {
  return program.opts<GlobalOptions>();
}

export function out(text: string): void {
  process.stdout.write(text + '\n');
}

/** JSON on stdout; bigints as decimal strings so 64-bit values stay exact. */
export function json(value: unknown): void {
  out(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2));
}

export function printError(what: string, e: unknown): void {
  if (e instanceof WharfError) {
    if (globals().json) process.stderr.write(JSON.stringify({ error: { op: what, errno: e.errno, message: e.message } }) + '\n');
    else process.stderr.write(`wharf: ${what}: ${describeErrno(e.errno)} (${e.errno}): ${e.message}\n`);
  } else {
    process.stderr.write(`wharf: ${what}: ${(e as Error)?.stack ?? String(e)}\n`);
  }
}

/**
 * TLS and the access key of this process, from the global options: the CA it
 * trusts (--tls-ca), its own certificate (--tls-cert/--tls-key: a server's
 * identity, and a client's for mutual TLS), and its key (--key-file, else
 * $WHARF_ACCESS_KEY, as "ID:SECRET").
 */
export function clientSecurity(g: GlobalOptions = globals(), env: NodeJS.ProcessEnv = process.env): ClientSecurity {
  let keyText: string | undefined;
  let from = '$WHARF_ACCESS_KEY';
  if (g.keyFile) {
    from = g.keyFile;
    try {
      keyText = readFileSync(g.keyFile, 'utf8');
    } catch (e) {
      throw new WharfError('EINVAL', `cannot read the access key file ${g.keyFile}: ${(e as Error).message}`);
    }
  } else {
    keyText = env['WHARF_ACCESS_KEY'];
  }
  const key = keyText === undefined || keyText === '' ? undefined : parseKeyText(keyText);
  if (keyText && !key) throw new WharfError('EINVAL', `${from} does not hold an access key as ID:SECRET`);
  if ((g.tlsCert || g.tlsKey) && !g.tlsCa) throw new WharfError('EINVAL', '--tls-cert and --tls-key need --tls-ca (the CA that signed the other side\'s certificate)');
  return {
    ...(g.tlsCa ? { tls: { caFile: g.tlsCa, ...(g.tlsCert ? { certFile: g.tlsCert } : {}), ...(g.tlsKey ? { keyFile: g.tlsKey } : {}), refreshMs: g.tlsRefresh } } : {}),
    ...(key ? { key } : {}),
  };
}

/** Mutual TLS to cache nodes: needs the CA and this process's own certificate and key (absent: plain HTTP). */
export async function nodeTls(g: GlobalOptions = globals()): Promise<NodeTls | undefined> {
  if (!g.tlsCa || !g.tlsCert || !g.tlsKey) return undefined;
  const { NodeTls } = await import('../node/index.js');
  return new NodeTls({ caFile: g.tlsCa, certFile: g.tlsCert, keyFile: g.tlsKey, refreshMs: g.tlsRefresh });
}

/** An Admin client of the master, with this process's TLS and key. */
export function adminClient(address: string = masterAddress(globals().master)): AdminClient {
  return new AdminClient(address, globals().timeout, clientSecurity());
}

/** A namespace client of the master, with this process's TLS and key. */
export function metaClient(address: string = masterAddress(globals().master)): GrpcMetaClient {
  return new GrpcMetaClient(address, { deadlineMs: globals().timeout, security: clientSecurity() });
}

/** Option parsers: a bad value is a usage error (exit 2), never a silent default. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (text: string): number => {
    if (!/^-?[0-9]+$/.test(text)) throw new InvalidArgumentError(`${JSON.stringify(text)} is not an integer.`);
    const n = Number(text);
    if (n < min || n > max) throw new InvalidArgumentError(`${n} is outside ${min}..${max}.`);
    return n;
  };
}

/** "10GB", "512MB", "4096": powers of 1024. Anything else is a usage error, never a silent guess. */
export function size(text: string): number {
  if (!/^\d+(\.\d+)?\s*(b|kb|mb|gb|tb)?$/i.test(text.trim())) throw new InvalidArgumentError(`${JSON.stringify(text)} is not a size like 512MB or 10GB.`);
  return bytes.parse(text) ?? 0;
}

/** "90s", "30m", "2h", "7d" (or plain ms), in ms. */
export function duration(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`${JSON.stringify(text)} is not a duration like 90s, 30m, 2h or 7d.`);
  return Number(m[1]) * { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'ms'];
}

/** Runs an action; a failure becomes a message on stderr and the exit code for its errno. */
function guarded<A extends unknown[]>(what: (args: A) => string, fn: (...args: A) => Promise<void>) {
  return async (...args: A): Promise<void> => {
    try {
      await fn(...args);
    } catch (e) {
      printError(what(args), e);
      process.exitCode = e instanceof WharfError ? exitCodeOf(e.errno) : EXIT.failed;
    }
  };
}

/** An action with a namespace client connected to the master. */
export function withClient<A extends unknown[]>(verb: string, fn: (c: GrpcMetaClient, ...args: A) => Promise<void>) {
  return guarded<A>((args) => `${verb} ${String(args[0] ?? '')}`.trim(), async (...args: A) => {
    const g = globals();
    const client = metaClient();
    try {
      await client.waitForReady(Math.min(g.timeout, 5_000));
      await fn(client, ...args);
    } finally {
      await client.close();
    }
  });
}

/** An action with an Admin client connected to the master. */
export function withAdmin<A extends unknown[]>(verb: string, fn: (c: AdminClient, ...args: A) => Promise<void>) {
  return guarded<A>((args) => `${verb} ${typeof args[0] === 'string' ? args[0] : ''}`.trim(), async (...args: A) => {
    const g = globals();
    const probe = metaClient();
    const admin = adminClient();
    try {
      await probe.waitForReady(Math.min(g.timeout, 5_000));
      await fn(admin, ...args);
    } finally {
      admin.close();
      await probe.close();
    }
  });
}

export { guarded };
