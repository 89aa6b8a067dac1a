// Reference-model property test: random sequences of namespace operations are
// applied to Wharf and to a plain in-memory tree; after every operation both must
// agree on the outcome (success, or the same errno), and at the end on the whole tree.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { ROOT_INO, WharfError, type Errno, type Ino } from '../src/common/index.js';
import { InodeTree, fsck, readdirAll, type MetaClient } from '../src/meta/index.js';
import { startTestMaster, type TestMaster } from './helpers/master.js';
import { tempDir } from './helpers/tmp.js';

// ---- the model -------------------------------------------------------------------

type MNode = { kind: 'file' } | { kind: 'dir'; children: Map<string, MNode> };
type Outcome = 'ok' | Errno;

class ModelFs {
  readonly root: MNode & { kind: 'dir' } = { kind: 'dir', children: new Map() };

  /** Resolves a parent path as Wharf's path walk does. */
  private dir(path: string[]): (MNode & { kind: 'dir' }) | Errno {
    let at: MNode = this.root;
    for (const p of path) {
      if (at.kind !== 'dir') return 'ENOTDIR';
      const next: MNode | undefined = at.children.get(p);
      if (!next) return 'ENOENT';
      at = next;
    }
    return at.kind === 'dir' ? at : 'ENOTDIR';
  }

  make(path: string[], name: string, kind: 'file' | 'dir'): Outcome {
    const d = this.dir(path);
    if (typeof d === 'string') return d;
    if (d.children.has(name)) return 'EEXIST';
    d.children.set(name, kind === 'dir' ? { kind: 'dir', children: new Map() } : { kind: 'file' });
    return 'ok';
  }

  unlink(path: string[], name: string): Outcome {
    const d = this.dir(path);
    if (typeof d === 'string') return d;
    const t = d.children.get(name);
    if (!t) return 'ENOENT';
    if (t.kind === 'dir') return 'EISDIR';
    d.children.delete(name);
    return 'ok';
  }

  rmdir(path: string[], name: string): Outcome {
    const d = this.dir(path);
    if (typeof d === 'string') return d;
    const t = d.children.get(name);
    if (!t) return 'ENOENT';
    if (t.kind !== 'dir') return 'ENOTDIR';
    if (t.children.size > 0) return 'ENOTEMPTY';
    d.children.delete(name);
    return 'ok';
  }

  rename(sp: string[], sn: string, dp: string[], dn: string, noReplace: boolean): Outcome {
    const s = this.dir(sp);
    if (typeof s === 'string') return s;
    const d = this.dir(dp);
    if (typeof d === 'string') return d;
    const src = s.children.get(sn);
    if (!src) return 'ENOENT';
    const dst = d.children.get(dn);
    if (dst && noReplace) return 'EEXIST';
    if (dst === src) return 'ok';
    if (src.kind === 'dir') {
      const srcPath = [...sp, sn];
      if (dp.length >= srcPath.length && srcPath.every((p, i) => dp[i] === p)) return 'EINVAL';
    }
    if (dst) {
      if (src.kind === 'dir' && dst.kind !== 'dir') return 'ENOTDIR';
      if (src.kind !== 'dir' && dst.kind === 'dir') return 'EISDIR';
      if (dst.kind === 'dir' && dst.children.size > 0) return 'ENOTEMPTY';
    }
    s.children.delete(sn);
    d.children.set(dn, src);
    return 'ok';
  }
}

// ---- operations ------------------------------------------------------------------

const NAMES = ['a', 'b', 'c'] as const;
const name = fc.constantFrom(...NAMES);
const path = fc.array(name, { maxLength: 2 });

type Op =
  | { op: 'mkdir' | 'create' | 'unlink' | 'rmdir'; path: string[]; name: string }
  | { op: 'rename'; path: string[]; name: string; to: string[]; toName: string; noReplace: boolean };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constantFrom('mkdir', 'create', 'unlink', 'rmdir') as fc.Arbitrary<'mkdir' | 'create' | 'unlink' | 'rmdir'>, path, name }),
  fc.record({ op: fc.constant('rename') as fc.Arbitrary<'rename'>, path, name, to: path, toName: name, noReplace: fc.boolean() }),
);

