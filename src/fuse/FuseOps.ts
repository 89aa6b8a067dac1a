// The FUSE operations: each calls the Vfs and turns its result or WharfError into
// what fuse-native expects. Nothing else happens here.
import type { Operations } from 'fuse-native';
import { ERRNO, WharfError, errnoOfNodeError, logger, statMode, type Attr } from '../common/index.js';
import type { Caller, Vfs } from '../vfs/index.js';
import type { BusyPoll } from './BusyPoll.js';

const log = logger('fuse');

/**
 * -errno for a failure: a WharfError's own; a Node fs error's code where Wharf knows
 * it (a staged file's EFBIG, ENOSPC); anything else is a bug, logged once here, and EIO.
 */
export function errnoOf(e: unknown, op: string, path: string): number {
  if (e instanceof WharfError) return -ERRNO[e.errno];
  const node = errnoOfNodeError(e);
  if (node) {
    log.warn({ err: (e as Error).message, op, path }, 'file system error in a FUSE operation');
    return -ERRNO[node];
  }
  log.error({ err: e, op, path }, 'unexpected failure in a FUSE operation; answered EIO');
  return -ERRNO.EIO;
}

/** Nanoseconds past the millisecond (0 for times before the epoch, which fuse-native cannot carry finer). */
function subMs(ns: bigint): number {
  return ns >= 0n ? Number(ns % 1_000_000n) : 0;
}

function stat(a: Attr) {
  const size = Number(a.size);
  return {
    mode: statMode(a), uid: a.uid, gid: a.gid, size, nlink: a.nlink, rdev: a.rdev ?? 0,
    blksize: 4096, blocks: Math.ceil(size / 512),
    atime: Number(a.atimeNs / 1_000_000n), mtime: Number(a.mtimeNs / 1_000_000n), ctime: Number(a.ctimeNs / 1_000_000n),
    // Read by the rebuilt fuse-native (scripts/build-fuse-native.mjs, fix 6): whole inode
    // numbers (the mount runs with use_ino, so every name of a hard-linked file shows one
    // st_ino) and nanosecond times.
    ino: Number(a.ino), atimeSubMs: subMs(a.atimeNs), mtimeSubMs: subMs(a.mtimeNs), ctimeSubMs: subMs(a.ctimeNs),
  };
}

/**
 * utimensat's UTIME_NOW and UTIME_OMIT as the rebuilt fuse-native hands them over
 * (scripts/build-fuse-native.mjs, fix 4): high words no time in milliseconds reaches.
 */
export const UTIME_NOW_ARG = 0xffff_ffff * 2 ** 32;
export const UTIME_OMIT_ARG = 0xffff_fffe * 2 ** 32;

function utime(ms: number): number | 'now' | 'omit' {
  return ms === UTIME_NOW_ARG ? 'now' : ms === UTIME_OMIT_ARG ? 'omit' : ms;
}

type Done = (err: number) => void;

/** Runs `work`; answers 0 or -errno. */
function run(op: string, path: string, cb: Done, work: () => Promise<unknown>): void {
  work().then(() => cb(0), (e: unknown) => cb(errnoOf(e, op, path)));
}

/**
 * The operations; each notes itself to `poll` first (see BusyPoll), but for writes
 * and reads answered from memory: those come in parallel and keep the loop busy
 * anyway, and spinning between them took CPU from the threads copying the data (a
 * warm sequential read lost 10%). A read that waits (a random read, a miss) does.
 */
export function fuseOps(vfs: Vfs, poll?: BusyPoll, caller: () => Caller | undefined = () => undefined): Operations {
  const ops = allOps(vfs, poll, caller);
  if (!poll) return ops;
  const touched: Record<string, unknown> = {};
  for (const [name, op] of Object.entries(ops) as [string, (...args: unknown[]) => unknown][]) {
    touched[name] = name === 'read' || name === 'write' ? op : (...args: unknown[]) => {
      poll.touch();
      return op(...args);
    };
  }
  return touched as Operations;
}

/**
 * `caller` names who made the request being handled; it must be read synchronously
 * at the start of an operation (fuse-native keeps it for the running callback only).
 */
