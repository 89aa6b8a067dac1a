// The data plane's door: every namespace call is judged by the caller's address
// against the permission group of the data source it touches (PermissionGroups).
// Forbidden → EACCES (PERMISSION_DENIED on the wire); ReadOnly → EROFS for every
// mutation, reads allowed. A call on a path outside every data source is judged by
// the '' instance's default group. Behind NAT or a proxy the address judged is the
// proxy's: that is what the socket shows.
import { WharfError, logger, type Ino } from '../common/index.js';
import { peerAddress } from '../access/index.js';
import type { Metadata } from '@grpc/grpc-js';
import type { InodeTree } from '../meta/index.js';
import type { CallAuth } from './CallAuth.js';
import type { PermissionGroups } from './PermissionGroups.js';
import type { SourceRecord } from './records.js';
import type { SourceCatalog } from './SourceCatalog.js';

const log = logger('access');

export type AccessKind = 'read' | 'write';

export class AccessGate {
  /** Denied calls so far (a metric; each is also logged). */
  denied = 0;
  /** Called for every denied call (the master writes an audit line). */
  onDenied: ((d: { address: string; op: string; source: string | undefined; ino: string; errno: string; rule: string | undefined; principal?: string }) => void) | undefined;

  constructor(private readonly tree: InodeTree, private readonly catalog: SourceCatalog, private readonly groups: PermissionGroups, private readonly auth?: CallAuth) {}

  /**
   * Throws when the call may not do `kind` to `ino`'s source: EKEYREJECTED /
   * EKEYEXPIRED or EACCES for its key and role (auth on), then EACCES or EROFS for
   * its address (permission groups).
   */
  async check(call: { getPeer(): string; metadata: Metadata }, ino: Ino | undefined, kind: AccessKind, op: string): Promise<void> {
    let source: SourceRecord | undefined | null = null; // null: not looked up yet
    const lookup = async () => (source === null ? (source = ino === undefined ? undefined : await this.sourceOf(ino)) : source);
    if (this.auth?.enabled) {
      try {
        await this.auth.namespace(call, kind, op, async () => { const src = await lookup(); return src ? src.instance ?? '' : undefined; });
      } catch (e) {
        const address = peerAddress(call.getPeer());
        const errno = e instanceof WharfError ? e.errno : 'EIO';
        this.denied++;
        log.warn({ peer: address, op, principal: this.auth.principalName(call), reason: (e as Error).message }, 'data-plane call refused');
        this.onDenied?.({ address, op, source: (await lookup())?.name, ino: String(ino ?? ''), errno, rule: undefined, principal: this.auth.principalName(call) });
        throw e;
      }
    }
    if (!this.groups.restrictive) return; // every rule is ReadWrite: nothing to look up
    const address = peerAddress(call.getPeer());
    source = await lookup();
    const d = this.groups.decide(source, address);
    if (d.mode === 'ReadWrite' || (d.mode === 'ReadOnly' && kind === 'read')) return;
    this.denied++;
    const where = source ? `source ${source.name}` : 'the namespace outside every source';
    log.warn({ peer: address, op, source: source?.name, instance: d.instance, group: d.group, rule: d.rule?.cidr, mode: d.mode }, 'data-plane call denied');
    this.onDenied?.({ address, op, source: source?.name, ino: String(ino ?? ''), errno: d.mode === 'Forbidden' ? 'EACCES' : 'EROFS', rule: d.rule?.cidr, ...(this.auth?.enabled ? { principal: this.auth.principalName(call) } : {}) });
    if (d.mode === 'Forbidden') throw new WharfError('EACCES', `${address} is forbidden from ${where} (permission group ${d.group}, rule ${d.rule?.cidr ?? 'none'})`);
    throw new WharfError('EROFS', `${address} may only read ${where} (permission group ${d.group}, rule ${d.rule?.cidr})`);
  }

  private async sourceOf(ino: Ino): Promise<SourceRecord | undefined> {
    let attr;
    try {
      attr = await this.tree.getattr(ino);
    } catch {
      return undefined; // gone or never there: judged as outside every source; the call then fails on its own
    }
    return (await this.catalog.locate(attr.type === 'directory' ? ino : attr.parent))?.source;
  }
}
