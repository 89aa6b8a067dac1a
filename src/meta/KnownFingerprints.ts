// What the store states of synced files (in their inode records) say, in memory: a
// 53-bit hash of each one's fingerprint, by inode number. An unchanged re-sync asks
// this instead of reading an inode record per listed file (a LevelDB value per file was a
// third of what the master's threads did in such a re-sync).
//
// Exactness is the point, so only transactions touch it, and only in the write
// queue: a store state a transaction reads from LevelDB is current there (no commit
// can land meanwhile) and is remembered at once; what a transaction changes is
// applied once its batch is written (InodeTree.mutate), and forgotten if the write
// fails. A read outside the queue could finish after a commit that changed the
// record, so those never add. A file with a write pending is never remembered
// (its decisions need the record). Two different fingerprints with one hash would
// hide a change: at 53 bits, ~1 in 10^16 per change.
//
// Memory: 8 bytes per inode number up to the highest remembered, grown by doubling;
// inode numbers past `limit` are not remembered (their records are read as before).
import type { Ino } from '../common/index.js';
import type { StoreState } from './codec.js';

export class KnownFingerprints {
  /** 0: not known; else the fingerprint's hash + 1. */
  private hashes = new Float64Array(0);

  constructor(private readonly limit = 1 << 23) {}

  /** True only if `ino`'s record is known to hold exactly this fingerprint, with no write pending. */
  matches(ino: Ino, fingerprint: string): boolean {
    const n = Number(ino);
    return n < this.hashes.length && this.hashes[n] === hash53(fingerprint) + 1;
  }

  /** What `ino`'s record now holds (undefined: no record). */
  set(ino: Ino, state: StoreState | undefined): void {
    const n = Number(ino);
    if (!state || state.pending) {
      if (n < this.hashes.length) this.hashes[n] = 0;
      return;
    }
    if (n >= this.limit) return;
    if (n >= this.hashes.length) {
      let size = Math.max(1024, this.hashes.length);
      while (size <= n) size *= 2;
      const grown = new Float64Array(Math.min(size, this.limit));
      grown.set(this.hashes);
      this.hashes = grown;
    }
    this.hashes[n] = hash53(state.fingerprint) + 1;
  }

  forget(ino: Ino): void {
    const n = Number(ino);
    if (n < this.hashes.length) this.hashes[n] = 0;
  }
}

/** cyrb53 (public domain): a fast 53-bit string hash, two 32-bit lanes. */
function hash53(s: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}
