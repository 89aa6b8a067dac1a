// The real `wharf` binary (dist/src/cli/main.js) against a real master process:
// every command's output and exit code, errors with their exact errno, and fsck.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Level } from 'level';
import { ROOT_INO, WharfError, type Attr } from '../src/common/index.js';
import { encodeDentry } from '../src/meta/codec.js';
import { InodeTree } from '../src/meta/InodeTree.js';
import { dentryKey } from '../src/meta/keys.js';
import { mkdirp, resolveParent, walkTree, type TreeNode } from '../src/meta/PathOps.js';
import type { Db } from '../src/meta/Txn.js';
import { GrpcMetaClient } from '../src/rpc/index.js';
import { runCli, startMasterProcess, type CliResult, type MasterProcess } from './helpers/processes.js';
import { tempDir } from './helpers/tmp.js';

const wharf = runCli;

/** Runs `fn` over `items` with at most `width` at a time (2 CPUs: each CLI run is a Node start). */
async function pooled<const T extends readonly unknown[], R>(items: T, width: number, fn: (item: T[number]) => Promise<R>): Promise<{ -readonly [K in keyof T]: R }> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  }));
  return out as { -readonly [K in keyof T]: R };
}

/** An address nothing listens on: a port the kernel just handed out and we released. */
async function deadAddress(): Promise<string> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const addr = srv.address();
  assert.ok(addr && typeof addr === 'object');
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return `127.0.0.1:${addr.port}`;
}

/** Exit 1 with "wharf: <op>: <text> (<ERRNO>): ..." on stderr and nothing on stdout. */
function assertErrno(r: CliResult, errno: string): void {
  assert.equal(r.code, 1, `exit 1 expected; got ${r.code}; stderr: ${r.stderr}`);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^wharf: /);
  const m = /\((E[A-Z0-9]+)\)/.exec(r.stderr);
  assert.equal(m?.[1], errno, `errno in: ${r.stderr}`);
  assert.equal(r.stderr.trim().split('\n').length, 1, 'one line of error, no stack');
}

function assertOk(r: CliResult): void {
  assert.equal(r.code, 0, `exit 0 expected; got ${r.code}; stderr: ${r.stderr}`);
  assert.equal(r.stderr, '');
}

function parseJson<T>(text: string): T {
  return JSON.parse(text) as T;
}

interface AttrJson {
  name?: string;
  path?: string;
  ino: string;
  type: string;
  mode: string;
  uid: number;
  gid: number;
  size: string;
  nlink: number;
  parent: string;
  version: string;
  target?: string;
}

interface TreeJson extends AttrJson {
  children?: TreeJson[];
  truncated?: boolean;
}

