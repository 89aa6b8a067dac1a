// Rebuilds fuse-native from its own source with one bug fixed, at `npm ci`
// (postinstall). fuse-native 2.2.6 hands the access time to JavaScript for both
// times of utimens (fuse-native.c: FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)), so every
// utimensat(2) through a mount set mtime to the atime it was given: `cp -p`, `rsync
// -t` and os.utime() lost the modification time. The fix passes l->mtime.
//
// The build uses npm's own node-gyp and the machine's Node headers, and links the
// system's libfuse2 as the prebuilt binary does; node-gyp-build then loads
// build/Release before the prebuilds. If the build fails the prebuilt binary stays
// in use (with the bug) and this says so loudly; the mount tests then fail on it.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
let dir;
try {
  dir = dirname(require.resolve('fuse-native/package.json'));
} catch {
  process.exit(0); // not installed (an install without it): nothing to fix
}
const source = join(dir, 'fuse-native.c');
const BUG = 'FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)';
const FIX = 'FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)';
try {
  const text = readFileSync(source, 'utf8');
  if (text.includes(BUG)) writeFileSync(source, text.replace(BUG, FIX));
  else if (!text.includes(FIX)) {
    console.warn('build-fuse-native: fuse-native.c has changed (neither the bug nor the fix found); left as it is');
    process.exit(0);
  }
} catch (e) {
  console.warn(`\n*** build-fuse-native: cannot patch ${source} (${e.message}); the prebuilt binary stays, with its utimens bug. ***\n`);
  process.exit(0);
}

const gyp = [process.env.npm_config_node_gyp, join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js')]
  .find((p) => p && existsSync(p));
// The headers of the running Node (no download: this machine's network may be closed).
const nodedir = [process.env.npm_config_nodedir, dirname(dirname(process.execPath))].find((d) => d && existsSync(join(d, 'include/node/node.h')));
const args = [gyp, 'rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
// Bounded: a node-gyp that tries to download headers on a closed network must not hang the install.
const run = gyp ? spawnSync(process.execPath, args, { cwd: dir, stdio: 'inherit', timeout: 180_000 }) : { status: 1, error: new Error('node-gyp not found') };
if (run.status !== 0) {
  rmSync(join(dir, 'build'), { recursive: true, force: true });
  console.warn(`\n*** build-fuse-native: could not rebuild fuse-native (${run.error?.message ?? `node-gyp exited ${run.status}`}); the prebuilt binary stays, and with it the utimens bug (mtime set to atime). ***\n`);
}
