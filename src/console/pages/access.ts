// Permission groups and their rules, users and access keys, the audit log.
import type { AdminClient, WireGroup } from '../../rpc/index.js';
import { button, csrfField, html, table, when, type Html, type PageContext } from '../html.js';

export async function accessPage(ctx: PageContext, admin: AdminClient, check?: { source: string; address: string }): Promise<Html> {
  const instances = ['', ...(await admin.listInstances()).map((i) => i.name)];
  const groups: WireGroup[] = (await Promise.all(instances.map((i) => admin.listGroups(i)))).flat();
  const decision = check ? await admin.checkAccess(check.source, check.address) : undefined;
  return html`<p>Rules are CIDRs with a mode; the most specific match decides, and no match is ReadWrite. A group governs the sources bound to it.</p>
${groups.map((g) => html`<h2>${g.instance ? `${g.instance} / ` : ''}${g.name}${g.is_default ? ' (default)' : ''}</h2>
<p>Sources: ${g.sources.join(', ') || 'none'}.</p>
${table(['CIDR', 'mode', ''], g.rules.map((r) => [r.cidr, html`<span class="mode-${r.mode}">${r.mode}</span>`, button(ctx, '/access/rules/delete', 'Delete', { instance: g.instance, group: g.name, cidr: r.cidr })]), 'no rules: every address may read and write')}
<form method="post" action="/access/rules" class="box">${csrfField(ctx)}<input type="hidden" name="instance" value="${g.instance}"><input type="hidden" name="group" value="${g.name}">
<label>CIDR<input name="cidr" required placeholder="10.0.0.0/8"></label>
<label>Mode<select name="mode"><option>ReadWrite</option><option>ReadOnly</option><option>Forbidden</option></select></label><button>Add rule</button></form>`)}
<h2>New group</h2>
<form method="post" action="/access/groups" class="box">${csrfField(ctx)}
<label>Instance<select name="instance">${instances.map((i) => html`<option value="${i}">${i || '(no instance)'}</option>`)}</select></label>
<label>Name<input name="name" required></label><label>Description<input name="description"></label><button>Create group</button></form>
<h2>Check an address</h2>
<form method="get" action="/access" class="box"><label>Source<input name="source" value="${check?.source ?? ''}"></label><label>Address<input name="address" required value="${check?.address ?? ''}"></label><button>Check</button></form>
${decision ? html`<p class="decision">${check!.address} on ${check!.source || '(outside every source)'}: <b class="mode-${decision.mode}">${decision.mode}</b>${decision.cidr ? ` by ${decision.cidr} in group ${decision.group}` : ' (no rule matches)'}</p>` : ''}`;
}

export async function usersPage(ctx: PageContext, admin: AdminClient, reveal?: { keyId: string; secret: string }): Promise<Html> {
  const [users, keys] = await Promise.all([admin.listUsers(), admin.listKeys()]);
  return html`
${reveal ? html`<p class="secret" role="status">New key <b>${reveal.keyId}</b>, secret <code>${reveal.secret}</code> — shown once: store it now (as ${reveal.keyId}:${reveal.secret}).</p>` : ''}
${table(['user', 'grants', 'state', 'created', 'description', ''], users.map((u) => [u.name, u.grants.join(', '), u.disabled ? 'disabled' : 'enabled', when(u.created_ms), u.description,
    html`${button(ctx, `/users/${encodeURIComponent(u.name)}/keys`, 'New key')}${button(ctx, `/users/${encodeURIComponent(u.name)}/${u.disabled ? 'enable' : 'disable'}`, u.disabled ? 'Enable' : 'Disable')}`]))}
<form method="post" action="/users" class="box">${csrfField(ctx)}<label>Name<input name="name" required></label>
<label>Grants<input name="grants" placeholder="operator, viewer@gpu-pool" size="28"></label><label>Description<input name="description"></label><button>Create user</button></form>
<h2>Access keys</h2>
${table(['key', 'user', 'state', 'created', 'expires', 'description', ''], keys.map((k) => [k.id, k.user, k.disabled ? 'disabled' : 'enabled', when(k.created_ms), Number(k.expires_ms) > 0 ? when(k.expires_ms) : 'never', k.description,
    html`${button(ctx, `/keys/${encodeURIComponent(k.id)}/${k.disabled ? 'enable' : 'disable'}`, k.disabled ? 'Enable' : 'Disable')}${button(ctx, `/keys/${encodeURIComponent(k.id)}/delete`, 'Delete')}`]))}`;
}

const SINCE: Record<string, number> = { '15m': 15 * 60_000, '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000 };

export async function auditPage(admin: AdminClient, q: URLSearchParams): Promise<Html> {
  const since = q.get('since') ?? '1h';
  const f = { action: q.get('action') ?? '', result: q.get('result') ?? '', plane: q.get('plane') ?? '', ip: q.get('ip') ?? '' };
  const entries = await admin.queryAudit({
    sinceMs: Date.now() - (SINCE[since] ?? 3_600_000), limit: 200,
    ...(f.action ? { action: f.action } : {}), ...(f.result ? { result: f.result } : {}), ...(f.plane ? { plane: f.plane } : {}), ...(f.ip ? { sourceIp: f.ip } : {}),
  });
  return html`<form method="get" action="/audit" class="box">
<label>Since<select name="since">${Object.keys(SINCE).map((s) => html`<option${s === since ? html` selected` : ''}>${s}</option>`)}</select></label>
<label>Action<input name="action" value="${f.action}" placeholder="CreateRule"></label>
<label>Result<input name="result" value="${f.result}" placeholder="ok, failed, EACCES"></label>
<label>Plane<select name="plane">${['', 'admin', 'data'].map((p) => html`<option value="${p}"${p === f.plane ? html` selected` : ''}>${p || 'any'}</option>`)}</select></label>
<label>Source IP<input name="ip" value="${f.ip}"></label><button>Filter</button></form>
${table(['time', 'principal', 'source IP', 'plane', 'action', 'resource', 'result', 'ms', 'parameters'], entries.map((e) => [e.time, e.principal, e.source_ip, e.plane, e.action, e.resource, e.result, e.latency_ms.toFixed(1), html`<code>${e.params_json}</code>`]), 'no entries match')}`;
}