async function outcome(p: Promise<unknown>): Promise<Outcome> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof WharfError) return e.errno;
    throw e;
  }
}

async function dirOf(c: MetaClient, base: string, parts: string[]): Promise<Ino> {
  const a = await c.resolve([base, ...parts].join('/'));
  if (a.type !== 'directory') throw new WharfError('ENOTDIR', 'not a directory');
  return a.ino;
}

async function apply(c: MetaClient, base: string, op: Op): Promise<Outcome> {
  const mode = { mode: 0o755, uid: 0, gid: 0 };
  return outcome((async () => {
    const parent = await dirOf(c, base, op.path);
    switch (op.op) {
      case 'mkdir': return c.mkdir(parent, op.name, mode);
      case 'create': return c.create(parent, op.name, mode);
      case 'unlink': return c.unlink(parent, op.name);
      case 'rmdir': return c.rmdir(parent, op.name);
      case 'rename': return c.rename(parent, op.name, await dirOf(c, base, op.to), op.toName, { noReplace: op.noReplace });
    }
  })());
}

function applyModel(m: ModelFs, op: Op): Outcome {
  switch (op.op) {
    case 'mkdir': return m.make(op.path, op.name, 'dir');
    case 'create': return m.make(op.path, op.name, 'file');
    case 'unlink': return m.unlink(op.path, op.name);
    case 'rmdir': return m.rmdir(op.path, op.name);
    case 'rename': return m.rename(op.path, op.name, op.to, op.toName, op.noReplace);
  }
}

type Shape = { [name: string]: Shape | 'file' };

async function shapeOf(c: MetaClient, ino: Ino): Promise<Shape> {
  const out: Shape = {};
  for await (const e of readdirAll(c, ino, 2)) out[e.name] = e.attr.type === 'directory' ? await shapeOf(c, e.attr.ino) : 'file';
  return out;
}

function modelShape(n: MNode & { kind: 'dir' }): Shape {
  const out: Shape = {};
  for (const [k, v] of [...n.children].sort(([a], [b]) => (a < b ? -1 : 1))) out[k] = v.kind === 'dir' ? modelShape(v) : 'file';
  return out;
}

function property(getClient: () => MetaClient) {
  let run = 0;
  return fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 50 }), async (ops) => {
    const c = getClient();
    const base = `/run${++run}`;
    const baseDir = await c.mkdir(ROOT_INO, `run${run}`, { mode: 0o755, uid: 0, gid: 0 });
    const model = new ModelFs();
    for (const [i, op] of ops.entries()) {
      const want = applyModel(model, op);
      const got = await apply(c, base, op);
      assert.equal(got, want, `step ${i}: ${JSON.stringify(op)}`);
    }
    assert.deepEqual(await shapeOf(c, baseDir.ino), modelShape(model.root));
  });
}

describe('reference model', () => {
  let dir: ReturnType<typeof tempDir>;
  let tree: InodeTree;
  let m: TestMaster;

  before(async () => {
    dir = tempDir();
    tree = await InodeTree.open(`${dir.path}/meta`);
    m = await startTestMaster();
  });
  after(async () => {
    await tree.close();
    dir.remove();
    await m.stop();
  });

  test('in-process InodeTree agrees with the model, and fsck stays clean', async () => {
    await fc.assert(property(() => tree), { numRuns: 150, seed: Number(process.env['WHARF_SEED'] ?? Date.now() % 1e9) });
    const report = await fsck(tree.db);
    assert.deepEqual(report.findings, []);
  });

  test('GrpcMetaClient agrees with the model', async () => {
    await fc.assert(property(() => m.client), { numRuns: 40 });
  });
});
