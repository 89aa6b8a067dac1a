// The gRPC face of the namespace: decode and check each request, call the
// InodeTree, encode the reply. Every failure goes through toStatus (src/rpc).
import type { ServerUnaryCall } from '@grpc/grpc-js';
import { ROOT_INO, WharfError, isSpecial, type Attr, type Ino } from '../common/index.js';
import type { MetaClient } from '../meta/index.js';
import { attrToWire, parseIno, parseInt64, statFsToWire, typeFromWire, type NamespaceHandlers } from '../rpc/index.js';
import { unary } from './unary.js';
import type { ServiceMetrics } from './ServiceMetrics.js';
import type { AccessGate, AccessKind } from './AccessGate.js';

function entry(name: string, a: Attr) {
  return { name, attr: attrToWire(a) };
}

function access(present: string | undefined, v: string | undefined): { syncIntervalMs?: number } {
  if (!present || v === undefined) return {};
  const ms = Number(parseInt64(v, 'sync interval'));
  if (ms < -1) throw new WharfError('EINVAL', `sync interval ${ms} ms is not -1, 0 or positive`);
  return { syncIntervalMs: ms };
}

function u32(v: number | undefined, what: string): number {
  if (v === undefined || !Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new WharfError('EINVAL', `${what} is missing or out of range`);
  return v;
}

/**
 * Every call but Ping (a liveness probe that reveals nothing) is judged first
 * (AccessGate): with auth on, by its access key and role; then by the caller's
 * address: reads need ReadOnly or ReadWrite on the source touched, changes ReadWrite.
 */
export function namespaceHandlers(tree: MetaClient, metrics: ServiceMetrics, gate?: AccessGate): NamespaceHandlers {
  // Resolves to undefined, so a one-expression handler reads `(await may(…)) ?? answer`.
  const may = (call: ServerUnaryCall<unknown, unknown>, ino: Ino | undefined, kind: AccessKind, op: string): Promise<void> =>
    gate ? gate.check(call, ino, kind, op) : Promise.resolve();
  return {
    Ping: unary('Ping', metrics, async () => ({})),
    Lookup: unary('Lookup', metrics, async (r, c) => {
      const parent = parseIno(r.parent, 'parent');
      await may(c, parent, 'read', 'lookup');
      return entry(r.name, await tree.lookup(parent, r.name, access(r._sync_interval_ms, r.sync_interval_ms)));
    }),
    Resolve: unary('Resolve', metrics, async (r, c) => {
      await may(c, ROOT_INO, 'read', 'resolve');
      const a = await tree.resolve(r.path, { followLast: r.follow_last_symlink, ...access(r._sync_interval_ms, r.sync_interval_ms) });
      await may(c, a.ino, 'read', 'resolve');
      return entry(r.path.split('/').filter(Boolean).pop() ?? '/', a);
    }),
    GetAttr: unary('GetAttr', metrics, async (r, c) => {
      const ino = parseIno(r.ino);
      await may(c, ino, 'read', 'getattr');
      return { attr: attrToWire(await tree.getattr(ino)) };
    }),
    ReadDir: unary('ReadDir', metrics, async (r, c) => {
      await may(c, parseIno(r.ino), 'read', 'readdir');
      const page = await tree.readdir(parseIno(r.ino), r.cursor.length > 0 ? r.cursor : null, r.limit, access(r._sync_interval_ms, r.sync_interval_ms));
      return {
        entries: page.entries.map((e) => entry(e.name, e.attr)),
        next_cursor: page.cursor ?? Buffer.alloc(0),
        eof: page.cursor === null,
      };
    }),
    Mkdir: unary('Mkdir', metrics, async (r, c) => (await may(c, parseIno(r.parent, 'parent'), 'write', 'mkdir')) ?? entry(r.name, await tree.mkdir(parseIno(r.parent, 'parent'), r.name, { mode: r.mode, uid: r.uid, gid: r.gid }))),
    Create: unary('Create', metrics, async (r, c) => (await may(c, parseIno(r.parent, 'parent'), 'write', 'create')) ?? entry(r.name, await tree.create(parseIno(r.parent, 'parent'), r.name, { mode: r.mode, uid: r.uid, gid: r.gid }))),
    Symlink: unary('Symlink', metrics, async (r, c) => (await may(c, parseIno(r.parent, 'parent'), 'write', 'symlink')) ?? entry(r.name, await tree.symlink(parseIno(r.parent, 'parent'), r.name, r.target, { uid: r.uid, gid: r.gid }))),
    Mknod: unary('Mknod', metrics, async (r, c) => {
      await may(c, parseIno(r.parent, 'parent'), 'write', 'mknod');
      const type = r.type === 'FILE_TYPE_UNSPECIFIED' ? undefined : typeFromWire(r.type);
      if (!type || !isSpecial(type)) throw new WharfError('EINVAL', `mknod makes a FIFO, SOCKET, CHARDEV or BLOCKDEV, not ${r.type}`);
      return entry(r.name, await tree.mknod(parseIno(r.parent, 'parent'), r.name, { type, mode: r.mode, uid: r.uid, gid: r.gid, rdev: r.rdev }));
    }),
    Readlink: unary('Readlink', metrics, async (r, c) => (await may(c, parseIno(r.ino), 'read', 'readlink')) ?? ({ target: await tree.readlink(parseIno(r.ino)) })),
    Unlink: unary('Unlink', metrics, async (r, c) => { await may(c, parseIno(r.parent, 'parent'), 'write', 'unlink'); await tree.unlink(parseIno(r.parent, 'parent'), r.name); return {}; }),
    Rmdir: unary('Rmdir', metrics, async (r, c) => { await may(c, parseIno(r.parent, 'parent'), 'write', 'rmdir'); await tree.rmdir(parseIno(r.parent, 'parent'), r.name); return {}; }),
    Rename: unary('Rename', metrics, async (r, c) => {
      await may(c, parseIno(r.parent, 'parent'), 'write', 'rename');
      await may(c, parseIno(r.new_parent, 'new parent'), 'write', 'rename');
      await tree.rename(parseIno(r.parent, 'parent'), r.name, parseIno(r.new_parent, 'new parent'), r.new_name, { noReplace: r.no_replace });
      return {};
    }),
    Link: unary('Link', metrics, async (r, c) => {
      // Both ends: the inode's own source (by its primary name) and the new name's.
      await may(c, parseIno(r.ino), 'write', 'link');
      await may(c, parseIno(r.new_parent, 'new parent'), 'write', 'link');
      return entry(r.new_name, await tree.link(parseIno(r.ino), parseIno(r.new_parent, 'new parent'), r.new_name));
    }),
    Links: unary('Links', metrics, async (r, c) => (await may(c, parseIno(r.ino), 'read', 'links')) ?? ({
      names: (await tree.linksOf(parseIno(r.ino))).map((l) => ({ parent: l.parent.toString(), name: l.name })),
    })),
    SetPrimaryName: unary('SetPrimaryName', metrics, async (r, c) => {
      await may(c, parseIno(r.ino), 'write', 'setprimaryname');
      await may(c, parseIno(r.parent, 'parent'), 'write', 'setprimaryname');
      await tree.setPrimaryName(parseIno(r.ino), parseIno(r.parent, 'parent'), r.name);
      return {};
    }),
    SetAttr: unary('SetAttr', metrics, async (r, c) => {
      await may(c, parseIno(r.ino), 'write', 'setattr');
      const a = await tree.setattr(parseIno(r.ino), {
        ...(r._mode ? { mode: u32(r.mode, 'mode') } : {}),
        ...(r._uid ? { uid: u32(r.uid, 'uid') } : {}),
        ...(r._gid ? { gid: u32(r.gid, 'gid') } : {}),
        ...(r._size && r.size !== undefined ? { size: parseInt64(r.size, 'size') } : {}),
        ...(r._atime_ns && r.atime_ns !== undefined ? { atimeNs: parseInt64(r.atime_ns, 'atime') } : {}),
        ...(r._mtime_ns && r.mtime_ns !== undefined ? { mtimeNs: parseInt64(r.mtime_ns, 'mtime') } : {}),
        ...(r._pending_write && r.pending_write !== undefined ? { pendingWrite: r.pending_write } : {}),
      });
      return { attr: attrToWire(a) };
    }),
    StatFs: unary('StatFs', metrics, async (_r, c) => (await may(c, ROOT_INO, 'read', 'statfs')) ?? statFsToWire(await tree.statfs())),
    Locate: unary('Locate', metrics, async (r, c) => {
      await may(c, parseIno(r.ino), 'read', 'locate');
      const l = await tree.locate(parseIno(r.ino));
      if (!l) return { in_source: false };
      return {
        in_source: true, source: l.source, uri: l.uri, endpoint: l.endpoint ?? '', region: l.region ?? '', key: l.key,
        fingerprint: l.fingerprint, read_only: l.readOnly, size: l.size.toString(), version: l.version.toString(),
      };
    }),
    CommitWrite: unary('CommitWrite', metrics, async (r, c) => (await may(c, parseIno(r.ino), 'write', 'commitwrite')) ?? ({
      attr: attrToWire(await tree.commitWrite(parseIno(r.ino), { size: parseInt64(r.size, 'size'), etag: r.etag, mtimeNs: parseInt64(r.mtime_ns, 'mtime'), moved: r.moved })),
    })),
  };
}
