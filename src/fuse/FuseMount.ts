// A mounted Wharf filesystem: the block cache, the Vfs over a MetaClient, and the
// FUSE mount in front of them, with the mount's lifecycle: a stale mountpoint left
// by a killed process is cleaned before mounting; unmount waits for uploads.
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { readFile, realpath, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import Fuse from 'fuse-native';
import { WharfError, logger } from '../common/index.js';
import { BlockCache, BlockReader, type BlockLocator } from '../cache/index.js';
import type { MetaClient } from '../meta/index.js';
import { Vfs, defaultOpener, type OpenLocation } from '../vfs/index.js';
import type { S3StoreOptions } from '../ufs/index.js';
import { BusyPoll } from './BusyPoll.js';
import { fuseOps } from './FuseOps.js';

const log = logger('mount');
const run = promisify(execFile);

export interface MountOptions {
  mountpoint: string;
  cacheDir: string;
  /** Bytes of blocks the cache may keep (default 10 GiB). */
  cacheCapacity?: number;
  /** Free space to leave on the cache's disk (default 1 GiB). */
  cacheMinFree?: number;
  blockSize?: number;
  prefetchBlocks?: number;
  /** A store read that takes longer fails with EIO (default 30 s). */
  fetchTimeoutMs?: number;
  /** Attribute and entry cache TTL in the mount and the kernel (default 1 s). */
  attrTimeoutMs?: number;
  negativeTimeoutMs?: number;
  /** How long the event loop keeps polling after a FUSE request (default 2 ms; 0: never, see BusyPoll). */
  pollMs?: number;
  /** Read whole cache blocks with O_DIRECT where the cache disk allows it (default true). */
  cacheDirectIo?: boolean;
  /** The kernel's read-ahead for the mount (default 1 MiB; 0 leaves the kernel's 128 KiB). */
  readAheadBytes?: number;
  allowOther?: boolean;
  defaultPermissions?: boolean;
  debug?: boolean;
  s3?: Omit<S3StoreOptions, 'bucket'>;
  /** Where missing blocks come from (default: the file's store); a cache cluster's ClusterLocator. */
  locator?: BlockLocator;
  /** Replaces how the mount opens stores (tests wrap them in a FaultyStore). */
  openLocation?: OpenLocation;
}

export interface MountStats {
  cache: ReturnType<BlockCache['stats']>;
  reader: BlockReader['counters'];
  io: ReturnType<Vfs['io']['stats']>;
}

export class FuseMount {
  private unmounting: Promise<void> | undefined;
  private watch: NodeJS.Timeout | undefined;
  /** Set once the mount was taken away by `fusermount -u`/`umount` from outside this process. */
  private goneFromOutside = false;
  private readonly goneListeners: (() => void)[] = [];

  private constructor(readonly vfs: Vfs, readonly cache: BlockCache, readonly reader: BlockReader, private readonly fuse: Fuse, readonly mountpoint: string, private readonly device: string | undefined) {
    // libfuse2 tells fuse-native nothing when the kernel unmounts: the mount table is
    // watched instead (once a second, by the device number, so a new mount on the same
    // path is not taken for this one).
    if (device) {
      this.watch = setInterval(() => void this.checkStillMounted(), 1_000);
      this.watch.unref();
    }
  }

  /** Calls `fn` once if the mount is taken away from outside (rclone and s3fs exit then; so does `wharf mount`). */
  onUnmountedOutside(fn: () => void): void {
    this.goneListeners.push(fn);
  }

  private async checkStillMounted(): Promise<void> {
    if (this.unmounting || this.goneFromOutside) return;
    const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => undefined);
    if (info === undefined || this.unmounting) return;
    if (info.split('\n').some((l) => l.split(' ')[2] === this.device)) return;
    this.goneFromOutside = true;
    clearInterval(this.watch);
    log.warn({ mountpoint: this.mountpoint }, 'unmounted from outside this process');
    for (const fn of this.goneListeners) fn();
  }

  static async mount(meta: MetaClient, o: MountOptions): Promise<FuseMount> {
    const mountpoint = resolve(o.mountpoint);
    await cleanStaleMount(mountpoint);
    mkdirSync(mountpoint, { recursive: true });
    const blockSize = o.blockSize ?? 4 * 1024 * 1024;
    const cache = BlockCache.open(join(o.cacheDir, 'cache'), {
      capacityBytes: o.cacheCapacity ?? 10 * 1024 ** 3, minFreeBytes: o.cacheMinFree ?? 1024 ** 3, directIo: o.cacheDirectIo ?? true,
    });
    const readAhead = o.readAheadBytes ?? 1024 * 1024;
    const reader = new BlockReader(cache, {
      blockSize, fetchTimeoutMs: o.fetchTimeoutMs ?? 30_000, prefetchBlocks: o.prefetchBlocks ?? 16, maxFetches: 16,
      // The kernel's read-ahead requests arrive out of order within its window.
      sequentialSlack: Math.max(readAhead, 128 * 1024),
      ...(o.locator ? { locator: o.locator } : {}),
    });
    const attrMs = o.attrTimeoutMs ?? 1_000;
    const vfs = new Vfs(meta, reader, {
      meta: { attrTtlMs: attrMs, negativeTtlMs: o.negativeTimeoutMs ?? attrMs, maxEntries: 200_000 },
      openLocation: o.openLocation ?? defaultOpener(o.s3),
      stagingDir: join(o.cacheDir, 'staging'),
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
    });
    const recovered = await vfs.io.recover();
    if (recovered.recovered + recovered.orphaned > 0) log.info(recovered, 'staged data from a previous run handled');
    // The ops ask the Fuse instance who made each request (Fuse#caller, added by
    // scripts/build-fuse-native.mjs): bound once the instance exists.
    let fuse: Fuse | undefined;
    const caller = () => fuse?.caller();
    fuse = new Fuse(mountpoint, fuseOps(vfs, new BusyPoll(o.pollMs ?? 2), caller), {
      // fuse-native has no big_writes option; it joins options with commas, so it rides along
      // here. Without it libfuse2 writes 4 KiB per call (a sixth of the speed). use_ino: st_ino
      // is Wharf's inode number (one for all names of a hard-linked file), not libfuse's per-name node.
      fsname: 'wharf,big_writes,max_readahead=4194304,splice_write,splice_move,use_ino', subtype: 'wharf', force: true, mkdir: true, debug: o.debug ?? false, maxRead: 131072,
      allowOther: o.allowOther ?? false, defaultPermissions: o.defaultPermissions ?? false,
      attrTimeout: attrMs / 1000, entryTimeout: attrMs / 1000,
      // Our own deadlines (fetch timeout, gRPC deadlines) answer first; this is the last resort.
      // Not for reads and writes: those have the fetch timeout, and a timer per request
      // is a measurable share of a warm read.
      timeout: { default: Math.max(60_000, (o.fetchTimeoutMs ?? 30_000) * 2), read: false, write: false },
    });
    const mounted = fuse;
    await new Promise<void>((res, rej) => mounted.mount((err) => (err ? rej(new WharfError('EIO', `cannot mount at ${mountpoint}: ${err.message}`, err)) : res())));
    if (readAhead > 0) await setReadAhead(mountpoint, readAhead);
    log.info({ mountpoint, cacheDir: o.cacheDir, blocks: cache.stats().blocks }, 'mounted');
    return new FuseMount(vfs, cache, reader, mounted, mountpoint, await mountDevice(mountpoint));
  }

  /** Cache and data-path counters, for /metrics and tests. */
  stats(): MountStats {
    return { cache: this.cache.stats(), reader: { ...this.reader.counters }, io: this.vfs.io.stats() };
  }

  /** Unmounts (lazily if busy), uploads what is staged, closes the stores. Idempotent. */
  unmount(): Promise<void> {
    this.unmounting ??= (async () => {
      clearInterval(this.watch);
      // Unmounted from outside already: there is nothing to unmount (fusermount would fail
      // with EINVAL); what is staged is still uploaded below.
      if (!this.goneFromOutside) {
        await new Promise<void>((res) => this.fuse.unmount((err) => {
          if (err) log.warn({ err: err.message }, 'unmount failed; detaching lazily');
          res();
        }));
        if (await isMounted(this.mountpoint)) await run('umount', ['-l', this.mountpoint]).catch(() => undefined);
      }
      await this.vfs.close();
      log.info({ mountpoint: this.mountpoint }, 'unmounted');
    })();
    return this.unmounting;
  }
}