describe('wharf fs against a master process', () => {
  let tmp: { path: string; remove: () => void };
  let dataDir: string;
  let master: MasterProcess;
  let client: GrpcMetaClient;
  const fs = (...args: string[]): Promise<CliResult> => wharf(['fs', '--master', master.address, ...args]);
  const resolve = (path: string): Promise<Attr> => client.resolve(path);
  const missing = async (path: string): Promise<boolean> => {
    try {
      await client.resolve(path);
      return false;
    } catch (e) {
      if (e instanceof WharfError && e.errno === 'ENOENT') return true;
      throw e;
    }
  };

  // Setup goes through an in-process client: the CLI runs are kept for what is under test.
  const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const mkdirs = async (...paths: string[]): Promise<void> => {
    for (const p of paths) await mkdirp(client, p, { mode: 0o755, ...owner });
  };
  const touch = async (...paths: string[]): Promise<void> => {
    for (const p of paths) {
      const { parent, name } = await resolveParent(client, p);
      await client.create(parent.ino, name, { mode: 0o644, ...owner });
    }
  };
  const symlink = async (target: string, path: string): Promise<void> => {
    const { parent, name } = await resolveParent(client, path);
    await client.symlink(parent.ino, name, target, owner);
  };

  /** The whole namespace, every field a mutation would touch, one line per inode. */
  async function snapshot(): Promise<string[]> {
    const lines: string[] = [];
    const visit = (n: TreeNode, path: string): void => {
      const a = n.attr;
      lines.push(`${path} ino=${a.ino} ${a.type} v${a.version} nlink=${a.nlink} size=${a.size} mode=${a.mode.toString(8)} m=${a.mtimeNs} c=${a.ctimeNs} parent=${a.parent}`);
      for (const c of n.children ?? []) visit(c, path === '/' ? `/${c.name}` : `${path}/${c.name}`);
    };
    visit(await walkTree(client, '/', await client.getattr(ROOT_INO)), '/');
    const s = await client.statfs();
    lines.push(`inodes=${s.usedInodes} freeBlocks=${s.freeBlocks}`);
    return lines;
  }

  before(async () => {
    tmp = tempDir('wharf-cli-');
    dataDir = join(tmp.path, 'meta');
    master = await startMasterProcess(dataDir);
    client = new GrpcMetaClient(master.address, { deadlineMs: 10_000 });
  });

  after(async () => {
    try {
      await client?.close();
      if (master && master.child.exitCode === null && master.child.signalCode === null) {
        master.child.kill('SIGTERM');
        const stopped = await Promise.race([master.exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 10_000).unref())]);
        if (!stopped) {
          master.child.kill('SIGKILL');
          await master.exited;
        }
      }
    } finally {
      tmp?.remove();
    }
  });

  test('mkdir, mkdir -p, mkdir -m, touch and ln create what they say', async () => {
    assertOk(await fs('mkdir', '/m'));
    const m = await resolve('/m');
    assert.equal(m.type, 'directory');
    assert.equal(m.mode, 0o755);
    assert.equal(m.uid, process.getuid?.() ?? 0);

    assertErrno(await fs('mkdir', '/m/x/y'), 'ENOENT');
    assert.ok(await missing('/m/x'));
    assertOk(await fs('mkdir', '-p', '/m/x/y'));
    const y = await resolve('/m/x/y');
    assert.equal(y.type, 'directory');
    assert.equal((await resolve('/m/x')).nlink, 3);
    assertOk(await fs('mkdir', '--parents', '/m/x/y'));
    assert.equal((await resolve('/m/x/y')).ino, y.ino, 'mkdir -p of an existing directory changes nothing');
    assert.equal((await resolve('/m/x/y')).version, y.version);

    assertOk(await fs('mkdir', '-m', '700', '/m/private'));
    assert.equal((await resolve('/m/private')).mode, 0o700);

    assertOk(await fs('touch', '/m/f'));
    const f = await resolve('/m/f');
    assert.equal(f.type, 'file');
    assert.equal(f.mode, 0o644);
    assert.equal(f.size, 0n);
    await new Promise((r) => setTimeout(r, 5));
    assertOk(await fs('touch', '/m/f'));
    const f2 = await resolve('/m/f');
    assert.equal(f2.ino, f.ino, 'touching an existing file keeps it');
    assert.ok(f2.mtimeNs > f.mtimeNs, 'and moves its mtime');
    assert.ok(f2.version > f.version);

    assertOk(await fs('ln', '/m/f', '/m/l'));
    assertOk(await fs('ln', '-s', '../m/x', '/m/rel'));
    const l = await resolve('/m/l');
    assert.equal(l.type, 'symlink');
    assert.equal(await client.readlink(l.ino), '/m/f');
    assert.equal((await client.resolve('/m/l', { followLast: true })).ino, f.ino);
    assert.equal(await client.readlink((await resolve('/m/rel')).ino), '../m/x');

    const j = await fs('--json', 'mkdir', '/m/j');
    assertOk(j);
    const ja = parseJson<AttrJson>(j.stdout);
    assert.equal(ja.path, '/m/j');
    assert.equal(ja.ino, String((await resolve('/m/j')).ino));
    assert.equal(ja.mode, '0755');
  });

  test('ls, ls -l and ls --json', async () => {
    await mkdirs('/ls/sub/deeper');
    await touch('/ls/file');
    await symlink('/ls/file', '/ls/link');
    await symlink('/ls/sub', '/ls/dirlink');

    const [plain, long, js, jsAfter, viaLink, aFile, emptyDir, none] = await pooled([
      ['ls', '/ls'], ['ls', '-l', '/ls'], ['--json', 'ls', '/ls'], ['ls', '/ls', '--json'],
      ['ls', '/ls/dirlink'], ['ls', '/ls/file'], ['ls', '/ls/sub/deeper'], ['ls', '/ls/none'],
    ], 3, (args) => fs(...args));
    assertOk(plain);
    assert.equal(plain.stdout, 'dirlink\nfile\nlink\nsub/\n');

    assertOk(long);
    const lines = long.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 4);
    const stamp = '\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d';
    assert.match(lines[0]!, new RegExp(`^lrwxrwxrwx +1 +\\d+ +\\d+ +7 ${stamp} dirlink -> /ls/sub$`));
    assert.match(lines[1]!, new RegExp(`^-rw-r--r-- +1 +\\d+ +\\d+ +0 ${stamp} file$`));
    assert.match(lines[2]!, new RegExp(`^lrwxrwxrwx +1 +\\d+ +\\d+ +8 ${stamp} link -> /ls/file$`));
    assert.match(lines[3]!, new RegExp(`^drwxr-xr-x +3 +\\d+ +\\d+ +0 ${stamp} sub$`));

    assertOk(js);
    const rows = parseJson<AttrJson[]>(js.stdout);
    assert.deepEqual(rows.map((r) => [r.name, r.type]), [['dirlink', 'symlink'], ['file', 'file'], ['link', 'symlink'], ['sub', 'directory']]);
    assert.equal(rows[1]!.ino, String((await resolve('/ls/file')).ino));
    assert.equal(rows[3]!.nlink, 3);
    // --json also works after the subcommand.
    assert.deepEqual(parseJson<AttrJson[]>(jsAfter.stdout).map((r) => r.name), ['dirlink', 'file', 'link', 'sub']);

    // ls follows a symlink to a directory, and shows a single entry for a file.
    assert.equal(viaLink.stdout, 'deeper/\n');
    assert.equal(aFile.stdout, 'file\n');
    assertOk(emptyDir);
    assert.equal(emptyDir.stdout, '');
    assertErrno(none, 'ENOENT');
  });

  test('stat and stat --json (inode numbers are decimal strings)', async () => {
    await mkdirs('/st');
    await touch('/st/f');
    await symlink('/st/f', '/st/l');
    const f = await resolve('/st/f');

    const [j, l, text, none] = await pooled([['--json', 'stat', '/st/f'], ['--json', 'stat', '/st/l'], ['stat', '/st/f'], ['stat', '/st/none']], 3, (args) => fs(...args));
    assertOk(j);
    const s = parseJson<AttrJson>(j.stdout);
    assert.equal(typeof s.ino, 'string');
    assert.match(s.ino, /^[1-9][0-9]*$/);
    assert.equal(BigInt(s.ino), f.ino);
    assert.equal(s.path, '/st/f');
    assert.equal(s.type, 'file');
    assert.equal(s.mode, '0644');
    assert.equal(s.size, '0');
    assert.equal(s.nlink, 1);
    assert.equal(s.parent, String((await resolve('/st')).ino));
    assert.equal(s.version, String(f.version));

    const lj = parseJson<AttrJson>(l.stdout);
    assert.equal(lj.type, 'symlink', 'stat does not follow the last symlink');
    assert.equal(lj.target, '/st/f');

    assertOk(text);
    assert.match(text.stdout, /^ {2}File: \/st\/f$/m);
    assert.match(text.stdout, new RegExp(`^ Inode: ${f.ino} `, 'm'));
    assert.match(text.stdout, /Access: \(0644\/-rw-r--r--\)/);
    assertErrno(none, 'ENOENT');
  });

  test('mv: rename, into an existing directory, -n refuses, -T replaces', async () => {
    await mkdirs('/mv/dir');
    await touch('/mv/a', '/mv/f1', '/mv/f2');
    const a = await resolve('/mv/a');
    const f1 = await resolve('/mv/f1');
    const f2 = await resolve('/mv/f2');

    assertOk(await fs('mv', '/mv/a', '/mv/b'));
    assert.ok(await missing('/mv/a'));
    assert.equal((await resolve('/mv/b')).ino, a.ino);

    assertOk(await fs('mv', '/mv/b', '/mv/dir'));
    assert.ok(await missing('/mv/b'));
    assert.equal((await resolve('/mv/dir/b')).ino, a.ino);
    assert.equal((await resolve('/mv/dir/b')).parent, (await resolve('/mv/dir')).ino);

    const before = await snapshot();
    const r = await fs('mv', '-n', '/mv/f1', '/mv/f2');
    assertErrno(r, 'EEXIST');
    assert.deepEqual(await snapshot(), before, '-n changed nothing');
    assertErrno(await fs('mv', '--no-clobber', '/mv/f1', '/mv/f2'), 'EEXIST');

    // Without -n an existing file is replaced.
    assertOk(await fs('mv', '/mv/f1', '/mv/f2'));
    assert.ok(await missing('/mv/f1'));
    assert.equal((await resolve('/mv/f2')).ino, f1.ino);
    await assert.rejects(client.getattr(f2.ino), (e: unknown) => e instanceof WharfError && e.errno === 'ENOENT');

    // A directory onto an existing directory: without -T it goes inside, with -T it replaces it.
    await mkdirs('/mv/d1', '/mv/d2', '/mv/d3');
    const d1 = await resolve('/mv/d1');
    const d2 = await resolve('/mv/d2');
    const d3 = await resolve('/mv/d3');
    assertOk(await fs('mv', '/mv/d3', '/mv/d2'));
    assert.equal((await resolve('/mv/d2/d3')).ino, d3.ino);
    assert.equal((await resolve('/mv/d2')).nlink, 3);
    // -T onto a non-empty directory is refused.
    assertErrno(await fs('mv', '-T', '/mv/d1', '/mv/d2'), 'ENOTEMPTY');
    await client.rmdir((await resolve('/mv/d2')).ino, 'd3');
    assertOk(await fs('mv', '-T', '/mv/d1', '/mv/d2'));
    assert.ok(await missing('/mv/d1'));
    assert.equal((await resolve('/mv/d2')).ino, d1.ino);
    await assert.rejects(client.getattr(d2.ino), (e: unknown) => e instanceof WharfError && e.errno === 'ENOENT');
    const mvDir = await resolve('/mv');
    assert.equal(mvDir.nlink, 4, '/mv holds dir and d2');
  });

  test('rm: files, directories need -r, -d only removes empty ones, -r removes a subtree', async () => {
    await mkdirs('/rm/tree/a/b', '/rm/empty');
    await touch('/rm/f', '/rm/tree/x', '/rm/tree/a/y', '/rm/tree/a/b/z');
    await symlink('/rm/f', '/rm/link');

    assertOk(await fs('rm', '/rm/link'));
    assert.ok(await missing('/rm/link'));
    assert.equal((await resolve('/rm/f')).type, 'file', 'removing a symlink leaves its target');
    assertOk(await fs('rm', '/rm/f'));
    assert.ok(await missing('/rm/f'));

    let before = await snapshot();
    assertErrno(await fs('rm', '/rm/tree'), 'EISDIR');
    assertErrno(await fs('rm', '-d', '/rm/tree'), 'ENOTEMPTY');
    assertErrno(await fs('rm', '-d', '/rm/tree/x'), 'ENOTDIR');
    assert.deepEqual(await snapshot(), before);

    assertOk(await fs('rm', '-d', '/rm/empty'));
    assert.ok(await missing('/rm/empty'));

    const inodesBefore = (await client.statfs()).usedInodes;
    const r = await fs('--json', 'rm', '-r', '/rm/tree');
    assertOk(r);
    assert.deepEqual(parseJson<{ path: string; removed: number }>(r.stdout), { path: '/rm/tree', removed: 6 });
    assert.ok(await missing('/rm/tree'));
    assert.equal((await client.statfs()).usedInodes, inodesBefore - 6n);
    const rm = await resolve('/rm');
    assert.equal(rm.nlink, 2);
    assert.equal((await fs('ls', '/rm')).stdout, '');

    before = await snapshot();
    assertErrno(await fs('rm', '-r', '/rm/tree'), 'ENOENT');
    assert.deepEqual(await snapshot(), before);
  });

  test('tree, tree -L and tree --json', async () => {
    await mkdirs('/t/a/inner');
    await touch('/t/a/deep', '/t/b');

    const [full, one, depth3, j, jfull, root] = await pooled([
      ['tree', '/t'], ['tree', '-L', '1', '/t'], ['tree', '/t', '--depth', '3'], ['--json', 'tree', '-L', '1', '/t'], ['--json', 'tree', '/t'], ['tree', '-L', '1'],
    ], 3, (args) => fs(...args));
    assertOk(full);
    assert.equal(full.stdout, ['/t', '├── a/', '│   ├── deep', '│   └── inner/', '└── b', '', '2 directories, 2 files', ''].join('\n'));

    assertOk(one);
    assert.equal(one.stdout, ['/t', '├── a/ …', '└── b', '', '1 directories, 1 files', ''].join('\n'));
    assert.equal(depth3.stdout, full.stdout);

    assertOk(j);
    const t = parseJson<TreeJson>(j.stdout);
    assert.equal(t.name, '/t');
    assert.equal(t.ino, String((await resolve('/t')).ino));
    assert.deepEqual(t.children?.map((c) => [c.name, c.type, c.truncated ?? false, c.children]), [['a', 'directory', true, undefined], ['b', 'file', false, undefined]]);

    const jf = parseJson<TreeJson>(jfull.stdout);
    assert.deepEqual(jf.children?.[0]?.children?.map((c) => c.name), ['deep', 'inner']);
    assert.deepEqual(jf.children?.[0]?.children?.[1]?.children, []);

    // Without a path, tree starts at the root.
    assertOk(root);
    assert.match(root.stdout, /^\/\n/);
    assert.match(root.stdout, /^[├└]── t\/ …$/m);
  });

  test('df reports the inode count and bytes', async () => {
    const s = await client.statfs();
    const text = await fs('df');
    assertOk(text);
    assert.match(text.stdout, new RegExp(`^inodes used: ${s.usedInodes}$`, 'm'));
    assert.match(text.stdout, /^bytes used: +0$/m);
    assert.match(text.stdout, /^name max: +255$/m);
    const j = await fs('--json', 'df');
    assertOk(j);
    const d = parseJson<{ usedInodes: string; usedBytes: string; blockSize: string; maxNameLength: number }>(j.stdout);
    assert.equal(d.usedInodes, String(s.usedInodes));
    assert.equal(d.usedBytes, '0');
    assert.equal(d.blockSize, '4096');
    assert.equal(d.maxNameLength, 255);
    assertOk(await fs('touch', '/df-one-more'));
    assert.match((await fs('df')).stdout, new RegExp(`^inodes used: ${s.usedInodes + 1n}$`, 'm'));
  });

  test('WHARF_MASTER is used when --master is absent, and --master wins over it', async () => {
    assertOk(await fs('mkdir', '/env-check'));
    const viaEnv = await wharf(['fs', 'ls', '/'], { WHARF_MASTER: master.address });
    assertOk(viaEnv);
    assert.match(viaEnv.stdout, /^env-check\/$/m);
    const dead = await deadAddress();
    const flagWins = await wharf(['fs', '--master', master.address, 'ls', '/'], { WHARF_MASTER: dead });
    assertOk(flagWins);
    assert.match(flagWins.stdout, /^env-check\/$/m);
    const envDead = await wharf(['fs', '--timeout', '1000', 'ls', '/'], { WHARF_MASTER: dead });
    assert.equal(envDead.code, 3, envDead.stderr);
    assert.ok(envDead.stderr.includes(dead), `names ${dead}: ${envDead.stderr}`);
  });

  test('an unreachable master exits 3 with a message naming the address', async () => {
    const dead = await deadAddress();
    const started = Date.now();
    const r = await wharf(['fs', '--master', dead, '--timeout', '1000', 'mkdir', '/never']);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, '');
    assert.ok(r.stderr.includes(dead), `names ${dead}: ${r.stderr}`);
    assert.match(r.stderr, /\(ENOTCONN\)/);
    assert.ok(Date.now() - started < 10_000, 'gives up near the --timeout');
    const j = await wharf(['fs', '--master', dead, '--timeout', '500', '--json', 'ls', '/']);
    assert.equal(j.code, 3);
    assert.equal(parseJson<{ error: { errno: string } }>(j.stderr).error.errno, 'ENOTCONN');
    assert.ok(await missing('/never'));
  });

  test('usage errors (unknown command or option, missing argument) exit 2', async () => {
    const before = await snapshot();
    const cases: { args: string[]; says: RegExp }[] = [
      { args: ['frob'], says: /unknown command 'frob'/ },
      { args: ['fs', '--master', master.address, 'frob', '/x'], says: /unknown command 'frob'/ },
      { args: ['fs', '--master', master.address, 'mkdir'], says: /missing required argument 'path'/ },
      { args: ['fs', '--master', master.address, 'mv', '/x'], says: /missing required argument 'destination'/ },
      { args: ['fs', '--master', master.address, 'ln', '/x'], says: /missing required argument 'path'/ },
      { args: ['fs', '--master', master.address, 'mkdir', '--bogus', '/x'], says: /unknown option '--bogus'/ },
      { args: ['fsck'], says: /required option '--data <dir>' not specified/ },
      { args: ['master'], says: /required option '--data <dir>' not specified/ },
    ];
    const results = await Promise.all(cases.map((c) => wharf(c.args)));
    results.forEach((r, i) => {
      assert.equal(r.code, 2, `${cases[i]!.args.join(' ')} → ${r.code}: ${r.stderr}`);
      assert.match(r.stderr, cases[i]!.says);
      assert.equal(r.stdout, '');
    });
    assert.deepEqual(await snapshot(), before);
    const help = await wharf(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: wharf/);
  });

  test('bad input fails with the exact errno, exit 1, and changes nothing', async () => {
    await mkdirs('/bad/d/sub');
    await touch('/bad/file');
    // The limits are in bytes: 127 two-byte characters and one ASCII byte make 255 bytes, which is fine.
    const longest = 'é'.repeat(127) + 'a';
    assert.equal(Buffer.byteLength(longest), 255);
    assertOk(await fs('touch', `/bad/${longest}`));
    const tooLong = 'é'.repeat(128);
    assert.equal(Buffer.byteLength(tooLong), 256);
    // 16 components of 250 bytes plus slashes: exactly 4096 bytes; one more byte is too long.
    const path4096 = ('/' + 'p'.repeat(255)).repeat(16);
    assert.equal(Buffer.byteLength(path4096), 4096);
    const path4097 = `${path4096}q`;

    const before = await snapshot();
    const cases: { args: string[]; errno: string }[] = [
      { args: ['mkdir', `/bad/${tooLong}`], errno: 'ENAMETOOLONG' },
      { args: ['touch', `/bad/${tooLong}`], errno: 'ENAMETOOLONG' },
      { args: ['mkdir', '-p', `/bad/new/${tooLong}`], errno: 'ENAMETOOLONG' },
      { args: ['mkdir', '-p', path4097], errno: 'ENAMETOOLONG' },
      { args: ['touch', path4097], errno: 'ENAMETOOLONG' },
      { args: ['ls', path4097], errno: 'ENAMETOOLONG' },
      { args: ['ls', path4096], errno: 'ENOENT' }, // the limit itself is allowed
      { args: ['mkdir', 'bad/rel'], errno: 'EINVAL' },
      { args: ['touch', 'rel'], errno: 'EINVAL' },
      { args: ['ls', 'bad'], errno: 'EINVAL' },
      { args: ['mkdir', '/bad/file/x'], errno: 'ENOTDIR' },
      { args: ['mkdir', '-p', '/bad/file/x/y'], errno: 'ENOTDIR' },
      { args: ['touch', '/bad/file/x'], errno: 'ENOTDIR' },
      { args: ['mkdir', '/bad/d'], errno: 'EEXIST' },
      { args: ['mkdir', '/bad/file'], errno: 'EEXIST' },
      { args: ['mkdir', '-p', '/bad/file'], errno: 'ENOTDIR' },
      { args: ['ln', '/x', '/bad/file'], errno: 'EEXIST' },
      { args: ['rm', '/bad/nope'], errno: 'ENOENT' },
      { args: ['rm', '/bad/nope/deeper'], errno: 'ENOENT' },
      { args: ['mv', '/bad/nope', '/bad/other'], errno: 'ENOENT' },
      { args: ['mv', '/bad/d', '/bad/d/sub'], errno: 'EINVAL' },
      { args: ['mv', '/bad/d', '/bad/d/sub/new'], errno: 'EINVAL' },
      { args: ['mv', '/bad/d', '/bad/file'], errno: 'ENOTDIR' },
      { args: ['mkdir', '-m', '999', '/bad/m'], errno: 'EINVAL' },
      { args: ['mkdir', '-p', '-m', '999', '/bad/m/n'], errno: 'EINVAL' },
      { args: ['mkdir', '-m', 'rwx', '/bad/m'], errno: 'EINVAL' },
      { args: ['rm', '/'], errno: 'EINVAL' },
    ];
    // None of these may change anything, so they run side by side and the tree is compared once after.
    const results = await pooled(cases, 3, (c) => fs(...c.args));
    results.forEach((r, i) => {
      const c = cases[i]!;
      try {
        assertErrno(r, c.errno);
      } catch (e) {
        (e as Error).message = `wharf fs ${c.args.join(' ').slice(0, 120)}: ${(e as Error).message}`;
        throw e;
      }
    });
    assert.deepEqual(await snapshot(), before, 'a failed command changed the tree');
    assert.match(results[cases.findIndex((c) => c.args[2] === '999')]!.stderr, /mode "999"/);
    assert.ok(results[cases.findIndex((c) => c.args.join(' ') === 'mkdir /bad/file/x')]!.stderr.startsWith('wharf: mkdir /bad/file/x: Not a directory (ENOTDIR): '));

    // --json: the error is one JSON object on stderr.
    const [j, jlRun] = await Promise.all([fs('--json', 'mkdir', '/bad/d'), fs('--json', 'touch', `/bad/${tooLong}`)]);
    assert.equal(j.code, 1);
    assert.equal(j.stdout, '');
    const err = parseJson<{ error: { op: string; errno: string; message: string } }>(j.stderr);
    assert.equal(err.error.errno, 'EEXIST');
    assert.equal(err.error.op, 'mkdir /bad/d');
    assert.match(err.error.message, /already exists/);
    assert.equal(jlRun.code, 1);
    const jl = parseJson<{ error: { errno: string } }>(jlRun.stderr);
    assert.equal(jl.error.errno, 'ENAMETOOLONG');
    assert.deepEqual(await snapshot(), before);
  });

  test('fsck on the data directory of the running master exits 8: the directory is in use', async () => {
    const before = await snapshot();
    for (const args of [['fsck', '--data', dataDir], ['fsck', '--data', dataDir, '--repair']]) {
      const r = await wharf(args);
      assert.equal(r.code, 8, r.stderr);
      assert.match(r.stderr, /in use/);
      assert.match(r.stderr, /\(EBUSY\)/);
      assert.ok(r.stderr.includes(dataDir));
    }
    assert.deepEqual(await snapshot(), before, 'the master is undisturbed');
  });

  test('a second master on the same data directory fails with a clear message', async () => {
    const r = await wharf(['master', '--data', dataDir, '--listen', '127.0.0.1:0'], {}, 15_000);
    assert.notEqual(r.code, 0);
    assert.ok(r.code > 0, `exited by itself (code ${r.code}), not killed at the deadline`);
    assert.doesNotMatch(r.stdout, /listening/);
    assert.match(r.stderr, /\(EBUSY\)/);
    assert.match(r.stderr, /in use/);
    assert.ok(r.stderr.includes(dataDir));
    // The first master still serves.
    assertOk(await fs('ls', '/'));
  });
});

