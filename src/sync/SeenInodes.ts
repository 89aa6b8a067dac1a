// The inodes a full sync's listing accounted for (found unchanged, created or
// changed by it), as a bitset over inode numbers: inode
// numbers are handed out in order and never reused, so a million entries take
// 125 KB here where a Set of numbers took 20–40 MB of a 300 MB budget.
import type { Ino } from '../common/index.js';

export class SeenInodes {
  private bits = new Uint32Array(1024);

  add(ino: Ino): void {
    const n = Number(ino);
    const word = Math.floor(n / 32);
    if (word >= this.bits.length) {
      const grown = new Uint32Array(Math.max(word + 1, this.bits.length * 2));
      grown.set(this.bits);
      this.bits = grown;
    }
    this.bits[word]! |= 1 << (n % 32);
  }

  has(ino: Ino): boolean {
    const n = Number(ino);
    const word = Math.floor(n / 32);
    return word < this.bits.length && (this.bits[word]! & (1 << (n % 32))) !== 0;
  }
}
