// `wharf mount` (a mount over a remote master) and `wharf up` (master, cache and
// mount in one process, metadata calls in-process).
import { InvalidArgumentError, type Command } from 'commander';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ROOT_INO, WharfError, masterAddress } from '../common/index.js';
import type { FuseMount, MountOptions } from '../fuse/index.js';
import type { Master } from '../master/index.js';
import { AdminClient } from '../rpc/index.js';
import { adminClient, globals, guarded, metaClient, nodeTls, integer, out, size } from './context.js';
import { s3SettingsFromEnv } from './s3Settings.js';

/**
 * The heavy parts — FUSE, the master (with the S3 SDK), the cache node — loaded by
 * the commands that run them, so that every other `wharf` command starts in half the time.
 */
async function parts() {
  const [fuse, master, node, metrics] = await Promise.all([import('../fuse/index.js'), import('../master/index.js'), import('../node/index.js'), import('./mountMetrics.js')]);
  return { FuseMount: fuse.FuseMount, Master: master.Master, BlockServer: node.BlockServer, ClusterLocator: node.ClusterLocator, ClusterView: node.ClusterView, NodeAgent: node.NodeAgent, serveMountMetrics: metrics.serveMountMetrics };
}

interface MountFlags {
  cacheDir: string;
  cacheSize: number;
  cacheMinFree: number;
  blockSize: number;
  prefetch: number;
  readAhead: number;
  directIo: boolean;
  pollMs: number;
  fetchTimeout: number;
  attrTimeout: number;
  allowOther: boolean;
  defaultPermissions: boolean;
  debug: boolean;
  metrics?: string;
}

const defaultCacheDir = () => join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'wharf');

function mountFlags(c: Command): Command {
  return c
    .option('--cache-dir <dir>', 'block cache and staged writes (default $XDG_CACHE_HOME/wharf)', defaultCacheDir())
    .option('--cache-size <size>', 'most bytes the block cache keeps', size, 10 * 1024 ** 3)
    .option('--cache-min-free <size>', 'free space to leave on the cache disk', size, 1024 ** 3)
    .option('--block-size <size>', 'cache block size', size, 4 * 1024 * 1024)
    .option('--prefetch <blocks>', 'blocks read ahead of a sequential reader', integer(0, 64), 16)
    .option('--read-ahead <size>', "the kernel's read-ahead for the mount (0: the kernel's 128 KiB)", size, 1024 * 1024)
    .option('--no-direct-io', 'read cache blocks through the page cache (default: O_DIRECT where the cache disk allows it)')
    .option('--poll-ms <ms>', 'keep polling for FUSE requests this long after one (halves metadata latency; 0: sleep at once)', integer(0, 1000), 2)
    .option('--fetch-timeout <ms>', 'a store read slower than this fails with EIO', integer(100), 30_000)
    .option('--attr-timeout <ms>', 'attribute/entry cache TTL, in the mount and the kernel', integer(0), 1_000)
    .option('--allow-other', 'let other users see the mount (needs user_allow_other or root)', false)
    .option('--default-permissions', 'let the kernel check permissions from mode, uid and gid', false)
    .option('--metrics <host:port>', 'serve /metrics (Prometheus), /stats (JSON) and /healthz over HTTP')
    .option('--debug', 'FUSE debug output', false);
}

function toMountOptions(mountpoint: string, f: MountFlags): MountOptions {
  return {
    mountpoint, cacheDir: f.cacheDir, cacheCapacity: f.cacheSize, cacheMinFree: f.cacheMinFree, blockSize: f.blockSize,
    prefetchBlocks: f.prefetch, readAheadBytes: f.readAhead, cacheDirectIo: f.directIo, pollMs: f.pollMs, fetchTimeoutMs: f.fetchTimeout, attrTimeoutMs: f.attrTimeout,
    allowOther: f.allowOther, defaultPermissions: f.defaultPermissions, debug: f.debug, s3: s3SettingsFromEnv(),
  };
}

