// A cache node's side of the registry: registers with the master at start, then
// heartbeats (its used bytes and block count) at the interval the master asks for.
// A master that no longer knows the node (removed, or its records lost) answers
// ENOENT: the node registers again. A master that cannot be reached is retried at
// the same interval; the node keeps serving meanwhile (mounts decide whom to read).
// A node the operator removed is answered ESTALE: it stops heartbeating until restarted.
// When the placement epoch moves it reads the node list again: its peers (BlockServer.setPeers).
import { isWharfError, logger } from '../common/index.js';
import type { AccessMode } from '../access/index.js';
import type { AdminClient, WireNodePolicy } from '../rpc/index.js';
import type { BlockServer } from './BlockServer.js';

const log = logger('node');

export class NodeAgent {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  state = 'UNREGISTERED';
  epoch = '0';

  private constructor(private readonly admin: AdminClient, private readonly node: BlockServer, private readonly advertise: string, private heartbeatMs: number) {}

  /** Registers (failing if the master refuses: a bad id or address is the operator's to fix) and starts heartbeating. */
  static async start(admin: AdminClient, node: BlockServer, advertise = node.address): Promise<NodeAgent> {
    const agent = new NodeAgent(admin, node, advertise, 3_000);
    await agent.register();
    agent.schedule();
    return agent;
  }

  private async register(): Promise<void> {
    const r = await this.admin.registerNode({ id: this.node.id, address: this.advertise, capacityBytes: this.node.stats().capacityBytes, instanceVersion: this.node.control.assignment?.version ?? 0 });
    this.heartbeatMs = r.heartbeat_ms || this.heartbeatMs;
    this.state = r.node?.state ?? 'JOINING';
    this.epoch = r.epoch;
    this.apply(r.policy);
    await this.followPeers();
    log.info({ id: this.node.id, address: this.advertise, state: this.state }, 'registered with the master');
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.beat().finally(() => this.schedule()), this.heartbeatMs);
  }

  private async beat(): Promise<void> {
    const s = this.node.stats();
    const denied = this.node.control.takeDenied();
    try {
      let r;
      try {
        r = await this.admin.nodeHeartbeat({ id: this.node.id, usedBytes: s.usedBytes, blocks: s.blocks, ...denied });
      } catch (e) {
        this.node.control.returnDenied(denied); // the next heartbeat delivers them
        throw e;
      }
      this.state = r.node?.state ?? this.state;
      const moved = r.epoch !== this.epoch;
      this.epoch = r.epoch;
      this.apply(r.policy);
      if (moved) await this.followPeers();
    } catch (e) {
      if (isWharfError(e) && e.errno === 'ESTALE') {
        // Removed by the operator: stop heartbeating (it stays out of placement) until restarted.
        this.state = 'REMOVED';
        log.warn({ id: this.node.id, err: e.message }, 'this node was removed from the cluster; heartbeats stopped');
        this.stop();
      } else if (isWharfError(e) && e.errno === 'ENOENT') {
        await this.register().catch((err: unknown) => log.warn({ err: String(err) }, 'registering again failed'));
      } else log.warn({ err: e instanceof Error ? e.message : String(e) }, 'heartbeat failed; retrying');
    }
  }

  /**
   * The peers this node asks on a miss: the nodes of its instance in placement, each
   * weighted by its capacity even when draining (a draining node still holds what it
   * owned). Failing quietly: the last list stays.
   */
  private async followPeers(): Promise<void> {
    try {
      const l = await this.admin.listNodes();
      const mine = l.nodes.find((n) => n.id === this.node.id)?.instance ?? '';
      const peers = l.nodes.filter((n) => n.in_placement && n.instance === mine)
        .map((n) => ({ id: n.id, address: n.address, weight: Number(n.capacity_bytes), readable: n.readable, instance: n.instance }));
      this.node.setPeers(peers, BigInt(l.epoch));
    } catch (e) {
      this.epoch = '0'; // try again at the next heartbeat
      log.warn({ err: e instanceof Error ? e.message : String(e) }, 'cannot read the node list for peers');
    }
  }

  /** The master's policy for this node (instance, share, watermarks, pins): applied as given. */
  private apply(p: WireNodePolicy | null | undefined): void {
    if (!p) return;
    this.node.applyPolicy({
      instance: p.instance, instanceVersion: Number(p.instance_version), limitBytes: Number(p.limit_bytes), highWatermark: p.high_watermark, lowWatermark: p.low_watermark,
      pins: p.pins.map((x) => ({ source: x.source, prefix: x.prefix, ttlMs: Number(x.ttl_ms) })),
      access: p.access.map((a) => ({ source: a.source, rules: a.rules.map((r) => ({ cidr: r.cidr, mode: r.mode as AccessMode })) })),
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
