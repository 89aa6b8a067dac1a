// Child process that hosts a cache node's BlockServer over local-directory stores
// (started by cluster tests, killed with SIGKILL by some). Args: a JSON object
// { cacheDir, listen, capacityBytes, stores: { <source>: <dir> } }.
// Prints {"id":…,"address":…} on stdout once listening; exits when stdin closes.
import { WharfError } from '../../src/common/index.js';
import { BlockServer } from '../../src/node/index.js';
import { LocalStore, type UnderStore } from '../../src/ufs/index.js';

if (process.env['WHARF_NODE_CHILD'] !== '1') process.exit(0);

const cfg = JSON.parse(process.argv[2] ?? '{}') as { cacheDir: string; listen: string; capacityBytes: number; stores: Record<string, string> };
const stores = new Map<string, Promise<UnderStore>>();
const node = await BlockServer.start({
  cacheDir: cfg.cacheDir, listen: cfg.listen, capacityBytes: cfg.capacityBytes,
  storeFor: (source) => {
    const dir = cfg.stores[source];
    if (!dir) return Promise.reject(new WharfError('ENOENT', `no data source ${source} on this node`));
    let s = stores.get(source);
    if (!s) stores.set(source, (s = LocalStore.open(dir)));
    return s;
  },
});
process.stdout.write(`${JSON.stringify({ id: node.id, address: node.address })}\n`);
const stop = (): void => { void node.close().finally(() => process.exit(0)); };
process.stdin.on('end', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
