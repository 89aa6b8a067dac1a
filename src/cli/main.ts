#!/usr/bin/env node
// The `wharf` command: wiring only. Each action parses its options, calls the
// module that does the work, and prints the result.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_MASTER_ADDRESS, WharfError, describeErrno, masterAddress, type Attr } from '../common/index.js';
import { Master } from '../master/index.js';
import { fsckDataDir, mkdirp, readdirAll, removeTree, resolveParent, walkTree, type MetaClient } from '../meta/index.js';
import { GrpcMetaClient } from '../rpc/index.js';
import { EXIT, FSCK_EXIT, exitCodeOf } from './exitCodes.js';
import { attrJson, fsckText, lsLine, statText, treeJson, treeText } from './format.js';

const program = new Command('wharf')
  .description('Wharf: a caching filesystem for data in object storage')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride();

let jsonOutput = false;

/** Option parsers: a bad value is a usage error (exit 2), never a silent default. */
function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (text: string): number => {
    if (!/^-?[0-9]+$/.test(text)) throw new InvalidArgumentError(`${JSON.stringify(text)} is not an integer.`);
    const n = Number(text);
    if (n < min || n > max) throw new InvalidArgumentError(`${n} is outside ${min}..${max}.`);
    return n;
  };
}

function out(text: string): void {
  process.stdout.write(text + '\n');
}

function json(value: unknown): void {
  out(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2));
}

// ---- master --------------------------------------------------------------------

