// Child process that hosts a cache node's BlockServer over local-directory stores
// (started by cluster tests, killed with SIGKILL by some). Args: a JSON object
// { cacheDir, listen, capacityBytes, stores: { <source>: <dir> }, master?, failKeys? }:
// with `master` it registers and heartbeats (NodeAgent, as `wharf node run` does);
// store GETs of keys under a `failKeys` prefix fail with EIO (a FaultyStore).
// Prints {"id":…,"address":…} on stdout once listening; exits when stdin closes.
import { WharfError } from '../../src/common/index.js';
import { BlockServer, NodeAgent } from '../../src/node/index.js';
import { AdminClient } from '../../src/rpc/index.js';
import { FaultyStore, LocalStore, type UnderStore } from '../../src/ufs/index.js';

if (process.env['WHARF_NODE_CHILD'] !== '1') process.exit(0);

const cfg = JSON.parse(process.argv[2] ?? '{}') as { cacheDir: string; listen: string; capacityBytes: number; stores: Record<string, string>; master?: string; failKeys?: string[] };
const stores = new Map<string, Promise<UnderStore>>();
const node = await BlockServer.start({
  cacheDir: cfg.cacheDir, listen: cfg.listen, capacityBytes: cfg.capacityBytes,
  storeFor: (source) => {
    const dir = cfg.stores[source];
    if (!dir) return Promise.reject(new WharfError('ENOENT', `no data source ${source} on this node`));
    let s = stores.get(source);
    if (!s) {
      s = LocalStore.open(dir).then((st): UnderStore => (cfg.failKeys?.length ? new FaultyStore(st, { rules: cfg.failKeys.map((k) => ({ ops: ['get'], keyPrefix: k })) }) : st));
      stores.set(source, s);
    }
    return s;
  },
});
const agent = cfg.master ? await NodeAgent.start(new AdminClient(cfg.master, 10_000), node) : undefined;
process.stdout.write(`${JSON.stringify({ id: node.id, address: node.address })}\n`);
const stop = (): void => { agent?.stop(); void node.close().finally(() => process.exit(0)); };
process.stdin.on('end', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
