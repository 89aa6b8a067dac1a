// Overview, cache instances and cache nodes. Actions are offered where the server
// says it accepts them (a node's `actions`), never by the console's own judgement.
import type { AdminClient, WireInstance, WireNode } from '../../rpc/index.js';
import { button, bytes, html, table, when, type Html, type PageContext } from '../html.js';

/** A node's counters from its /v1/stats, for the hit ratio and bytes/s (nodes that do not answer within a second are left out). */
export interface NodeSample { timeMs: number; hits: number; misses: number; bytesServed: number; storeBytes: number }

export type NodeSampler = (n: WireNode) => Promise<{ now?: NodeSample; before?: NodeSample }>;

export async function overviewPage(ctx: PageContext, admin: AdminClient, sample: NodeSampler): Promise<Html> {
  const [st, nodes, instances, who] = await Promise.all([admin.status(), admin.listNodes(), admin.listInstances(), admin.whoAmI()]);
  const by = new Map<string, number>();
  for (const n of nodes.nodes) by.set(n.state, (by.get(n.state) ?? 0) + 1);
  const used = nodes.nodes.reduce((a, n) => a + Number(n.used_bytes), 0);
  const cap = nodes.nodes.reduce((a, n) => a + Number(n.capacity_bytes), 0);
  const samples = await Promise.all(nodes.nodes.map(sample));
  let hits = 0, misses = 0, served = 0, fromStore = 0, seconds = 0, sampled = 0;
  for (const s of samples) {
    if (!s.now) continue;
    sampled++;
    hits += s.now.hits;
    misses += s.now.misses;
    if (s.before && s.now.timeMs > s.before.timeMs) {
      const dt = (s.now.timeMs - s.before.timeMs) / 1000;
      served += (s.now.bytesServed - s.before.bytesServed) / dt;
      fromStore += (s.now.storeBytes - s.before.storeBytes) / dt;
      seconds = Math.max(seconds, dt);
    }
  }
  const running = st.sources.filter((s) => s.running_job).length;
  const card = (label: string, value: string | Html, note = '') => html`<div class="card">${label}<b>${value}</b>${note}</div>`;
  return html`
<div class="cards">
  ${card('Master', 'serving', who.auth ? 'auth on' : 'auth OFF')}
  ${card('Cache nodes', String(nodes.nodes.length), [...by].map(([s, n]) => `${n} ${s}`).join(', ') || 'none')}
  ${card('Cache capacity', `${bytes(used)} / ${bytes(cap)}`, cap > 0 ? `${Math.round((100 * used) / cap)}% used` : '')}
  ${card('Hit ratio', hits + misses > 0 ? `${((100 * hits) / (hits + misses)).toFixed(1)}%` : '—', sampled < nodes.nodes.length ? `${sampled} of ${nodes.nodes.length} nodes sampled` : 'since the nodes started')}
  ${card('Cache → clients', seconds > 0 ? `${bytes(served)}/s` : '—', 'since the last view')}
  ${card('Store → cache', seconds > 0 ? `${bytes(fromStore)}/s` : '—', 'since the last view')}
  ${card('Data sources', String(st.sources.length), `${running} syncing`)}
  ${card('Instances', String(instances.length))}
</div>
${st.changes ? html`<h2>Change stream</h2><p>${st.changes.state} on ${st.changes.topic} as ${st.changes.cluster}: ${st.changes.published} published, ${st.changes.pending} waiting${st.changes.error ? ` — ${st.changes.error}` : ''}</p>` : ''}
${st.invalidations ? html`<h2>Invalidations</h2><p>${st.invalidations.state}: ${st.invalidations.applied} applied, ${st.invalidations.losses} losses${st.invalidations.last_loss ? ` (last: ${st.invalidations.last_loss})` : ''}</p>` : ''}
<h2>Nodes not online</h2>
${table(['node', 'state', 'address', 'last heartbeat'], nodes.nodes.filter((n) => n.state !== 'ONLINE').map((n) => [n.id, html`<span class="state-${n.state}">${n.state}</span>`, n.address, when(n.last_heartbeat_ms)]), 'every node is online')}`;
}

function nodeRows(ctx: PageContext, nodes: readonly WireNode[]) {
  return nodes.map((n) => [
    n.id, html`<span class="state-${n.state}">${n.state}</span>`, n.instance || '—', n.address, when(n.last_heartbeat_ms),
    `${bytes(n.used_bytes)} / ${bytes(n.capacity_bytes)}`, n.blocks,
    html`${n.actions.map((a) => button(ctx, `/nodes/${encodeURIComponent(n.id)}/${a}`, a === 'drain' ? 'Drain' : 'Remove'))}`,
  ]);
}

const NODE_HEAD = ['node', 'state', 'instance', 'address', 'last heartbeat', 'used / capacity', 'blocks', 'actions'];

export async function nodesPage(ctx: PageContext, admin: AdminClient): Promise<Html> {
  const l = await admin.listNodes();
  return html`<p>Placement epoch ${l.epoch}. Drain moves a node out of placement (it still serves what it holds); a drained or lost node can be removed.</p>
${table(NODE_HEAD, nodeRows(ctx, l.nodes), 'no cache nodes have registered (wharf node run --master …)')}`;
}

export async function instancesPage(ctx: PageContext, admin: AdminClient): Promise<Html> {
  const list = await admin.listInstances();
  return html`${table(['instance', 'capacity', 'nodes', 'used / node capacity', 'sources', 'created'], list.map((i: WireInstance) => [
    html`<a href="/instances/${encodeURIComponent(i.name)}">${i.name}</a>`, bytes(i.capacity_bytes), i.nodes.length,
    `${bytes(i.used_bytes)} / ${bytes(i.node_capacity_bytes)}`, i.sources.join(', ') || '—', when(i.created_ms),
  ]), 'no cache instances')}
<form method="post" action="/instances" class="box">${html`<input type="hidden" name="csrf" value="${ctx.csrf}">`}
<label>Name<input name="name" required></label><label>Capacity<input name="capacity" placeholder="500GB" required></label>
<label>Description<input name="description"></label><button>Create instance</button></form>`;
}

export async function instancePage(ctx: PageContext, admin: AdminClient, name: string): Promise<Html> {
  const [i, nodes] = await Promise.all([admin.showInstance(name), admin.listNodes()]);
  const mine = nodes.nodes.filter((n) => n.instance === name);
  return html`<p>Capacity ${bytes(i.capacity_bytes)}, watermarks ${i.low_watermark}–${i.high_watermark}; sources: ${i.sources.join(', ') || 'none'}.</p>
<h2>Nodes</h2>${table(NODE_HEAD, nodeRows(ctx, mine), 'no nodes in this instance')}`;
}