async function isMounted(mountpoint: string): Promise<boolean> {
  const mounts = await readFile('/proc/mounts', 'utf8').catch(() => '');
  return mounts.split('\n').some((l) => l.split(' ')[1] === mountpoint.replace(/ /g, '\\040'));
}

/**
 * Raises the kernel's read-ahead for the mount. The kernel caps a FUSE mount's at
 * 128 KiB whatever max_readahead says, and with one 128 KiB request in flight at a
 * time a warm sequential read ran at 60% of the speed it reaches with several
 * (the only knob is the mount's backing device in sysfs, writable by root).
 * Not being able to set it costs speed, never correctness: logged, not fatal.
 */
export async function setReadAhead(mountpoint: string, bytes: number): Promise<boolean> {
  const dev = await mountDevice(mountpoint);
  if (!dev) return false;
  try {
    await writeFile(`/sys/class/bdi/${dev}/read_ahead_kb`, String(Math.ceil(bytes / 1024)));
    return true;
  } catch (e) {
    log.info({ mountpoint, err: (e as Error).message }, 'could not raise the kernel read-ahead (needs root); sequential reads will be slower');
    return false;
  }
}

/**
 * The device number (major:minor) of the mount on top of `mountpoint`, from mountinfo:
 * a stat of the mountpoint would be a FUSE call into this very process.
 */
async function mountDevice(mountpoint: string): Promise<string | undefined> {
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  // mountinfo shows real paths (the parent resolved; the mountpoint itself is ours),
  // and the last line for a path is the mount on top.
  const real = join(await realpath(dirname(mountpoint)).catch(() => dirname(mountpoint)), basename(mountpoint));
  const line = info.split('\n').findLast((l) => l.split(' ')[4] === real.replace(/ /g, '\\040'));
  return line?.split(' ')[2];
}

/** A FUSE mount whose process died answers ENOTCONN: detach it so the new mount can take its place. */
export async function cleanStaleMount(mountpoint: string): Promise<boolean> {
  if (!(await isMounted(mountpoint))) return false;
  try {
    await stat(mountpoint);
    return false; // alive: mounting over it fails below with a clear error
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOTCONN') return false;
  }
  log.warn({ mountpoint }, 'stale mount from a process that died; detaching it');
  await run('fusermount', ['-uz', mountpoint]).catch(() => run('umount', ['-l', mountpoint]));
  return true;
}