function allOps(vfs: Vfs, poll: BusyPoll | undefined, caller: () => Caller | undefined): Operations {
  return {
    init: (cb) => cb(0),
    getattr: (path, cb) => {
      // Most getattrs are cache hits (after a listing): answered without a promise round.
      const hit = vfs.getattrCached(path);
      if (hit) return cb(0, stat(hit));
      vfs.getattr(path).then((a) => cb(0, stat(a)), (e: unknown) => cb(errnoOf(e, 'getattr', path)));
    },
    readdir: (path, cb) => {
      vfs.readdir(path).then(
        (entries) => cb(0, entries.map((e) => e.name), entries.map((e) => stat(e.attr))),
        (e: unknown) => cb(errnoOf(e, 'readdir', path)),
      );
    },
    open: (path, flags, cb) => {
      vfs.open(path, flags).then((fh) => cb(0, fh), (e: unknown) => cb(errnoOf(e, 'open', path)));
    },
    create: (path, mode, cb) => {
      vfs.create(path, mode, undefined, caller()).then((fh) => cb(0, fh), (e: unknown) => cb(errnoOf(e, 'create', path)));
    },
    read: (path, fd, buf, len, pos, cb) => {
      const copied = vfs.io.readHot(fd, buf, len, pos);
      if (copied !== undefined) return cb(copied);
      poll?.touch();
      vfs.io.read(fd, len, pos).then((data) => cb(data.copy(buf, 0, 0, Math.min(len, data.length))), (e: unknown) => cb(errnoOf(e, 'read', path)));
    },
    write: (path, fd, buf, len, pos, cb) => {
      vfs.io.write(fd, buf.subarray(0, len), pos).then((n) => cb(n), (e: unknown) => cb(errnoOf(e, 'write', path)));
    },
    flush: (path, fd, cb) => run('flush', path, cb, () => vfs.io.flush(fd)),
    fsync: (path, _datasync, fd, cb) => run('fsync', path, cb, () => vfs.io.flush(fd, true)),
    release: (path, fd, cb) => run('release', path, cb, () => vfs.io.release(fd)),
    truncate: (path, size, cb) => run('truncate', path, cb, () => vfs.truncate(path, size)),
    ftruncate: (path, fd, size, cb) => run('ftruncate', path, cb, () => vfs.io.ftruncate(fd, size)),
    mkdir: (path, mode, cb) => {
      const who = caller();
      run('mkdir', path, cb, () => vfs.mkdir(path, mode, who));
    },
    rmdir: (path, cb) => run('rmdir', path, cb, () => vfs.rmdir(path)),
    unlink: (path, cb) => run('unlink', path, cb, () => vfs.unlink(path)),
    rename: (src, dest, cb) => run('rename', src, cb, () => vfs.rename(src, dest)),
    symlink: (target, path, cb) => {
      const who = caller();
      run('symlink', path, cb, () => vfs.symlink(target, path, who));
    },
    readlink: (path, cb) => {
      vfs.readlink(path).then((t) => cb(0, t), (e: unknown) => cb(errnoOf(e, 'readlink', path)));
    },
    chmod: (path, mode, cb) => run('chmod', path, cb, () => vfs.setattr(path, { mode })),
    chown: (path, uid, gid, cb) => run('chown', path, cb, () => vfs.setattr(path, {
      // chown(2) passes -1 (as 2^32-1) for "leave unchanged".
      ...(uid !== -1 && uid !== 0xffff_ffff ? { uid } : {}), ...(gid !== -1 && gid !== 0xffff_ffff ? { gid } : {}),
    })),
    utimens: (path, atime, mtime, cb) => run('utimens', path, cb, () => vfs.utimens(path, utime(atime), utime(mtime))),
    statfs: (path, cb) => {
      vfs.statfs().then((s) => {
        // fuse-native passes 32-bit fields: report in units large enough to fit.
        const unit = 1024 * 1024;
        const scale = (blocks: bigint) => Number((blocks * s.blockSize) / BigInt(unit) > 0xffff_ffffn ? 0xffff_ffffn : (blocks * s.blockSize) / BigInt(unit));
        const files = (v: bigint) => Number(v > 0xffff_ffffn ? 0xffff_ffffn : v);
        cb(0, {
          bsize: unit, frsize: unit, blocks: scale(s.totalBlocks), bfree: scale(s.freeBlocks), bavail: scale(s.freeBlocks),
          files: files(s.totalInodes), ffree: files(s.freeInodes), favail: files(s.freeInodes), fsid: 0x57484146, flag: 0, namemax: s.maxNameLength,
        });
      }, (e: unknown) => cb(errnoOf(e, 'statfs', path)));
    },
    link: (src, dest, cb) => run('link', dest, cb, () => vfs.link(src, dest)),
    mknod: (path, mode, dev, cb) => {
      const who = caller();
      run('mknod', path, cb, () => vfs.mknod(path, mode, dev, who));
    },
    // No xattr operations at all: libfuse answers ENOSYS, after which the kernel stops
    // asking and answers EOPNOTSUPP itself. Otherwise `ls -l` costs two extra round
    // trips per file (security.selinux, POSIX ACLs).
  };
}
