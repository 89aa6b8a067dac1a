// POSIX through a real FUSE mount (`wharf up` in a child process), on a local
// directory store and on s3rver: the shell tools people use (ls, stat, cat, cp -r,
// mv, rm -r, mkdir -p, ln -s, dd, tar, truncate, chmod/chown/touch), reads at random
// offsets from this process, exact errnos, permission checks by the kernel, and
// the store itself checked directly: what the mount writes lands there byte-exact,
// what was in the store before the mount reads byte-exact through it.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { link, mkdir, open, readdir, readFile, readlink as readlinkP, rename, rm, rmdir, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalStore, S3Store, mulberry32, type UnderStore } from '../src/ufs/index.js';
import { s3rverMountSettings, sh, shOk, wharfUp, type MountProcess } from './helpers/mount.js';
import { startS3rver, type S3rver } from './helpers/s3rver.js';
import { tempDir } from './helpers/tmp.js';

const MiB = 1024 * 1024;

interface Backend {
  name: string;
  /** The store as the test sees it, and the key prefix the mount's root maps to. */
  store: UnderStore;
  prefix: string;
  uri: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  close: () => Promise<void>;
}

const backends: { name: string; open: () => Promise<Backend> }[] = [
  {
    name: 'local directory store',
    open: async () => {
      const dir = tempDir('wharf-posix-store-');
      const store = await LocalStore.open(dir.path);
      return { name: 'local', store, prefix: '', uri: `file://${dir.path}`, args: [], env: {}, close: async () => { await store.close(); dir.remove(); } };
    },
  },
  {
    name: 's3rver store',
    open: async () => {
      const server: S3rver = await startS3rver('wharf-posix');
      const store = new S3Store(server.storeOptions());
      const { env, args } = s3rverMountSettings(server);
      return { name: 's3', store, prefix: 'mnt/', uri: `s3://${server.bucket}/mnt/`, args, env, close: async () => { await store.close(); await server.stop(); } };
    },
  },
];

async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Seeded (mulberry32): WHARF_SEED=N replays the random reads of a failed run. */
const SEED = Number(process.env['WHARF_SEED'] ?? Math.floor(Math.random() * 2 ** 31));

/** The source tree cp -r and tar copy in: a few hundred small files in nested directories and a few MB files. */
function makeTree(root: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (let d = 0; d < 8; d++) {
    for (let f = 0; f < 30; f++) {
      const rel = `d${d}/${d % 2 ? `inner/` : ''}f${String(f).padStart(3, '0')}.txt`;
      files.set(rel, randomBytes(Math.floor(Math.random() * 3000)));
    }
  }
  files.set('empty.txt', Buffer.alloc(0));
  files.set('big/one.bin', randomBytes(3 * MiB + 17));
  files.set('big/two.bin', randomBytes(2 * MiB));
  for (const [rel, data] of files) {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), data);
  }
  return files;
}

async function rejectsCode(p: Promise<unknown>, codes: string[]): Promise<void> {
  await assert.rejects(p, (e: NodeJS.ErrnoException) => {
    assert.ok(codes.includes(e.code ?? ''), `expected ${codes.join('|')}, got ${e.code}: ${e.message}`);
    return true;
  });
}

