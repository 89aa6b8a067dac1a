// Which cache nodes own a block: weighted rendezvous (highest-random-weight) hashing.
// Every (node, block) pair gets a pseudo-random u in (0, 1); the node's score is
// weight / -ln(u), and the nodes in score order are the block's candidates (owner
// first, then the fallbacks). A node joining takes ≈ weight/total of the blocks from
// the others and moves nothing else; a node leaving hands only its own blocks on.
// Scores are computed from two 32-bit mixes of the block's and the node's hashes:
// no per-pair string hashing, so a lookup at 1,000 nodes costs microseconds.

/** A node as placement sees it. Weight 0 (draining) never owns a block. */
export interface PlacementNode {
  id: string;
  /** Its share of blocks: capacity in bytes, or any proportional number. */
  weight: number;
}

/** 32-bit FNV-1a of a string, from a seed. */
function fnv1a(s: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** MurmurHash3's finaliser: every input bit flips each output bit with probability ½. */
function fmix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

interface Seeded {
  node: PlacementNode;
  a: number;
  b: number;
}

export class Placement {
  private readonly nodes: Seeded[];

  constructor(nodes: readonly PlacementNode[]) {
    const ids = new Set<string>();
    for (const n of nodes) {
      if (ids.has(n.id)) throw new Error(`node ${n.id} appears twice in a placement`);
      if (!(n.weight >= 0) || !Number.isFinite(n.weight)) throw new Error(`node ${n.id}: weight ${n.weight} is not a finite number ≥ 0`);
      ids.add(n.id);
    }
    this.nodes = nodes.filter((n) => n.weight > 0).map((node) => ({ node, a: fnv1a(node.id, 0x9747b28c), b: fnv1a(node.id, 0x3c6ef372) }));
  }

  get size(): number {
    return this.nodes.length;
  }

  /** The node that owns the block, or undefined when no node has weight. */
  owner(blockKey: string): PlacementNode | undefined {
    const ha = fnv1a(blockKey, 0x811c9dc5);
    const hb = fnv1a(blockKey, 0x1b873593);
    let best: PlacementNode | undefined;
    let bestScore = -1;
    for (const s of this.nodes) {
      const score = this.score(s, ha, hb);
      if (score > bestScore) {
        bestScore = score;
        best = s.node;
      }
    }
    return best;
  }

  /** The block's first `k` candidates, owner first. */
  candidates(blockKey: string, k = this.nodes.length): PlacementNode[] {
    const ha = fnv1a(blockKey, 0x811c9dc5);
    const hb = fnv1a(blockKey, 0x1b873593);
    if (k <= 0) return [];
    // A small top-k by insertion: k is 2–3 in the read path, so this beats a full sort.
    const top: { node: PlacementNode; score: number }[] = [];
    for (const s of this.nodes) {
      const score = this.score(s, ha, hb);
      if (top.length === k && score <= top[k - 1]!.score) continue;
      const entry = { node: s.node, score };
      if (top.length < k) top.push(entry);
      else top[k - 1] = entry;
      for (let i = top.length - 1; i > 0 && top[i - 1]!.score < score; i--) {
        top[i] = top[i - 1]!;
        top[i - 1] = entry;
      }
    }
    return top.map((t) => t.node);
  }

  private score(s: Seeded, ha: number, hb: number): number {
    // 53 bits of the pair's hash, mapped into (0, 1) — never 0, so the log is finite.
    const u = (fmix32(ha ^ s.a) * 2 ** 21 + (fmix32(hb ^ s.b) >>> 11) + 0.5) / 2 ** 53;
    return s.node.weight / -Math.log(u);
  }
}
