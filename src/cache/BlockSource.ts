// Where a missing block comes from. A BlockLocator picks a BlockSource per block:
// today always the file's under store; a cache cluster adds a locator that answers
// "the node that owns this block by consistent hashing" without changing the reader.
import type { Readable } from 'node:stream';
import type { UnderStore } from '../ufs/index.js';

/** A file as the cache knows it: the store object at one fingerprint. */
export interface CachedFile {
  /** blockFileId(source, key, fingerprint, block size). */
  id: string;
  /** The data source and the object's fingerprint the id was made from: what a cache node needs to fetch the same bytes. */
  source?: string;
  fingerprint?: string;
  store: UnderStore;
  key: string;
  size: number;
}

export interface BlockSource {
  /**
   * Bytes [offset, offset + length) of the file as a stream: one request however
   * many blocks it spans (a sequential reader asks for several blocks at once; one
   * request per block costs a store like s3rver a third of its throughput).
   * Errors are WharfErrors or the store's own; the signal aborts the request.
   */
  open(file: CachedFile, offset: number, length: number, signal: AbortSignal): Promise<Readable>;
}

export interface BlockLocator {
  sourceFor(file: CachedFile, index: number): BlockSource;
}

/** One ranged GET from the file's under store. */
export const storeBlockSource: BlockSource = {
  async open(file, offset, length, signal) {
    return file.store.get(file.key, { start: BigInt(offset), end: BigInt(offset + length - 1) }, { signal });
  },
};

export const storeLocator: BlockLocator = { sourceFor: () => storeBlockSource };