describe('wharf fsck', () => {
  test('clean → 0; dangling entry → 4; --repair → 1; then clean again; --json is a parseable report', async () => {
    const tmp = tempDir('wharf-cli-fsck-');
    try {
      const dir = join(tmp.path, 'meta');
      const t = await InodeTree.open(dir);
      try {
        const a = await t.mkdir(ROOT_INO, 'a', { mode: 0o755, uid: 0, gid: 0 });
        await t.create(a.ino, 'f', { mode: 0o644, uid: 0, gid: 0 });
      } finally {
        await t.close();
      }

      const clean = await wharf(['fsck', '--data', dir]);
      assert.equal(clean.code, 0, clean.stderr);
      assert.match(clean.stdout, /3 inodes, 2 entries checked: clean/);

      const corrupt = async (fn: (db: Db) => Promise<void>): Promise<void> => {
        const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
        await db.open();
        try {
          await fn(db);
        } finally {
          await db.close();
        }
      };
      await corrupt((db) => db.put(dentryKey(ROOT_INO, 'ghost'), encodeDentry(999n, 'file')));

      const found = await wharf(['fsck', '--data', dir]);
      assert.equal(found.code, 4, found.stderr);
      assert.match(found.stdout, /^PROBLEM  dangling-entry: entry "ghost" in directory 1 points to missing inode 999$/m);
      assert.match(found.stdout, /1 problem\(s\) left, 0 repaired/);

      const js = await wharf(['fsck', '--data', dir, '--json']);
      assert.equal(js.code, 4);
      const report = parseJson<{ inodes: number; entries: number; clean: boolean; findings: { kind: string; ino?: string; repaired: boolean; detail: string }[] }>(js.stdout);
      assert.equal(report.clean, false);
      assert.equal(report.inodes, 3);
      assert.equal(report.entries, 3);
      assert.deepEqual(report.findings.map((f) => [f.kind, f.ino, f.repaired]), [['dangling-entry', '999', false]]);

      const fixed = await wharf(['fsck', '--data', dir, '--repair']);
      assert.equal(fixed.code, 1, `corrected → 1; ${fixed.stdout} ${fixed.stderr}`);
      assert.match(fixed.stdout, /^repaired dangling-entry: /m);
      assert.match(fixed.stdout, /0 problem\(s\) left, 1 repaired/);

      const again = await wharf(['fsck', '--data', dir, '--json']);
      assert.equal(again.code, 0, again.stdout);
      assert.deepEqual(parseJson<{ findings: unknown[]; clean: boolean }>(again.stdout), { inodes: 3, entries: 2, findings: [], clean: true });

      // A problem repair may not touch (a second entry for a directory) stays: --repair exits 4.
      await corrupt(async (db) => {
        await db.put(dentryKey(ROOT_INO, 'alias'), encodeDentry(2n, 'directory'));
      });
      const left = await wharf(['fsck', '--data', dir, '--repair']);
      assert.equal(left.code, 4, left.stdout);
      assert.match(left.stdout, /^PROBLEM  multiply-linked: /m);

      // The repaired namespace serves: a master starts on it and lists it.
      await corrupt((db) => db.del(dentryKey(ROOT_INO, 'alias')));
      assert.equal((await wharf(['fsck', '--data', dir, '--repair'])).code, 1, "the root's link count, repaired for the alias, is repaired back");
      assert.equal((await wharf(['fsck', '--data', dir])).code, 0);
      const m = await startMasterProcess(dir);
      try {
        const ls = await wharf(['fs', '--master', m.address, 'ls', '/a']);
        assertOk(ls);
        assert.equal(ls.stdout, 'f\n');
      } finally {
        m.child.kill('SIGTERM');
        await m.exited;
      }
    } finally {
      tmp.remove();
    }
  });

  test('fsck of a directory with no namespace exits 8', async () => {
    const tmp = tempDir('wharf-cli-fsck-');
    try {
      for (const dir of [tmp.path, join(tmp.path, 'missing')]) {
        const r = await wharf(['fsck', '--data', dir]);
        assert.equal(r.code, 8, r.stderr);
        assert.equal(r.stdout, '');
        assert.match(r.stderr, /\(ENOENT\)/);
        assert.match(r.stderr, /no namespace/);
      }
    } finally {
      tmp.remove();
    }
  });
});
