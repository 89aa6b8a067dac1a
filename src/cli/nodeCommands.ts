// `wharf node run|list|drain|remove`: run a cache node; the registry's view of them.
import type { Command } from 'commander';
import bytes from 'bytes';
import { WharfError, masterAddress } from '../common/index.js';
import type { NodeAgent } from '../node/index.js';
import { AdminClient, type WireNode } from '../rpc/index.js';
import type { UnderStore } from '../ufs/index.js';
import { adminClient, globals, guarded, nodeTls, json, out, size, withAdmin } from './context.js';
import { s3SettingsFromEnv } from './s3Settings.js';

function nodeLine(n: WireNode): string {
  const used = `${bytes(Number(n.used_bytes)) ?? '0B'}/${bytes(Number(n.capacity_bytes)) ?? '0B'}`;
  const ago = Number(n.last_heartbeat_ms) ? `${Math.max(0, Math.round((Date.now() - Number(n.last_heartbeat_ms)) / 1000))}s ago` : 'never';
  return `${n.id}  ${n.state.padEnd(8)}  ${n.address.padEnd(21)}  ${used.padEnd(17)}  ${String(n.blocks).padStart(8)} blocks  heartbeat ${ago}`;
}

export function registerNodeCommands(program: Command): void {
  const node = program.command('node').description('cache nodes: run one, list them, drain or remove one');

  node
    .command('run')
    .description('run a cache node: serve blocks from --cache-dir to mounts, registered with --master')
    .requiredOption('--cache-dir <dir>', 'the node\'s cache disk (its id is kept there)')
    .option('--listen <host:port>', 'block protocol address', '127.0.0.1:7070')
    .option('--advertise <host:port>', 'the address mounts reach it at (default: --listen as bound)')
    .option('--capacity <size>', 'most bytes of blocks kept (its weight in placement)', size, 10 * 1024 ** 3)
    .option('--min-free <size>', 'free space to leave on the cache disk', size, 1024 ** 3)
    .option('--insecure', 'serve a non-loopback --listen without mutual TLS (--tls-ca, --tls-cert, --tls-key): anyone who can reach it reads cached data', false)
    .action(guarded(() => 'node run', async (o: { cacheDir: string; listen: string; advertise?: string; capacity: number; minFree: number; insecure: boolean }) => {
      const g = globals();
      const admin = adminClient();
      const stores = new Map<string, Promise<UnderStore>>();
      // A source's store as the master describes it; credentials are the node's own (AWS_* environment).
      const storeFor = (source: string): Promise<UnderStore> => {
        let s = stores.get(source);
        if (!s) {
          s = admin.showSource(source).then(async (d) => {
            const src = d.source;
            if (!src) throw new WharfError('ENOENT', `no data source ${source}`);
            const s3 = { ...s3SettingsFromEnv(), ...(src.endpoint ? { endpoint: src.endpoint, forcePathStyle: s3SettingsFromEnv().forcePathStyle ?? true } : {}), ...(src.region ? { region: src.region } : {}) };
            return (await openStore(src.uri, { s3 })).store;
          });
          s.catch(() => stores.delete(source));
          stores.set(source, s);
        }
        return s;
      };
      const tls = await nodeTls();
      // Loaded here: other commands start without the node and the S3 SDK.
      const [{ BlockServer, NodeAgent }, { openStore }] = await Promise.all([import('../node/index.js'), import('../ufs/index.js')]);
      const server = await BlockServer.start({ cacheDir: o.cacheDir, listen: o.listen, capacityBytes: o.capacity, minFreeBytes: o.minFree, storeFor, ...(tls ? { tls } : {}), insecure: o.insecure })
        .catch((e: unknown) => { admin.close(); throw e; });
      let agent: NodeAgent;
      try {
        agent = await NodeAgent.start(admin, server, o.advertise ?? server.address);
      } catch (e) {
        await server.close();
        admin.close(); // nothing may keep a failed node's process alive
        throw e;
      }
      // Scripts and tests read this line.
      out(`wharf node ${server.id} serving on ${server.address} (${agent.state}), master ${admin.address}`);
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => {
          out(`received ${sig}; stopping`);
          agent.stop();
          void server.close().finally(async () => {
            await Promise.all([...stores.values()].map((p) => p.then((st) => st.close()).catch(() => undefined)));
            admin.close();
            resolve();
          });
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
    }));

  node
    .command('list')
    .description('the cache nodes the master knows, with their state')
    .action(withAdmin('node list', async (admin) => {
      const l = await admin.listNodes();
      if (globals().json) return json(l);
      out(`placement epoch ${l.epoch}, ${l.nodes.length} node(s)`);
      for (const n of l.nodes) out(nodeLine(n));
    }));

  node
    .command('drain <id>')
    .description('give a node no new blocks (weight 0); it keeps serving until removed')
    .action(withAdmin('node drain', async (admin, id: string) => {
      const n = await admin.drainNode(id);
      if (globals().json) return json(n);
      out(nodeLine(n));
    }));

  node
    .command('remove <id>')
    .description('forget a DRAINING or LOST node (--force: any node; its blocks remap at once)')
    .option('--force', 'remove a node that is still ONLINE', false)
    .action(withAdmin('node remove', async (admin, id: string, o: { force: boolean }) => {
      await admin.removeNode(id, o.force);
      if (globals().json) return json({ removed: id });
      out(`removed ${id}`);
    }));
}
