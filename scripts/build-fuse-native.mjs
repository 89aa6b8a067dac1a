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
//  3. Single-time utimensat: libfuse 2.9's high-level API calls utimens only when a
//     setattr request sets both times, so `touch -m`, `touch -a` and utimensat with
//     UTIME_OMIT changed nothing. The fix puts a channel of our own (the same
//     /dev/fuse descriptor; libfuse's public fuse_chan_new) between the kernel and
//     libfuse that completes such a request with the other time as UTIME_OMIT. The
//     kernel's own channel object stays allocated (about 50 bytes per mount): freeing
//     it would close the descriptor.
//  4. UTIME_NOW and UTIME_OMIT reach JavaScript as two sentinels (see FuseOps
//     UTIME_NOW_ARG) instead of a time 1.07 s after the epoch (fuse-native turned
//     their tv_nsec markers into milliseconds).
//  5. Hard links: libfuse 2.9's high-level API gives each name its own kernel inode,
//     so the kernel kept a hard-linked file's attributes per name, and a chmod or a
//     link count changed through one name stayed stale under the others for the
//     attribute timeout. The same channel makes replies that carry attributes of a
//     non-directory with more than one link valid for 0 s, and after a successful
//     link(2) tells the kernel to drop the attributes it has for the old name
//     (fuse_lowlevel_notify_inval_inode, attributes only: no page locks).
//  6. Whole inode numbers and nanosecond times in stat: fuse-native passes st_ino
//     as 32 bits and times in milliseconds. Its stat array grows by four words (the
//     inode number's high word, then each time's nanoseconds past its millisecond:
//     the stat fields inoHigh... are computed from `ino` and atimeSubMs, mtimeSubMs,
//     ctimeSubMs), read after the fields fuse-native already reads.
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
  ['#include <pthread.h>\n', String.raw`#include <pthread.h>

// Wharf: a channel that completes one-time setattr requests (see scripts/build-fuse-native.mjs, fix 3).
#include <errno.h>
#include <sys/uio.h>
#ifndef UTIME_NOW
#define UTIME_NOW ((1l << 30) - 1l)
#endif
#ifndef UTIME_OMIT
#define UTIME_OMIT ((1l << 30) - 2l)
#endif
// The kernel ABI (fuse_kernel.h, stable since protocol 7.9): struct fuse_in_header is
// 40 bytes; struct fuse_setattr_in (88 bytes) has valid at 0, atime at 32, mtime at
// 40, atimensec at 56, mtimensec at 60.
#define WHARF_FUSE_SETATTR 4
#define WHARF_IN_HEADER 40
#define WHARF_SETATTR_IN 88
#define WHARF_FATTR_ATIME (1u << 4)
#define WHARF_FATTR_MTIME (1u << 5)
#define WHARF_FATTR_ATIME_NOW (1u << 7)
#define WHARF_FATTR_MTIME_NOW (1u << 8)

// Fix 5: the requests in flight whose replies carry attributes, by unique id.
#include <fuse_lowlevel.h>
#define WHARF_FUSE_LOOKUP 1
#define WHARF_FUSE_GETATTR 3
#define WHARF_FUSE_SYMLINK 6
#define WHARF_FUSE_MKNOD 8
#define WHARF_FUSE_MKDIR 9
#define WHARF_FUSE_LINK 13
#define WHARF_FUSE_CREATE 35
#define WHARF_OUT_HEADER 16
#define WHARF_ENTRY_OUT 128 // struct fuse_entry_out: attr_valid at 24 and 36, struct fuse_attr at 40
#define WHARF_ATTR_OUT 104  // struct fuse_attr_out: attr_valid at 0 and 8, struct fuse_attr at 16
#define WHARF_PENDING 1024
struct wharf_pending { uint64_t unique; uint32_t opcode; uint64_t old_nodeid; };
static struct wharf_pending wharf_pending[WHARF_PENDING];
static pthread_mutex_t wharf_pending_lock = PTHREAD_MUTEX_INITIALIZER;

static void wharf_note_request (const char *buf, size_t len) {
  uint32_t opcode;
  uint64_t unique, old_nodeid = 0;
  memcpy(&opcode, buf + 4, 4);
  if (opcode != WHARF_FUSE_LOOKUP && opcode != WHARF_FUSE_GETATTR && opcode != WHARF_FUSE_SETATTR && opcode != WHARF_FUSE_SYMLINK &&
      opcode != WHARF_FUSE_MKNOD && opcode != WHARF_FUSE_MKDIR && opcode != WHARF_FUSE_LINK && opcode != WHARF_FUSE_CREATE) return;
  memcpy(&unique, buf + 8, 8);
  if (unique == 0) return;
  if (opcode == WHARF_FUSE_LINK) {
    if (len < WHARF_IN_HEADER + 8) return;
    memcpy(&old_nodeid, buf + WHARF_IN_HEADER, 8); // struct fuse_link_in: oldnodeid
  }
  pthread_mutex_lock(&wharf_pending_lock);
  struct wharf_pending *p = &wharf_pending[unique % WHARF_PENDING];
  p->unique = unique;
  p->opcode = opcode;
  p->old_nodeid = old_nodeid;
  pthread_mutex_unlock(&wharf_pending_lock);
}

// Zero validity for the attributes at attr (a struct fuse_attr) if they are a hard-linked non-directory's.
static void wharf_expire_if_linked (char *valid, char *valid_nsec, const char *attr) {
  uint32_t mode, nlink, zero32 = 0;
  uint64_t zero64 = 0;
  memcpy(&mode, attr + 60, 4);
  memcpy(&nlink, attr + 64, 4);
  if (nlink <= 1 || (mode & S_IFMT) == S_IFDIR) return;
  memcpy(valid, &zero64, 8);
  memcpy(valid_nsec, &zero32, 4);
}

// Before a reply goes out: its attributes' validity; returns the old name's node of a successful link (else 0).
static uint64_t wharf_fix_reply (const struct iovec iov[], size_t count) {
  if (count < 1 || iov[0].iov_len < WHARF_OUT_HEADER) return 0;
  const char *out = (const char *) iov[0].iov_base;
  int32_t error;
  uint64_t unique;
  memcpy(&error, out + 4, 4);
  memcpy(&unique, out + 8, 8);
  if (unique == 0) return 0; // a notification
  pthread_mutex_lock(&wharf_pending_lock);
  struct wharf_pending *p = &wharf_pending[unique % WHARF_PENDING];
  struct wharf_pending found = *p;
  if (p->unique == unique) p->unique = 0;
  pthread_mutex_unlock(&wharf_pending_lock);
  if (found.unique != unique || error != 0 || count < 2) return 0;
  char *arg = (char *) iov[1].iov_base;
  if (found.opcode == WHARF_FUSE_GETATTR || found.opcode == WHARF_FUSE_SETATTR) {
    if (iov[1].iov_len >= WHARF_ATTR_OUT) wharf_expire_if_linked(arg, arg + 8, arg + 16);
  } else if (iov[1].iov_len >= WHARF_ENTRY_OUT) {
    wharf_expire_if_linked(arg + 24, arg + 36, arg + 40);
  }
  return found.opcode == WHARF_FUSE_LINK ? found.old_nodeid : 0;
}

static void wharf_complete_times (char *buf, size_t len) {
  uint32_t opcode, valid;
  uint64_t zero = 0;
  uint32_t omit = (uint32_t) UTIME_OMIT;
  if (len < WHARF_IN_HEADER + WHARF_SETATTR_IN) return;
  memcpy(&opcode, buf + 4, 4);
  if (opcode != WHARF_FUSE_SETATTR) return;
  char *arg = buf + WHARF_IN_HEADER;
  memcpy(&valid, arg, 4);
  uint32_t times = valid & (WHARF_FATTR_ATIME | WHARF_FATTR_MTIME);
  if (times == WHARF_FATTR_ATIME) {
    valid = (valid | WHARF_FATTR_MTIME) & ~WHARF_FATTR_MTIME_NOW;
    memcpy(arg + 40, &zero, 8);
    memcpy(arg + 60, &omit, 4);
  } else if (times == WHARF_FATTR_MTIME) {
    valid = (valid | WHARF_FATTR_ATIME) & ~WHARF_FATTR_ATIME_NOW;
    memcpy(arg + 32, &zero, 8);
    memcpy(arg + 56, &omit, 4);
  } else {
    return;
  }
  memcpy(arg, &valid, 4);
}

// receive and send as libfuse's kernel channel does them (fuse_kern_chan.c).
static int wharf_chan_receive (struct fuse_chan **chp, char *buf, size_t size) {
  struct fuse_chan *ch = *chp;
  struct fuse_session *se = fuse_chan_session(ch);
  ssize_t res;
  int err;
restart:
  res = read(fuse_chan_fd(ch), buf, size);
  err = errno;
  if (fuse_session_exited(se)) return 0;
  if (res == -1) {
    if (err == ENOENT) goto restart; // the request was interrupted
    if (err == ENODEV) { // unmounted
      fuse_session_exit(se);
      return 0;
    }
    if (err != EINTR && err != EAGAIN) perror("fuse: reading device");
    return -err;
  }
  if ((size_t) res < WHARF_IN_HEADER) {
    fprintf(stderr, "short read on fuse device\n");
    return -EIO;
  }
  wharf_complete_times(buf, (size_t) res);
  wharf_note_request(buf, (size_t) res);
  return res;
}

static int wharf_chan_send (struct fuse_chan *ch, const struct iovec iov[], size_t count) {
  if (iov) {
    uint64_t linked_from = wharf_fix_reply(iov, count);
    ssize_t res = writev(fuse_chan_fd(ch), iov, count);
    int err = errno;
    if (res == -1) {
      if (!fuse_session_exited(fuse_chan_session(ch)) && err != ENOENT) perror("fuse: writing device");
      return -err;
    }
    if (linked_from != 0) fuse_lowlevel_notify_inval_inode(ch, linked_from, -1, 0);
  }
  return 0;
}

static void wharf_chan_destroy (struct fuse_chan *ch) {
  // fuse_unmount takes the descriptor (and closes it) before destroying the channel.
  int fd = fuse_chan_fd(ch);
  if (fd != -1) close(fd);
}

static struct fuse_chan_ops wharf_chan_ops = { .receive = wharf_chan_receive, .send = wharf_chan_send, .destroy = wharf_chan_destroy };

static struct fuse_chan *wharf_times_chan (struct fuse_chan *kern) {
  struct fuse_chan *ch = fuse_chan_new(&wharf_chan_ops, fuse_chan_fd(kern), fuse_chan_bufsize(kern), NULL);
  return ch != NULL ? ch : kern;
}

// Wharf: UTIME_NOW and UTIME_OMIT as sentinels JavaScript can tell from times (fix 4).
static uint64_t timespec_to_uint64 (const struct timespec* ts);
static uint64_t wharf_utime (const struct timespec* ts) {
  if (ts->tv_nsec == UTIME_NOW) return (uint64_t) 0xffffffffu << 32;
  if (ts->tv_nsec == UTIME_OMIT) return (uint64_t) 0xfffffffeu << 32;
  return timespec_to_uint64(ts);
}
`],
  ['  struct fuse *fuse = fuse_new(ch, &args, &ops, sizeof(struct fuse_operations), ft);', '  ch = wharf_times_chan(ch);\n  struct fuse *fuse = fuse_new(ch, &args, &ops, sizeof(struct fuse_operations), ft);'],
  ['  l->atime = timespec_to_uint64(&tv[0]);\n  l->mtime = timespec_to_uint64(&tv[1]);', '  l->atime = wharf_utime(&tv[0]);\n  l->mtime = wharf_utime(&tv[1]);'],
  [
    '  uint32s_to_timespec(&stat->st_ctim, &ints);\n#endif\n}',
    '  uint32s_to_timespec(&stat->st_ctim, &ints);\n#endif\n'
      + '  // Wharf (fix 6): the inode number\'s high word, and the nanoseconds past each time\'s millisecond.\n'
      + '  stat->st_ino |= ((uint64_t) *ints++) << 32;\n'
      + '#ifndef __APPLE__\n  stat->st_atim.tv_nsec += *ints++;\n  stat->st_mtim.tv_nsec += *ints++;\n  stat->st_ctim.tv_nsec += *ints++;\n#endif\n}',
  ],
  ['static const uint32_t op_init = 0;', 'static const uint32_t wharf_caller_context = 1;\nstatic const uint32_t op_init = 0;'],
  ['  NAPI_EXPORT_UINT32(op_getattr)\n  NAPI_EXPORT_UINT32(op_init)', '  NAPI_EXPORT_UINT32(wharf_caller_context)\n  NAPI_EXPORT_UINT32(op_getattr)\n  NAPI_EXPORT_UINT32(op_init)'],
];
const JS_FIXES = [
  ['  const ints = new Uint32Array(18)\n', '  const ints = new Uint32Array(22) // Wharf: 18-21 are fix 6\n'],
  [
    '  ints[7] = (stat && stat.ino) || 0\n',
    '  ints[7] = ((stat && stat.ino) || 0) % 4294967296\n'
      + '  ints[18] = Math.floor(((stat && stat.ino) || 0) / 4294967296)\n'
      + '  ints[19] = (stat && stat.atimeSubMs) || 0\n  ints[20] = (stat && stat.mtimeSubMs) || 0\n  ints[21] = (stat && stat.ctimeSubMs) || 0\n',
  ],
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
