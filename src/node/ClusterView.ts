// A mount's view of the cache cluster: polls the master's node list and hands the
// placement members (and their epoch) to the ClusterLocator when the epoch changes,
// and the sources' bindings to cache instances when they change.
// A master that cannot be reached leaves the last view in place: reads go on to the
// nodes known, and to the store when they fail.
import { logger } from '../common/index.js';
import type { AdminClient, WireNodeList } from '../rpc/index.js';
import type { ClusterLocator, ClusterMember } from './ClusterLocator.js';

const log = logger('cluster');

export function membersOf(list: WireNodeList): ClusterMember[] {
  return list.nodes.filter((n) => n.in_placement).map((n) => ({ id: n.id, address: n.address, weight: Number(n.weight), readable: n.readable, instance: n.instance }));
}

export class ClusterView {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private bindings = '';

  constructor(private readonly admin: AdminClient, private readonly locator: ClusterLocator, private readonly pollMs = 2_000) {}

  /** One poll now (failing quietly), then every pollMs. */
  async start(): Promise<void> {
    await this.refresh();
    this.schedule();
  }

  async refresh(): Promise<void> {
    try {
      const list = await this.admin.listNodes();
      const epoch = BigInt(list.epoch);
      if (epoch !== this.locator.epoch) {
        const members = membersOf(list);
        this.locator.setMembers(members, epoch);
        log.info({ epoch: list.epoch, nodes: members.length, readable: members.filter((m) => m.readable).length }, 'cache cluster changed');
      }
      // Which instance each source is bound to (a rebind moves its blocks to other nodes).
      const bound = new Map((await this.admin.listSources()).filter((s) => s.instance).map((s) => [s.name, s.instance]));
      const sig = JSON.stringify([...bound].sort());
      if (sig !== this.bindings) {
        this.bindings = sig;
        this.locator.setBindings(bound);
        log.info({ bound: bound.size }, 'cache instance bindings changed');
      }
    } catch (e) {
      log.warn({ err: e instanceof Error ? e.message : String(e) }, 'cannot read the cache node list; keeping the last one');
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.refresh().finally(() => this.schedule()), this.pollMs);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