for (const b of backends) {
  describe(`mount POSIX on the ${b.name}`, () => {
    let be: Backend;
    let tmp: { path: string; remove: () => void };
    let mnt: string;
    let m: MountProcess;
    const imported = new Map<string, Buffer>();
    let tree: Map<string, Buffer>;
    let treeSrc: string;

    /** The object behind mount path `rel`, straight from the store (undefined if missing). */
    const inStore = async (rel: string): Promise<Buffer | undefined> => {
      if (!(await be.store.head(be.prefix + rel))) return undefined;
      return readAll(await be.store.get(be.prefix + rel));
    };
    /** Every key under mount path `relDir`/, relative to the mount root. */
    const keysUnder = async (relDir: string): Promise<string[]> => {
      const out: string[] = [];
      let token: string | undefined;
      do {
        const page = await be.store.list(`${be.prefix}${relDir}/`, token ? { token } : {});
        out.push(...page.objects.map((o) => o.key.slice(be.prefix.length)));
        token = page.nextToken;
      } while (token);
      return out.sort();
    };
    const inMount = (rel: string): string => join(mnt, rel);
    const run = (script: string) => shOk(script, { cwd: mnt });

    before(async () => {
      be = await b.open();
      tmp = tempDir('wharf-posix-');
      chmodSync(tmp.path, 0o755); // uid 65534 must reach the mountpoint for the permission test
      mnt = join(tmp.path, 'mnt');
      imported.set('data/hello.txt', Buffer.from('hello world\n'));
      imported.set('data/empty', Buffer.alloc(0));
      imported.set('data/big.bin', randomBytes(5 * MiB + 12_345));
      for (let i = 0; i < 20; i++) imported.set(`data/sub/n${String(i).padStart(2, '0')}.txt`, Buffer.from(`small file ${i}\n`.repeat(i + 1)));
      for (const [rel, data] of imported) await be.store.put(be.prefix + rel, data);
      treeSrc = join(tmp.path, 'src');
      tree = makeTree(treeSrc);
      m = await wharfUp({
        store: be.uri, mountpoint: mnt, cacheDir: join(tmp.path, 'cache'), env: be.env,
        args: [...be.args, '--attr-timeout', '200', '--block-size', '1MB', '--allow-other', '--default-permissions'],
      });
    });

    after(async () => {
      await m?.stop();
      await be?.close();
      tmp?.remove();
    });

    it('shows what was in the store: ls, stat, cat and sha256sum byte-exact', async () => {
      assert.deepEqual((await run('ls data')).split('\n').filter(Boolean), ['big.bin', 'empty', 'hello.txt', 'sub']);
      assert.equal(Number(await run('ls data/sub | wc -l')), 20);
      assert.equal(await run('cat data/hello.txt'), 'hello world\n');
      assert.equal(await run('cat data/empty'), '');
      assert.equal(await run('stat -c "%s %F" data/big.bin data/empty'), `${imported.get('data/big.bin')!.length} regular file\n0 regular empty file\n`);
      assert.equal(await run('stat -c %F data/sub'), 'directory\n');
      const sums = await run('sha256sum data/big.bin data/hello.txt data/sub/*');
      for (const line of sums.trim().split('\n')) {
        const [hash, rel] = line.split(/\s+/);
        assert.equal(hash, sha256(imported.get(rel!)!), rel);
      }
      assert.equal(sums.trim().split('\n').length, 22);
    });

    it('200 reads at random offsets (from this process) match the source bytes', async () => {
      const src = imported.get('data/big.bin')!;
      const random = mulberry32(SEED);
      const fh = await open(inMount('data/big.bin'), 'r');
      try {
        const one = async (): Promise<void> => {
          const off = Math.floor(random() * (src.length + 1000));
          const len = 1 + Math.floor(random() * 300_000);
          const buf = Buffer.alloc(len);
          let got = 0;
          for (;;) { // a read may be short; read on until EOF or full
            const { bytesRead } = await fh.read(buf, got, len - got, off + got);
            if (bytesRead === 0) break;
            got += bytesRead;
            if (got === len) break;
          }
          assert.equal(got, Math.max(0, Math.min(len, src.length - off)), `read ${len} at ${off} (WHARF_SEED=${SEED})`);
          assert.ok(buf.subarray(0, got).equals(src.subarray(off, off + got)), `bytes at ${off}+${len} (WHARF_SEED=${SEED})`);
        };
        for (let i = 0; i < 100; i++) await one();
        for (let i = 0; i < 10; i++) await Promise.all(Array.from({ length: 10 }, one));
      } finally {
        await fh.close();
      }
    });

    it('cp -r of a tree (240 small files, MB files) reads back byte-exact and lands in the store byte-exact', async () => {
      await shOk(`cp -r ${treeSrc} ${inMount('tree')}`);
      const diff = await sh(`diff -r ${treeSrc} ${inMount('tree')}`);
      assert.equal(diff.code, 0, diff.stdout + diff.stderr);
      const sums = await shOk(`cd ${treeSrc} && find . -type f | sort | xargs sha256sum > /tmp/.wharf-sums-$$ && cd ${inMount('tree')} && sha256sum -c --quiet /tmp/.wharf-sums-$$; r=$?; rm -f /tmp/.wharf-sums-$$; exit $r`);
      assert.equal(sums, '');
      const keys = await keysUnder('tree');
      const fileKeys = keys.filter((k) => !k.endsWith('/'));
      assert.deepEqual(fileKeys, [...tree.keys()].map((r) => `tree/${r}`).sort());
      for (const [rel, data] of tree) {
        const got = await inStore(`tree/${rel}`);
        assert.ok(got && got.equals(data), `store object tree/${rel}`);
      }
    });

    it('tar c from the mount and tar x into the mount round-trip the tree', async () => {
      const out = join(tmp.path, 'untarred');
      await mkdir(out);
      await shOk(`tar cf - -C ${inMount('tree')} . | tar xf - -C ${out}`);
      let d = await sh(`diff -r ${treeSrc} ${out}`);
      assert.equal(d.code, 0, d.stdout + d.stderr);
      await mkdir(inMount('tarx'));
      await shOk(`tar cf - -C ${treeSrc} . | tar xf - -C ${inMount('tarx')}`);
      d = await sh(`diff -r ${treeSrc} ${inMount('tarx')}`);
      assert.equal(d.code, 0, d.stdout + d.stderr);
      for (const rel of ['big/one.bin', 'd3/inner/f007.txt', 'empty.txt']) assert.ok((await inStore(`tarx/${rel}`))?.equals(tree.get(rel)!), rel);
    });

    it('mv renames files and directories, in the mount and in the store', async () => {
      await run('mkdir -p mv/a && printf "moving bytes" > mv/a/f.txt && cp data/hello.txt mv/h.txt');
      await run('mv mv/a/f.txt mv/g.txt && mv mv/h.txt mv/a/h2.txt');
      assert.equal(await readFile(inMount('mv/g.txt'), 'utf8'), 'moving bytes');
      assert.equal(await readFile(inMount('mv/a/h2.txt'), 'utf8'), 'hello world\n');
      await rejectsCode(stat(inMount('mv/a/f.txt')), ['ENOENT']);
      assert.equal((await inStore('mv/g.txt'))?.toString(), 'moving bytes');
      assert.equal((await inStore('mv/a/h2.txt'))?.toString(), 'hello world\n');
      assert.equal(await inStore('mv/a/f.txt'), undefined);
      assert.equal(await inStore('mv/h.txt'), undefined);
      // A directory (mv copies on EXDEV, then removes the source).
      await run('mv mv/a mv/b');
      assert.deepEqual((await readdir(inMount('mv'))).sort(), ['b', 'g.txt']);
      assert.equal(await readFile(inMount('mv/b/h2.txt'), 'utf8'), 'hello world\n');
      assert.equal((await inStore('mv/b/h2.txt'))?.toString(), 'hello world\n');
      assert.deepEqual((await keysUnder('mv')).filter((k) => !k.endsWith('/')), ['mv/b/h2.txt', 'mv/g.txt']);
      // Renaming over an existing file replaces it.
      await run('printf new > mv/n.txt && mv mv/n.txt mv/g.txt');
      assert.equal(await readFile(inMount('mv/g.txt'), 'utf8'), 'new');
      assert.equal((await inStore('mv/g.txt'))?.toString(), 'new');
      assert.equal(await inStore('mv/n.txt'), undefined);
    });

    it('rm -r removes a tree from the mount and from the store', async () => {
      await run('mkdir -p rm/x/y && for i in 1 2 3; do echo $i > rm/x/y/f$i; echo $i > rm/x/g$i; done');
      assert.equal((await keysUnder('rm')).filter((k) => !k.endsWith('/')).length, 6);
      await run('rm -r rm/x');
      assert.deepEqual(await readdir(inMount('rm')), []);
      assert.deepEqual((await keysUnder('rm')).filter((k) => k.startsWith('rm/x')), []);
      await run('rm -r rm');
      await rejectsCode(stat(inMount('rm')), ['ENOENT']);
      assert.deepEqual(await keysUnder('rm'), []);
    });

    it('mkdir -p, ln -s and readlink', async () => {
      await run('mkdir -p deep/a/b/c/d && ln -s ../hello.txt deep/a/link && ln -s /etc/hostname deep/abs');
      assert.ok((await stat(inMount('deep/a/b/c/d'))).isDirectory());
      assert.equal((await run('readlink deep/a/link')).trim(), '../hello.txt');
      assert.equal(await readlinkP(inMount('deep/abs')), '/etc/hostname');
      assert.equal((await run('stat -c %F deep/a/link')).trim(), 'symbolic link');
      await run('cp data/hello.txt deep/hello.txt');
      assert.equal(await run('cat deep/a/link'), 'hello world\n', 'a relative link resolves through the mount');
      // The directories exist on the store side: their markers (S3) or directories (local).
      const keys = await keysUnder('deep');
      assert.ok(keys.includes('deep/a/b/c/d/') || keys.some((k) => k.startsWith('deep/a/b/c/d')), `store keys ${keys.join(',')}`);
      // mkdir -p of an existing path succeeds; mkdir of it does not.
      await run('mkdir -p deep/a/b');
      const r = await sh('mkdir deep/a/b', { cwd: mnt });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /File exists/);
    });

    it('dd, overwrite in place (conv=notrunc), truncate shrink/grow and >> append: mount and store agree byte for byte', async () => {
      const check = async (expected: Buffer, step: string): Promise<void> => {
        assert.ok((await readFile(inMount('io/f.bin'))).equals(expected), `${step}: read through the mount`);
        assert.equal((await stat(inMount('io/f.bin'))).size, expected.length, `${step}: size`);
        const stored = await inStore('io/f.bin');
        assert.ok(stored?.equals(expected), `${step}: store object (${stored?.length} bytes, expected ${expected.length})`);
      };
      const src = randomBytes(3 * MiB + 100);
      await writeFile(join(tmp.path, 'dd.src'), src);
      await run(`mkdir io && dd if=${join(tmp.path, 'dd.src')} of=io/f.bin bs=256k status=none`);
      let expected = Buffer.from(src);
      await check(expected, 'dd');
      assert.equal((await run('sha256sum io/f.bin')).split(' ')[0], sha256(src));

      await run(`printf 'PATCHED' | dd of=io/f.bin bs=1 seek=1048570 conv=notrunc status=none`);
      expected.write('PATCHED', 1048570);
      await check(expected, 'dd conv=notrunc');

      await run('truncate -s 1000 io/f.bin');
      expected = expected.subarray(0, 1000);
      await check(expected, 'truncate shrink');

      await run('truncate -s 5000 io/f.bin');
      expected = Buffer.concat([expected, Buffer.alloc(4000)]);
      await check(expected, 'truncate grow');

      // truncate(2) by path, and the file read at once (the name must not look absent).
      assert.equal(await run(`echo hello > io/t && perl -e 'truncate("io/t", 2) or die "truncate: $!"' && cat io/t`), 'he');
      assert.equal((await inStore('io/t'))?.toString(), 'he');

      await run(`printf 'tail 1\\n' >> io/f.bin && echo 'tail 2' >> io/f.bin`);
      expected = Buffer.concat([expected, Buffer.from('tail 1\ntail 2\n')]);
      await check(expected, 'append');

      await run('echo replaced > io/f.bin');
      await check(Buffer.from('replaced\n'), 'overwrite with >');
    });

    it('chmod, chown and touch -d show in stat', async () => {
      await run('mkdir -p attrs/dir && printf x > attrs/f');
      await run('chmod 640 attrs/f && chmod 700 attrs/dir && chown 1234:5678 attrs/f && touch -d "2001-02-03 04:05:06 UTC" attrs/f');
      assert.equal((await run('stat -c "%a %u %g %Y %X" attrs/f')).trim(), '640 1234 5678 981173106 981173106');
      assert.equal((await run('stat -c %a attrs/dir')).trim(), '700');
      const s = await stat(inMount('attrs/f'));
      assert.equal(s.mode & 0o7777, 0o640);
      assert.equal(s.uid, 1234);
      assert.equal(s.gid, 5678);
      assert.equal(s.mtime.toISOString(), '2001-02-03T04:05:06.000Z');
      await run('touch -d "2010-01-01 00:00:00 UTC" attrs/f && chmod u+x attrs/f && chgrp 42 attrs/f');
      assert.equal((await run('stat -c "%a %u %g %Y" attrs/f')).trim(), `740 1234 42 ${Date.UTC(2010, 0, 1) / 1000}`);
      await run('touch attrs/f');
      const now = Date.now() / 1000;
      const touched = Number((await run('stat -c %Y attrs/f')).trim());
      assert.ok(Math.abs(touched - now) < 60, `touch without -d sets the time to now (${touched} vs ${now})`);
      // New files and directories are the mount owner's.
      assert.equal((await run('touch attrs/new && stat -c "%u %g" attrs/new')).trim(), `${process.getuid!()} ${process.getgid!()}`);
    });

    it('utimensat with two different times keeps both (os.utime, cp -p: fuse-native rebuilt with its utimens fix)', async () => {
      await run('mkdir -p times && printf x > times/f');
      await run(`python3 -c "import os; os.utime('${inMount('times/f')}', (1000000000, 1500000000))"`);
      assert.equal((await run('stat -c "%X %Y" times/f')).trim(), '1000000000 1500000000');
      // cp -p of a file whose atime and mtime differ.
      const src = join(tmpdir(), `wharf-times-${process.pid}`);
      await writeFile(src, 'y');
      await utimes(src, 1100000000, 1200000000);
      try {
        await run(`cp -p ${src} times/copy`);
        assert.equal((await run('stat -c "%X %Y" times/copy')).trim(), '1100000000 1200000000');
      } finally {
        await rm(src, { force: true });
      }
    });

    it('touch -m and touch -a change one time only (UTIME_OMIT), touch alone sets both to now (UTIME_NOW), and each moves ctime', async () => {
      await run('mkdir -p times && printf x > times/one');
      await run(`python3 -c "import os; os.utime('${inMount('times/one')}', (1000000000, 1500000000))"`);
      const ctime0 = Number((await run('stat -c %Z times/one')).trim());
      await run('touch -m -d @1600000000 times/one');
      assert.equal((await run('stat -c "%X %Y" times/one')).trim(), '1000000000 1600000000', 'touch -m leaves atime');
      await run('touch -a -d @1100000000 times/one');
      assert.equal((await run('stat -c "%X %Y" times/one')).trim(), '1100000000 1600000000', 'touch -a leaves mtime');
      const before = Math.floor(Date.now() / 1000);
      await run('touch times/one');
      const [a, m, c] = (await run('stat -c "%X %Y %Z" times/one')).trim().split(' ').map(Number);
      const after = Math.ceil(Date.now() / 1000);
      for (const t of [a!, m!, c!]) assert.ok(t >= before && t <= after, `${t} is now (${before}..${after})`);
      assert.ok(c! >= ctime0);
      // Both times with nanoseconds (stat shows whole seconds; the mount keeps milliseconds).
      await run(`python3 -c "import os; os.utime('${inMount('times/one')}', ns=(1200000000123456789, 1300000000000000000))"`);
      assert.equal((await run('stat -c "%X %Y" times/one')).trim(), '1200000000 1300000000');
    });

    it('POSIX errors carry the exact errno', async () => {
      await run('mkdir -p err/full && echo x > err/full/f && echo y > err/file');
      await rejectsCode(readFile(inMount('err/missing')), ['ENOENT']);
      await rejectsCode(stat(inMount('err/missing/deeper')), ['ENOENT']);
      await rejectsCode(unlink(inMount('err/missing')), ['ENOENT']);
      await rejectsCode(mkdir(inMount('err/full')), ['EEXIST']);
      await rejectsCode(writeFile(inMount('err/file'), 'z', { flag: 'wx' }), ['EEXIST']);
      await rejectsCode(rmdir(inMount('err/full')), ['ENOTEMPTY']);
      await rejectsCode(open(inMount('err/full'), 'w'), ['EISDIR']);
      await rejectsCode(open(inMount('err/full'), 'r+'), ['EISDIR']);
      await rejectsCode(unlink(inMount('err/full')), ['EISDIR']);
      await rejectsCode(stat(inMount('err/file/x')), ['ENOTDIR']);
      await rejectsCode(writeFile(inMount('err/file/x'), 'z'), ['ENOTDIR']);
      await rejectsCode(rmdir(inMount('err/file')), ['ENOTDIR']);
      await rejectsCode(readdir(inMount('err/file')), ['ENOTDIR']);
      await rejectsCode(writeFile(inMount(`err/${'n'.repeat(256)}`), 'z'), ['ENAMETOOLONG']);
      await rejectsCode(mkdir(inMount(`err/${'n'.repeat(256)}`)), ['ENAMETOOLONG']);
      // Not created and never there: still ENAMETOOLONG, not ENOENT (after a listing of the directory, too).
      await readdir(inMount('err'));
      for (const op of [() => unlink(inMount(`err/${'n'.repeat(256)}`)), () => stat(inMount(`err/${'é'.repeat(128)}`)), () => rmdir(inMount(`err/${'n'.repeat(300)}`))]) {
        await rejectsCode(op(), ['ENAMETOOLONG']);
      }
      await rejectsCode(stat(inMount(`err/${'é'.repeat(127)}`)), ['ENOENT']);
      await rejectsCode(link(inMount('err/full'), inMount('err/hard')), ['EPERM']);
      await rejectsCode(link(inMount('err/file'), inMount('err/full/f')), ['EEXIST']);
      await rejectsCode(link(inMount('err/missing'), inMount('err/hard')), ['ENOENT']);
      // The same through the shell tools, by their messages.
      const cases: [string, RegExp][] = [
        ['cat err/missing', /No such file or directory/],
        ['mkdir err/full', /File exists/],
        ['rmdir err/full', /Directory not empty/],
        ['ls err/file/x', /Not a directory/],
        [`touch err/${'n'.repeat(256)}`, /File name too long/],
        ['ln err/full err/hard', /hard link not allowed for directory/],
      ];
      for (const [script, message] of cases) {
        const r = await sh(script, { cwd: mnt });
        assert.notEqual(r.code, 0, script);
        assert.match(r.stderr, message, script);
      }
      // Extended attributes are refused (EOPNOTSUPP): setfattr if installed, else setxattr(2) from Perl (always on Debian).
      const x = await sh(`if command -v setfattr >/dev/null; then exec setfattr -n user.k -v v err/file; fi
case "$(uname -m)" in x86_64) nr=188 ;; aarch64|arm64) nr=5 ;; *) echo "no setxattr syscall number for $(uname -m)" >&2; exit 2 ;; esac
perl -e 'my ($nr, $p, $n, $v) = @ARGV; syscall($nr, $p, $n, $v, length $v, 0) == -1 or exit 0; print STDERR "setxattr: $!\\n"; exit 1' "$nr" err/file user.k v`, { cwd: mnt });
      assert.equal(x.code, 1, x.stderr);
      assert.match(x.stderr, /Operation not supported/);
      // Nothing of the failures reached the store.
      assert.deepEqual((await keysUnder('err')).filter((k) => !k.endsWith('/')), ['err/file', 'err/full/f']);
    });

    it('the kernel checks permissions (--default-permissions --allow-other): EACCES for another user', async () => {
      await run('mkdir -p perm && echo secret > perm/private && chmod 600 perm/private && echo public > perm/public && chmod 644 perm/public');
      const as = (cmd: string) => sh(`setpriv --reuid=65534 --regid=65534 --clear-groups ${cmd}`, { cwd: mnt });
      const ok = await as('cat perm/public');
      assert.equal(ok.code, 0, `the positive control must pass: ${ok.stderr}`);
      assert.equal(ok.stdout, 'public\n');
      const denied = await as('cat perm/private');
      assert.notEqual(denied.code, 0);
      assert.match(denied.stderr, /Permission denied/);
      const write = await as('touch perm/new');
      assert.match(write.stderr, /Permission denied/, 'no write permission in a 755 root directory');
      assert.equal(await readFile(inMount('perm/private'), 'utf8'), 'secret\n', 'root still reads it');
    });

    it('an ftruncate past the staging disk\'s file-size limit is EFBIG (not EIO), and the file stays usable', async () => {
      // The staging directory sits on this machine's ext4 temp disk (16 TiB per file).
      const fh = await open(inMount('efbig.bin'), 'w+');
      try {
        await assert.rejects(fh.truncate(17 * 2 ** 40), (e: NodeJS.ErrnoException) => e.code === 'EFBIG');
        await fh.write(Buffer.from('still here'), 0, 10, 0);
      } finally {
        await fh.close();
      }
      assert.equal(await readFile(inMount('efbig.bin'), 'utf8'), 'still here');
    });

    it('a FIFO made in the mount carries data between processes; devices show their numbers; each is an empty object in the store', async () => {
      await run('mkdir -p special && mkfifo special/pipe && mknod special/null c 1 3 && mknod special/sdb b 8 16');
      assert.equal(await run('(echo through the pipe > special/pipe &) && cat special/pipe'), 'through the pipe\n');
      assert.equal(await run('stat -c "%F %t:%T %s" special/pipe special/null special/sdb'), 'fifo 0:0 0\ncharacter special file 1:3 0\nblock special file 8:10 0\n');
      assert.deepEqual((await keysUnder('special')).filter((k) => k !== 'special/'), ['special/null', 'special/pipe', 'special/sdb']);
      assert.equal((await inStore('special/pipe'))?.length, 0);
      assert.equal((await sh('mkfifo special/pipe', { cwd: mnt })).stderr.includes('File exists'), true);
      await run('rm special/pipe special/null special/sdb');
      assert.deepEqual((await keysUnder('special')).filter((k) => k !== 'special/'), [], 'rm deletes the objects');
    });

    it('hard links: one object in the store under the primary name; changes through one name show through all at once; rm of the primary name moves the object', async () => {
      await run('mkdir -p hl/a hl/b && printf "first version\\n" > hl/a/f && ln hl/a/f hl/b/g && ln hl/a/f hl/a/h');
      assert.equal(await run('stat -c "%h %i" hl/a/f hl/b/g hl/a/h | sort -u | wc -l; stat -c %h hl/b/g'), '1\n3\n', 'one inode, three names');
      assert.deepEqual((await keysUnder('hl')).filter((k) => !k.endsWith('/')), ['hl/a/f'], 'further names have no object');
      // A write and a chmod through one name are seen through the others at once (no attribute cache lag).
      await run('printf "second version, longer\\n" > hl/b/g && chmod 640 hl/a/h');
      assert.equal(await run('cat hl/a/f; stat -c "%a %s" hl/a/f hl/b/g'), 'second version, longer\n640 23\n640 23\n');
      assert.equal((await inStore('hl/a/f'))?.toString(), 'second version, longer\n');
      // rm of the primary name: the object moves to the next name (hl/a/h: same directory first in key order).
      await run('rm hl/a/f');
      assert.equal(await run('stat -c %h hl/b/g; cat hl/a/h'), '2\nsecond version, longer\n');
      assert.deepEqual((await keysUnder('hl')).filter((k) => !k.endsWith('/')), ['hl/a/h']);
      assert.equal((await inStore('hl/a/h'))?.toString(), 'second version, longer\n');
      // mv of a further name moves only the name; mv onto another name of the same file does nothing.
      await run('mv hl/b/g hl/b/g2');
      await rename(inMount('hl/b/g2'), inMount('hl/a/h')); // rename(2) itself: mv refuses ("the same file")
      assert.equal(await run('ls hl/a hl/b | tr "\\n" " "; stat -c %h hl/a/h'), 'hl/a: h  hl/b: g2 2\n');
      assert.deepEqual((await keysUnder('hl')).filter((k) => !k.endsWith('/')), ['hl/a/h']);
      // A rename replacing the primary name moves the object to the other name first.
      await run('printf other > hl/other && mv hl/other hl/a/h');
      assert.equal(await run('cat hl/a/h; echo; cat hl/b/g2; stat -c %h hl/b/g2'), 'other\nsecond version, longer\n1\n');
      assert.equal((await inStore('hl/b/g2'))?.toString(), 'second version, longer\n');
      assert.equal((await inStore('hl/a/h'))?.toString(), 'other');
      // Special files and symlinks link too; the last rm takes the object.
      await run('mkfifo hl/p && ln hl/p hl/b/p2 && ln -s target hl/s && ln hl/s hl/b/s2');
      assert.equal(await run('stat -c "%F %h" hl/b/p2; readlink hl/b/s2'), 'fifo 2\ntarget\n');
      await run('rm -r hl');
      assert.deepEqual(await keysUnder('hl'), []);
    });

    it('new files, directories and symlinks belong to the caller, not the mount; a setgid directory passes on its group', async () => {
      await run('mkdir -p shared && chmod 0777 shared && mkdir -p sgid && chown 0:4321 sgid && chmod 2777 sgid');
      const as = (cmd: string) => sh(`setpriv --reuid=65534 --regid=65533 --clear-groups sh -c '${cmd}'`, { cwd: mnt });
      const made = await as('touch shared/f && mkdir shared/d && ln -s f shared/l && touch -d @1500000000 shared/f');
      assert.equal(made.code, 0, `the caller can create and set the times of its own file: ${made.stderr}`);
      assert.equal(await run('stat -c "%u %g" shared/f shared/d shared/l'), '65534 65533\n65534 65533\n65534 65533\n');
      assert.equal(Math.floor((await stat(inMount('shared/f'))).mtimeMs / 1000), 1_500_000_000);
      const inherited = await as('touch sgid/f && mkdir sgid/d');
      assert.equal(inherited.code, 0, inherited.stderr);
      assert.equal(await run('stat -c "%u %g %a" sgid/f sgid/d'), '65534 4321 644\n65534 4321 2755\n');
      // Root's own creations stay root's.
      await run('touch shared/byroot');
      assert.equal(await run('stat -c "%u %g" shared/byroot'), '0 0\n');
    });
  });
}
