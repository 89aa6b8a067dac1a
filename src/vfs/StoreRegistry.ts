// The under stores a mount reads and uploads to, one per data source, opened on
// first use from the source's location (its URI, endpoint and region come from the
// master; credentials and client settings are the mount's own).
import { openStore, type S3StoreOptions, type UnderStore } from '../ufs/index.js';
import type { DataLocation } from '../meta/index.js';

export type OpenLocation = (loc: DataLocation) => Promise<UnderStore>;

export function defaultOpener(s3: Omit<S3StoreOptions, 'bucket'> = {}): OpenLocation {
  return async (loc) => (await openStore(loc.uri, {
    s3: { ...s3, ...(loc.endpoint ? { endpoint: loc.endpoint, forcePathStyle: s3.forcePathStyle ?? true } : {}), ...(loc.region ? { region: loc.region } : {}) },
  })).store;
}

export class StoreRegistry {
  private readonly stores = new Map<string, Promise<UnderStore>>();

  constructor(private readonly openLocation: OpenLocation) {}

  get(loc: DataLocation): Promise<UnderStore> {
    const k = `${loc.source}\0${loc.uri}\0${loc.endpoint ?? ''}`;
    let p = this.stores.get(k);
    if (!p) {
      p = this.openLocation(loc);
      p.catch(() => this.stores.delete(k));
      this.stores.set(k, p);
    }
    return p;
  }

  async close(): Promise<void> {
    await Promise.all([...this.stores.values()].map((p) => p.then((s) => s.close()).catch(() => undefined)));
    this.stores.clear();
  }
}
