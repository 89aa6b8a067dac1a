// MetaClient over gRPC: what a mount on another machine than the master uses.
import type { CallOptions, ClientUnaryCall, Metadata } from '@grpc/grpc-js';
import { MAX_MESSAGE_BYTES, WharfError, type Attr, type Ino, type StatFs } from '../common/index.js';
import type { AccessOptions, CommittedWrite, DataLocation, DirPage, LinkName, MetaClient, NewInode, NewSpecial, SetAttrChanges } from '../meta/index.js';
import { attrFromWire, entryFromWire, fileTypeToWire, statFsFromWire } from './convert.js';
import type { NamespaceClient } from './gen/wharf/v1/Namespace.js';
import type { AttrReply__Output as AttrReply } from './gen/wharf/v1/AttrReply.js';
import type { Empty__Output as Empty } from './gen/wharf/v1/Empty.js';
import type { Entry__Output as Entry } from './gen/wharf/v1/Entry.js';
import type { ReadDirReply__Output as ReadDirReply } from './gen/wharf/v1/ReadDirReply.js';
import type { ReadlinkReply__Output as ReadlinkReply } from './gen/wharf/v1/ReadlinkReply.js';
import type { StatFsReply__Output as StatFsReply } from './gen/wharf/v1/StatFsReply.js';
import type { LocateReply__Output as LocateReply } from './gen/wharf/v1/LocateReply.js';
import type { LinksReply__Output as LinksReply } from './gen/wharf/v1/LinksReply.js';
import { wharfProto } from './proto.js';
import { channelOptions, invoke, type Callback } from './invoke.js';
import { callMetadata, channelCredentials, tlsChannelOptions, type ClientSecurity } from './security.js';

export interface GrpcMetaClientOptions {
  /** Per-call deadline. A call that takes longer fails with ETIMEDOUT. */
  deadlineMs?: number;
  /** TLS and the access key (absent: plaintext, no key). */
  security?: ClientSecurity;
}

export class GrpcMetaClient implements MetaClient {
  private readonly stub: NamespaceClient;
  private readonly deadlineMs: number;
  private readonly metadata: Metadata;
  private readonly secure: boolean;

  constructor(readonly address: string, options: GrpcMetaClientOptions = {}) {
    const Namespace = wharfProto().wharf.v1.Namespace;
    this.stub = new Namespace(address, channelCredentials(address, options.security), { ...channelOptions(MAX_MESSAGE_BYTES), ...tlsChannelOptions(address, options.security) });
    this.deadlineMs = options.deadlineMs ?? 30_000;
    this.metadata = callMetadata(options.security);
    this.secure = options.security?.tls !== undefined;
  }

  private call<T>(method: string, fn: (md: Metadata, opts: CallOptions, cb: Callback<T>) => ClientUnaryCall): Promise<T> {
    return invoke(method, this.deadlineMs, fn, this.metadata);
  }

  /** An empty round trip: the floor every other call stands on. */
  async ping(): Promise<void> {
    await this.call<Empty>('Ping', (md, o, cb) => this.stub.Ping({}, md, o, cb));
  }

  /** Resolves once the channel is connected, or fails with ENOTCONN by `deadlineMs`. */
  waitForReady(deadlineMs = 5_000): Promise<void> {
    return new Promise((resolve, reject) => {
      this.stub.waitForReady(Date.now() + deadlineMs, (err) => {
        if (err) reject(new WharfError('ENOTCONN', `cannot reach the master at ${this.address}: ${err.message}${this.secure ? ' (over TLS: is --tls-ca the CA that signed its certificate, does the certificate name this address, and does it need a client certificate?)' : ''}`, err));
        else resolve();
      });
    });
  }

  async lookup(parent: Ino, name: string, access: AccessOptions = {}): Promise<Attr> {
    const e = await this.call<Entry>('Lookup', (md, o, cb) => this.stub.Lookup({ parent: parent.toString(), name, ...wireAccess(access) }, md, o, cb));
    return attrFromWire(e.attr);
  }

  async resolve(path: string, options: { followLast?: boolean } & AccessOptions = {}): Promise<Attr> {
    const e = await this.call<Entry>('Resolve', (md, o, cb) => this.stub.Resolve({ path, follow_last_symlink: options.followLast ?? false, ...wireAccess(options) }, md, o, cb));
    return attrFromWire(e.attr);
  }

  async getattr(ino: Ino): Promise<Attr> {
    const r = await this.call<AttrReply>('GetAttr', (md, o, cb) => this.stub.GetAttr({ ino: ino.toString() }, md, o, cb));
    return attrFromWire(r.attr);
  }

  async readdir(ino: Ino, cursor?: Buffer | null, limit?: number, access: AccessOptions = {}): Promise<DirPage> {
    const r = await this.call<ReadDirReply>('ReadDir', (md, o, cb) => this.stub.ReadDir({ ino: ino.toString(), cursor: cursor ?? Buffer.alloc(0), limit: limit ?? 0, ...wireAccess(access) }, md, o, cb));
    return { entries: r.entries.map(entryFromWire), cursor: r.eof ? null : r.next_cursor };
  }

  async mkdir(parent: Ino, name: string, init: NewInode): Promise<Attr> {
    const e = await this.call<Entry>('Mkdir', (md, o, cb) => this.stub.Mkdir({ parent: parent.toString(), name, ...init }, md, o, cb));
    return attrFromWire(e.attr);
  }

