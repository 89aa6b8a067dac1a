// src/ufs — the under-store layer: the object stores (S3 and S3-compatible) and
// local directories that Wharf caches, behind one interface (UnderStore).
//
// Owns: the UnderStore contract and its implementations (S3Store, LocalStore, whose
// listings are walked in one worker thread per process: LocalLister),
// the fault-injecting wrapper other modules test against (FaultyStore), and the
// one mapping between object keys and namespace paths (KeyMapping; rules in KEYS.md).
//
// Invariants:
//   - Every failure that leaves this module is a WharfError with an errno: not
//     found → ENOENT, denied → EACCES, timeout → ETIMEDOUT, unreachable or 5xx
//     after retries → EIO, aborted → EINTR. Streams returned by get() fail the same way.
//   - No message, log line or describe() contains a credential.
//   - A put is atomic for readers: they see the old object or the whole new one.
//   - Memory per upload is bounded (threshold or (partConcurrency + 1) × partSize).
//   - No key addresses anything outside its store root or mount prefix:
//     LocalStore refuses "..", absolute and NUL keys; KeyMapping skips them.
//   - Correctness never depends on listing order (s3rver does not keep it).
import { WharfError } from '../common/index.js';
import { parseStoreUri, type StoreLocation } from './KeyMapping.js';
import { LocalStore, type LocalStoreOptions } from './LocalStore.js';
import { S3Store, type S3StoreOptions } from './S3Store.js';
import type { UnderStore } from './UnderStore.js';

export type { ObjectInfo, ListPage, ListOptions, ByteRange, PutOptions, PutResult, UnderStore, StoreOp } from './UnderStore.js';
export { STORE_OPS } from './UnderStore.js';
export { LocalStore, type LocalStoreOptions } from './LocalStore.js';
export { S3Store, MIN_PART_SIZE, type S3StoreOptions, type ChecksumSetting } from './S3Store.js';
export { FaultyStore, mulberry32, type FaultRule, type TruncateRule, type FaultyStoreOptions } from './FaultyStore.js';
export {
  keyToPath, pathToKey, mapKeys, warnSkipped, checkMountPrefix, parseStoreUri,
  type KeyMapping, type MappedEntry, type MappedKeys, type StoreLocation,
} from './KeyMapping.js';
export { MAX_KEY_BYTES, MAX_METADATA_BYTES, compareKeys } from './checks.js';

export interface OpenStoreOptions {
  /** For s3:// URIs: endpoint, credentials, timeouts… (the bucket comes from the URI). */
  s3?: Omit<S3StoreOptions, 'bucket'>;
  local?: LocalStoreOptions;
}

export interface OpenedStore {
  store: UnderStore;
  /** The mount prefix inside the store ("" or ending in '/'), for KeyMapping. */
  prefix: string;
  location: StoreLocation;
}

/**
 * Opens the store a URI names: 's3://bucket/prefix' or 'file:///dir'. The store
 * covers the whole bucket (or directory); the URI's prefix is returned apart,
 * since it is the mount's business (KeyMapping), not the store's.
 */
export async function openStore(uri: string, options: OpenStoreOptions = {}): Promise<OpenedStore> {
  const location = parseStoreUri(uri);
  let store: UnderStore;
  switch (location.scheme) {
    case 's3':
      store = new S3Store({ ...options.s3, bucket: location.bucket });
      break;
    case 'file':
      store = await LocalStore.open(location.root, options.local);
      break;
    default:
      throw new WharfError('EINVAL', `unsupported store URI ${JSON.stringify(uri)}`);
  }
  return { store, prefix: location.prefix, location };
}
