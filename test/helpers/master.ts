// An in-process master on a free loopback port, with a gRPC client to it.
import { Master } from '../../src/master/index.js';
import { GrpcMetaClient } from '../../src/rpc/index.js';
import { tempDir } from './tmp.js';

export interface TestMaster {
  master: Master;
  client: GrpcMetaClient;
  dataDir: string;
  stop: () => Promise<void>;
}

export async function startTestMaster(options: { metrics?: boolean } = {}): Promise<TestMaster> {
  const dir = tempDir('wharf-master-');
  const dataDir = `${dir.path}/meta`;
  const master = await Master.start({ dataDir, listen: '127.0.0.1:0', ...(options.metrics ? { metricsListen: '127.0.0.1:0' } : {}) });
  const client = new GrpcMetaClient(master.address, { deadlineMs: 20_000 });
  return {
    master, client, dataDir,
    stop: async () => {
      await client.close();
      await master.stop(2_000);
      dir.remove();
    },
  };
}
