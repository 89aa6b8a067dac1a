// Rebuilds fuse-native from its own source with Wharf's fixes, at `npm ci`
// (postinstall). Each fix is a (before, after) pair of source text applied in place:
//
//  1. utimens: fuse-native 2.2.6 hands the access time to JavaScript for both times
//     (fuse-native.c: FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)), so every utimensat(2)
//     through a mount set mtime to the atime it was given. The fix passes l->mtime.
//  2. The caller: fuse-native does not tell JavaScript who made a request, so files
//     created through a mount belonged to the mount's owner. The fix records
//     fuse_get_context()'s uid, gid, pid and umask at the start of each request's
//     thread-local record (which JavaScript already receives as a Buffer), exports
//     a marker constant (wharf_caller_context), and adds Fuse#caller() reading them.
//     caller() answers undefined without the marker, so a prebuilt binary (without
//     the fix) is never read at the wrong offsets.
//
// The build uses npm's own node-gyp and the machine's Node headers, and links the
// system's libfuse2 as the prebuilt binary does; node-gyp-build then loads
// build/Release before the prebuilds. If the build fails the prebuilt binary stays
// in use (without the fixes) and this says so loudly; the mount tests then fail on it.
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
const C_FIXES = [
  ['FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)', 'FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)'],
  [
    'typedef struct {\n  napi_ref self;',
    'typedef struct {\n  // Wharf: the caller of the request in progress (fuse_get_context), at offset 0 for Fuse#caller().\n'
      + '  uint32_t caller_uid;\n  uint32_t caller_gid;\n  uint32_t caller_pid;\n  uint32_t caller_umask;\n  napi_ref self;',
  ],
  [
    '  l->op = op_##name;\\\n',
    '  l->op = op_##name;\\\n'
      + '  { struct fuse_context *wharf_fc = fuse_get_context(); l->caller_uid = wharf_fc->uid; l->caller_gid = wharf_fc->gid; l->caller_pid = wharf_fc->pid; l->caller_umask = wharf_fc->umask; }\\\n',
  ],
  ['static const uint32_t op_init = 0;', 'static const uint32_t wharf_caller_context = 1;\nstatic const uint32_t op_init = 0;'],
  ['  NAPI_EXPORT_UINT32(op_getattr)\n  NAPI_EXPORT_UINT32(op_init)', '  NAPI_EXPORT_UINT32(wharf_caller_context)\n  NAPI_EXPORT_UINT32(op_getattr)\n  NAPI_EXPORT_UINT32(op_init)'],
];
const JS_FIXES = [
  ['      return function (nativeHandler, opCode, ...args) {\n', '      return function (nativeHandler, opCode, ...args) {\n        self._caller = nativeHandler // Wharf: read by caller() while the op runs synchronously\n'],
  [
    '  // Public API\n',
    '  // Wharf: who made the request whose handler is running now (call it synchronously\n'
      + '  // at the start of an operation); undefined when the binary lacks the fix.\n'
      + '  caller () {\n    const b = this._caller\n    if (!binding.wharf_caller_context || !b) return undefined\n'
      + '    return { uid: b.readUInt32LE(0), gid: b.readUInt32LE(4), pid: b.readUInt32LE(8), umask: b.readUInt32LE(12) }\n  }\n\n  // Public API\n',
  ],
];

/** Applies (before, after) pairs to a file; false when a pair is neither applied nor applicable. */
function fix(file, pairs) {
  const text = readFileSync(file, 'utf8');
  let next = text;
  for (const [before, after] of pairs) {
    if (next.includes(after)) continue;
    if (!next.includes(before)) {
      console.warn(`build-fuse-native: ${file} has changed (${JSON.stringify(before.slice(0, 40))} not found); left as it is`);
      return false;
    }
    next = next.replace(before, after);
  }
  if (next !== text) writeFileSync(file, next);
  return true;
}

try {
  if (!fix(join(dir, 'fuse-native.c'), C_FIXES) || !fix(join(dir, 'index.js'), JS_FIXES)) process.exit(0);
} catch (e) {
  console.warn(`\n*** build-fuse-native: cannot patch fuse-native in ${dir} (${e.message}); the prebuilt binary stays, without Wharf's fixes. ***\n`);
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
  console.warn(`\n*** build-fuse-native: could not rebuild fuse-native (${run.error?.message ?? `node-gyp exited ${run.status}`}); the prebuilt binary stays, and with it the utimens bug (mtime set to atime) and no caller identity (new files belong to the mount's owner). ***\n`);
}