program
  .command('master')
  .description('run the namespace master (gRPC) on a data directory')
  .requiredOption('--data <dir>', 'LevelDB data directory (created if missing)')
  .option('--listen <host:port>', 'gRPC address to serve', DEFAULT_MASTER_ADDRESS)
  .option('--metrics <host:port>', 'serve Prometheus /metrics and /healthz over HTTP here')
  .option('--fsync', 'fsync every metadata batch (survives power loss, slower)', false)
  .option('--grace <ms>', 'on SIGTERM/SIGINT, how long in-flight calls may run before they are cancelled', integer(0), 10_000)
  .action(async (o: { data: string; listen: string; metrics?: string; fsync: boolean; grace: number }) => {
    const master = await Master.start({ dataDir: o.data, listen: o.listen, fsync: o.fsync, ...(o.metrics ? { metricsListen: o.metrics } : {}) });
    // Scripts and tests read this line to learn the bound address (with --listen :0).
    out(`wharf master listening on ${master.address}${master.metricsAddress ? `, metrics on http://${master.metricsAddress}/metrics` : ''}`);
    await new Promise<void>((resolve) => {
      const onSignal = (sig: string) => {
        out(`received ${sig}; stopping`);
        master.stop(o.grace).then(resolve, resolve);
      };
      process.once('SIGTERM', () => onSignal('SIGTERM'));
      process.once('SIGINT', () => onSignal('SIGINT'));
    });
  });

// ---- fsck ----------------------------------------------------------------------

program
  .command('fsck')
  .description('check a stopped master\'s data directory; exit 0 clean, 1 corrected, 4 problems left, 8 could not check')
  .requiredOption('--data <dir>', 'LevelDB data directory')
  .option('--repair', 'fix what has exactly one right answer', false)
  .option('--json', 'print the report as JSON', false)
  .action(async (o: { data: string; repair: boolean; json: boolean }) => {
    jsonOutput = o.json;
    let report;
    try {
      report = await fsckDataDir(o.data, { repair: o.repair });
    } catch (e) {
      printError('fsck', e);
      process.exitCode = FSCK_EXIT.operational;
      return;
    }
    if (o.json) json(report);
    else out(fsckText(report));
    const open = report.findings.some((f) => !f.repaired);
    process.exitCode = open ? FSCK_EXIT.uncorrected : report.findings.length > 0 ? FSCK_EXIT.corrected : FSCK_EXIT.clean;
  });

// ---- fs ------------------------------------------------------------------------

const fs = program
  .command('fs')
  .description('inspect and change the namespace through a master')
  .addOption(new Option('--master <host:port>', `master address (default: $WHARF_MASTER, else ${DEFAULT_MASTER_ADDRESS})`))
  .option('--timeout <ms>', 'per-call deadline', integer(1), 30_000)
  .option('--json', 'machine-readable output', false);

interface FsOptions { master?: string; timeout: number; json: boolean }

/** Runs `fn` with a connected client; errors become a message and an exit code. */
function withClient<A extends unknown[]>(verb: string, fn: (c: MetaClient, ...args: A) => Promise<void>) {
  return async (...args: A): Promise<void> => {
    const o = fs.opts<FsOptions>();
    jsonOutput = o.json;
    const client = new GrpcMetaClient(masterAddress(o.master), { deadlineMs: o.timeout });
    try {
      await client.waitForReady(Math.min(o.timeout, 5_000));
      await fn(client, ...args);
    } catch (e) {
      printError(`${verb} ${String(args[0] ?? '')}`.trim(), e);
      process.exitCode = e instanceof WharfError ? exitCodeOf(e.errno) : EXIT.failed;
    } finally {
      await client.close();
    }
  };
}

const owner = () => ({ uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 });

fs.command('ls <path>')
  .description('list a directory (or show one entry)')
  .option('-l, --long', 'long listing with attributes', false)
  .action(withClient('ls', async (c, path: string, cmd: { long: boolean }) => {
    const a = await c.resolve(path, { followLast: true });
    const entries = a.type === 'directory' ? readdirAll(c, a.ino) : one(path, a);
    const rows: { name: string; attr: Attr }[] = [];
    for await (const e of entries) {
      if (jsonOutput) rows.push(e);
      else if (cmd.long) out(lsLine(e, e.attr.type === 'symlink' ? await c.readlink(e.attr.ino) : undefined));
      else out(e.name + (e.attr.type === 'directory' ? '/' : ''));
    }
    if (jsonOutput) json(rows.map((e) => ({ name: e.name, ...attrJson(e.attr) })));
  }));

async function* one(path: string, a: Attr) {
  yield { name: path.split('/').filter(Boolean).pop() ?? '/', attr: a };
}

fs.command('stat <path>')
  .description('show one inode\'s attributes (symlinks are not followed)')
  .action(withClient('stat', async (c, path: string) => {
    const a = await c.resolve(path);
    if (jsonOutput) json({ path, ...attrJson(a), ...(a.type === 'symlink' ? { target: await c.readlink(a.ino) } : {}) });
    else out(statText(path, a));
  }));

fs.command('mkdir <path>')
  .description('create a directory')
  .option('-p, --parents', 'create missing parents; an existing directory is not an error', false)
  .option('-m, --mode <octal>', 'permission bits', '755')
  .action(withClient('mkdir', async (c, path: string, cmd: { parents: boolean; mode: string }) => {
    const init = { mode: parseMode(cmd.mode), ...owner() };
    const a = cmd.parents ? await mkdirp(c, path, init) : await (async () => {
      const { parent, name } = await resolveParent(c, path);
      return c.mkdir(parent.ino, name, init);
    })();
    if (jsonOutput) json({ path, ...attrJson(a) });
  }));

fs.command('touch <path>')
  .description('create an empty file, or update the times of an existing one')
  .action(withClient('touch', async (c, path: string) => {
    const { parent, name } = await resolveParent(c, path);
    let a: Attr;
    try {
      a = await c.create(parent.ino, name, { mode: 0o644, ...owner() });
    } catch (e) {
      if (!(e instanceof WharfError) || e.errno !== 'EEXIST') throw e;
      const now = BigInt(Date.now()) * 1_000_000n;
      a = await c.setattr((await c.lookup(parent.ino, name)).ino, { atimeNs: now, mtimeNs: now });
    }
    if (jsonOutput) json({ path, ...attrJson(a) });
  }));

fs.command('ln <target> <path>')
  .description('create a symbolic link at PATH pointing to TARGET (always symbolic: Wharf has no hard links)')
  .option('-s, --symbolic', 'accepted for familiarity; links are always symbolic', true)
  .action(withClient('ln', async (c, target: string, path: string) => {
    const { parent, name } = await resolveParent(c, path);
    const a = await c.symlink(parent.ino, name, target, owner());
    if (jsonOutput) json({ path, target, ...attrJson(a) });
  }));

fs.command('rm <path>')
  .description('remove a file or symlink; a directory needs -r (or use rmdir semantics with -d)')
  .option('-r, --recursive', 'remove a directory and everything below it', false)
  .option('-d, --dir', 'remove an empty directory', false)
  .action(withClient('rm', async (c, path: string, cmd: { recursive: boolean; dir: boolean }) => {
    const { parent, name } = await resolveParent(c, path);
    let removed = 1;
    if (cmd.recursive) removed = await removeTree(c, parent.ino, name);
    else if (cmd.dir) await c.rmdir(parent.ino, name);
    else await c.unlink(parent.ino, name);
    if (jsonOutput) json({ path, removed });
  }));

fs.command('mv <source> <destination>')
  .description('rename; an existing destination directory receives the source (like mv), other destinations are replaced')
  .option('-n, --no-clobber', 'fail with EEXIST if the destination exists')
  .option('-T, --no-target-directory', 'treat the destination as a name even if it is a directory (replace an empty one)')
  .action(withClient('mv', async (c, src: string, dst: string, cmd: { clobber: boolean; targetDirectory: boolean }) => {
    const from = await resolveParent(c, src);
    let to = await resolveParent(c, dst);
    if (cmd.targetDirectory) {
      const existing = await c.lookup(to.parent.ino, to.name).catch((e: unknown) => {
        if (e instanceof WharfError && e.errno === 'ENOENT') return undefined;
        throw e;
      });
      const moving = await c.lookup(from.parent.ino, from.name);
      if (existing?.type === 'directory' && existing.ino !== moving.ino) to = { parent: existing, name: from.name };
    }
    await c.rename(from.parent.ino, from.name, to.parent.ino, to.name, { noReplace: !cmd.clobber });
    if (jsonOutput) json({ source: src, destination: dst });
  }));

fs.command('tree [path]')
  .description('show a subtree')
  .option('-L, --depth <n>', 'descend at most N levels', integer(0))
  .action(withClient('tree', async (c, path: string | undefined, cmd: { depth?: number }) => {
    const p = path ?? '/';
    const root = await c.resolve(p, { followLast: true });
    const node = await walkTree(c, p, root, cmd.depth ?? Infinity);
    if (jsonOutput) json(treeJson(node));
    else out(treeText(node));
  }));

fs.command('df')
  .description('namespace usage: inodes and bytes')
  .action(withClient('df', async (c) => {
    const s = await c.statfs();
    const usedBytes = (s.totalBlocks - s.freeBlocks) * s.blockSize;
    if (jsonOutput) json({ ...s, usedBytes });
    else out(`inodes used: ${s.usedInodes}\nbytes used:  ${usedBytes}\nblock size:  ${s.blockSize}\nname max:    ${s.maxNameLength}`);
  }));

function parseMode(text: string): number {
  if (!/^[0-7]{1,4}$/.test(text)) throw new WharfError('EINVAL', `mode ${JSON.stringify(text)} is not octal (e.g. 755)`);
  return parseInt(text, 8);
}

function printError(what: string, e: unknown): void {
  if (e instanceof WharfError) {
    if (jsonOutput) process.stderr.write(JSON.stringify({ error: { op: what, errno: e.errno, message: e.message } }) + '\n');
    else process.stderr.write(`wharf: ${what}: ${describeErrno(e.errno)} (${e.errno}): ${e.message}\n`);
  } else {
    process.stderr.write(`wharf: ${what}: ${(e as Error)?.stack ?? String(e)}\n`);
  }
}

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? EXIT.ok : EXIT.usage;
      return;
    }
    printError(program.args[0] ?? 'wharf', e);
    process.exitCode = e instanceof WharfError ? exitCodeOf(e.errno) : EXIT.failed;
  }
}

await main();
