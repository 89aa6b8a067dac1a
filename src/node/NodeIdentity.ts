// A cache node's identity: a UUID kept on its cache disk, never its address. A node
// restarted with its disk (on another port or host) keeps its place in placement,
// so its blocks are hits again; a node given a fresh disk is a new node.
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WharfError } from '../common/index.js';

const FILE = 'NODE_ID';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The node id stored in `cacheDir`, made (and written atomically) on first use. */
export function nodeIdentity(cacheDir: string): string {
  mkdirSync(cacheDir, { recursive: true });
  const path = join(cacheDir, FILE);
  let text: string | undefined;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (text !== undefined) {
    // A damaged id is not silently replaced: that would throw away the disk's blocks' place.
    if (!UUID.test(text)) throw new WharfError('EINVAL', `${path} holds ${JSON.stringify(text.slice(0, 60))}, not a node id; remove it to make this a new node`);
    return text;
  }
  const id = randomUUID();
  writeFileSync(`${path}.tmp`, `${id}\n`, { mode: 0o644 });
  renameSync(`${path}.tmp`, path);
  return id;
}