async function announce(m: FuseMount, f: MountFlags, what: string, cluster?: () => unknown): Promise<() => void> {
  const { serveMountMetrics } = await parts();
  const metrics = f.metrics ? await serveMountMetrics(f.metrics, m, cluster) : undefined;
  // Scripts and tests read this line (metrics address included when asked for).
  out(`${what}${metrics ? `; metrics on http://${metrics.address}/metrics` : ''}`);
  return () => void metrics?.close();
}

/**
 * Runs until SIGTERM/SIGINT, then `stop`, then exits: fuse-native's own thread can
 * outlive its unmount (e.g. when the mount was detached from outside), and would keep
 * the process alive after everything of ours has closed.
 */
/** Runs `stop` and exits on SIGTERM, SIGINT, or the mount being unmounted from outside. */
function untilSignalled(m: FuseMount, stop: () => Promise<void>): Promise<void> {
  return new Promise<void>(() => {
    let stopping = false;
    const on = (sig: string) => {
      if (stopping) return;
      stopping = true;
      out(sig === 'outside' ? `${m.mountpoint} was unmounted from outside; uploading what is staged and stopping` : `received ${sig}; unmounting`);
      stop().then(
        () => process.exit(process.exitCode ?? 0),
        (e: unknown) => {
          process.stderr.write(`wharf: unmount: ${String(e)}\n`);
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', () => on('SIGTERM'));
    process.once('SIGINT', () => on('SIGINT'));
    m.onUnmountedOutside(() => on('outside'));
  });
}

/**
 * `wharf up --node`: a cache node in the same process, registered with the embedded
 * master, reading sources' stores through the master's own catalog; the mount
 * follows the node list like `wharf mount` does.
 */
async function embeddedNode(master: Master, f: MountFlags, listen: string) {
  const { BlockServer, NodeAgent, ClusterLocator, ClusterView } = await parts();
  const node = await BlockServer.start({
    cacheDir: join(f.cacheDir, 'node'), listen, capacityBytes: f.cacheSize, minFreeBytes: f.cacheMinFree, directIo: f.directIo,
    storeFor: async (source) => (await master.sync.catalog.mountPoint(source)).store,
  });
  const admin = new AdminClient(master.address, globals().timeout);
  const agent = await NodeAgent.start(admin, node);
  const locator = new ClusterLocator({ blockSize: f.blockSize });
  const view = new ClusterView(admin, locator);
  await view.start();
  return {
    node, locator,
    stop: async () => {
      view.stop();
      agent.stop();
      locator.close();
      await node.close();
      admin.close();
    },
  };
}

export function registerMountCommands(program: Command): void {
  mountFlags(program.command('mount <mountpoint>').description('mount the namespace of a master (--master) with a local block cache'))
    .action(guarded((args) => `mount ${String(args[0])}`, async (mountpoint: string, f: MountFlags) => {
      const g = globals();
      const { ClusterLocator, ClusterView, FuseMount } = await parts();
      const meta = metaClient();
      const admin = adminClient(meta.address);
      const locator = new ClusterLocator({ blockSize: f.blockSize, tls: await nodeTls() });
      const view = new ClusterView(admin, locator);
      let m: FuseMount;
      try {
        await meta.waitForReady(Math.min(g.timeout, 5_000));
        // Refused by a permission group or for its key: say so now, not as EACCES on the first ls.
        await meta.getattr(ROOT_INO);
        // The cache nodes the master lists serve this mount's misses (none listed: the store does).
        await view.start();
        m = await FuseMount.mount(meta, { ...toMountOptions(mountpoint, f), locator });
      } catch (e) {
        // Nothing may keep a failed mount's process alive (TLS file watchers, channels).
        view.stop();
        locator.close();
        admin.close();
        await meta.close();
        throw e;
      }
      const closeMetrics = await announce(m, f, `wharf mounted at ${m.mountpoint} (master ${meta.address})`, () => ({ epoch: String(locator.epoch), ...locator.counters }));
      await untilSignalled(m, async () => {
        closeMetrics();
        view.stop();
        locator.close();
        admin.close();
        await m.unmount();
        await meta.close();
      });
    }));

  mountFlags(program.command('up').description('master, cache and mount in one process: a store mounted with one command'))
    .requiredOption('--store <uri>', 'file:///dir or s3://bucket/prefix (S3: --endpoint, AWS_* credentials)')
    .requiredOption('--mount <mountpoint>', 'where to mount')
    .option('--data <dir>', 'the master\'s LevelDB directory (default: <cache-dir>/meta)')
    .option('--listen <host:port>', 'also serve gRPC here, for wharf fs/status/source', '127.0.0.1:0')
    .option('--endpoint <url>', 'S3-compatible endpoint')
    .option('--region <region>', 'S3 region')
    .option('--sync-interval <ms>', 'on-access sync interval: -1, 0 or N ms', integer(-1), 60_000)
    .option('--read-only', 'mount the store read-only', false)
    .option('--object-metadata', 'read owner, mode, time and symlinks from s3fs/rclone object metadata', false)
    .option('--node [host:port]', 'also run a cache node in this process (its blocks under <cache-dir>/node, sized by --cache-size): warmup and eviction rules then work, and the mount reads its misses through it')
    .action(guarded(() => 'up', async (f: MountFlags & { store: string; mount: string; data?: string; listen: string; endpoint?: string; region?: string; syncInterval: number; readOnly: boolean; objectMetadata: boolean; node?: string | boolean }) => {
      const { Master, FuseMount } = await parts();
      const master = await Master.start({ dataDir: f.data ?? join(f.cacheDir, 'meta'), listen: f.listen, s3: s3SettingsFromEnv() });
      try {
        const existing = master.sync.catalog.list().find((s) => s.name === 'default');
        if (existing && existing.uri !== new URL(f.store.startsWith('/') ? `file://${f.store}` : f.store).href && existing.uri.replace(/\/$/, '') !== f.store.replace(/\/$/, '')) {
          throw new WharfError('EEXIST', `${f.data ?? join(f.cacheDir, 'meta')} already serves ${existing.uri}; use another --data or --cache-dir`);
        }
        if (!existing) {
          const { job } = await master.sync.importSource({
            name: 'default', uri: f.store, at: '/', readOnly: f.readOnly, syncIntervalMs: f.syncInterval, objectMetadata: f.objectMetadata,
            ...(f.endpoint ? { endpoint: f.endpoint } : {}), ...(f.region ? { region: f.region } : {}),
          });
          await master.sync.jobs.wait(job.id);
        }
        const cluster = f.node ? await embeddedNode(master, f, typeof f.node === 'string' ? f.node : '127.0.0.1:0') : undefined;
        const m = await FuseMount.mount(master.namespace, { ...toMountOptions(f.mount, f), ...(cluster ? { locator: cluster.locator } : {}) });
        const closeMetrics = await announce(
          m, f, `wharf up: ${f.store} mounted at ${m.mountpoint}; master on ${master.address}${cluster ? `; cache node ${cluster.node.id} on ${cluster.node.address}` : ''}`,
          cluster ? () => ({ epoch: String(cluster.locator.epoch), ...cluster.locator.counters }) : undefined,
        );
        await untilSignalled(m, async () => {
          closeMetrics();
          await m.unmount();
          await cluster?.stop();
          await master.stop();
        });
      } catch (e) {
        await master.stop();
        throw e;
      }
    }));
}