  async create(parent: Ino, name: string, init: NewInode): Promise<Attr> {
    const e = await this.call<Entry>('Create', (md, o, cb) => this.stub.Create({ parent: parent.toString(), name, ...init }, md, o, cb));
    return attrFromWire(e.attr);
  }

  async symlink(parent: Ino, name: string, target: string, owner: { uid: number; gid: number }): Promise<Attr> {
    const e = await this.call<Entry>('Symlink', (md, o, cb) => this.stub.Symlink({ parent: parent.toString(), name, target, ...owner }, md, o, cb));
    return attrFromWire(e.attr);
  }

  async mknod(parent: Ino, name: string, init: NewSpecial): Promise<Attr> {
    const { type, ...rest } = init;
    const e = await this.call<Entry>('Mknod', (md, o, cb) => this.stub.Mknod({ parent: parent.toString(), name, type: fileTypeToWire(type), ...rest }, md, o, cb));
    return attrFromWire(e.attr);
  }

  async readlink(ino: Ino): Promise<string> {
    const r = await this.call<ReadlinkReply>('Readlink', (md, o, cb) => this.stub.Readlink({ ino: ino.toString() }, md, o, cb));
    return r.target;
  }

  async unlink(parent: Ino, name: string): Promise<void> {
    await this.call<Empty>('Unlink', (md, o, cb) => this.stub.Unlink({ parent: parent.toString(), name }, md, o, cb));
  }

  async link(ino: Ino, newParent: Ino, newName: string): Promise<Attr> {
    const e = await this.call<Entry>('Link', (md, o, cb) => this.stub.Link({ ino: ino.toString(), new_parent: newParent.toString(), new_name: newName }, md, o, cb));
    return attrFromWire(e.attr);
  }

  async linksOf(ino: Ino): Promise<LinkName[]> {
    const r = await this.call<LinksReply>('Links', (md, o, cb) => this.stub.Links({ ino: ino.toString() }, md, o, cb));
    return r.names.map((l) => ({ parent: BigInt(l.parent), name: l.name }));
  }

  async setPrimaryName(ino: Ino, parent: Ino, name: string): Promise<void> {
    await this.call<Empty>('SetPrimaryName', (md, o, cb) => this.stub.SetPrimaryName({ ino: ino.toString(), parent: parent.toString(), name }, md, o, cb));
  }

  async rmdir(parent: Ino, name: string): Promise<void> {
    await this.call<Empty>('Rmdir', (md, o, cb) => this.stub.Rmdir({ parent: parent.toString(), name }, md, o, cb));
  }

  async rename(parent: Ino, name: string, newParent: Ino, newName: string, options: { noReplace?: boolean } = {}): Promise<void> {
    await this.call<Empty>('Rename', (md, o, cb) => this.stub.Rename({
      parent: parent.toString(), name, new_parent: newParent.toString(), new_name: newName, no_replace: options.noReplace ?? false,
    }, md, o, cb));
  }

  async setattr(ino: Ino, c: SetAttrChanges): Promise<Attr> {
    const r = await this.call<AttrReply>('SetAttr', (md, o, cb) => this.stub.SetAttr({
      ino: ino.toString(),
      ...(c.mode !== undefined ? { mode: c.mode } : {}),
      ...(c.uid !== undefined ? { uid: c.uid } : {}),
      ...(c.gid !== undefined ? { gid: c.gid } : {}),
      ...(c.size !== undefined ? { size: c.size.toString() } : {}),
      ...(c.atimeNs !== undefined ? { atime_ns: c.atimeNs.toString() } : {}),
      ...(c.mtimeNs !== undefined ? { mtime_ns: c.mtimeNs.toString() } : {}),
      ...(c.pendingWrite !== undefined ? { pending_write: c.pendingWrite } : {}),
    }, md, o, cb));
    return attrFromWire(r.attr);
  }

  async statfs(): Promise<StatFs> {
    return statFsFromWire(await this.call<StatFsReply>('StatFs', (md, o, cb) => this.stub.StatFs({}, md, o, cb)));
  }

  async locate(ino: Ino): Promise<DataLocation | undefined> {
    const r = await this.call<LocateReply>('Locate', (md, o, cb) => this.stub.Locate({ ino: ino.toString() }, md, o, cb));
    if (!r.in_source) return undefined;
    return {
      source: r.source, uri: r.uri, ...(r.endpoint ? { endpoint: r.endpoint } : {}), ...(r.region ? { region: r.region } : {}),
      key: r.key, fingerprint: r.fingerprint, readOnly: r.read_only, size: BigInt(r.size), version: BigInt(r.version),
    };
  }

  async commitWrite(ino: Ino, w: CommittedWrite): Promise<Attr> {
    const r = await this.call<AttrReply>('CommitWrite', (md, o, cb) => this.stub.CommitWrite({ ino: ino.toString(), size: w.size.toString(), etag: w.etag, mtime_ns: w.mtimeNs.toString(), moved: w.moved ?? false }, md, o, cb));
    return attrFromWire(r.attr);
  }

  async close(): Promise<void> {
    this.stub.close();
  }
}

function wireAccess(a: AccessOptions): { sync_interval_ms?: string } {
  return a.syncIntervalMs === undefined ? {} : { sync_interval_ms: String(a.syncIntervalMs) };
}
