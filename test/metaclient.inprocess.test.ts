import { InodeTree } from '../src/meta/index.js';
import { metaClientConformance } from './conformance/metaClientSuite.js';
import { tempDir } from './helpers/tmp.js';

metaClientConformance('in-process InodeTree', async () => {
  const dir = tempDir();
  const tree = await InodeTree.open(`${dir.path}/meta`);
  return { client: tree, teardown: async () => { await tree.close(); dir.remove(); } };
});
