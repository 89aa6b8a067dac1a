import { metaClientConformance } from './conformance/metaClientSuite.js';
import { startTestMaster } from './helpers/master.js';

metaClientConformance('GrpcMetaClient over a real socket', async () => {
  const m = await startTestMaster();
  return { client: m.client, teardown: m.stop };
});
