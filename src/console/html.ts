// HTML for the console: a tagged template that escapes every interpolated value
// unless it is already Html (so a name from the store or the audit log can never
// become markup), and the page layout. No client-side script anywhere: the
// console works with JavaScript off, and the CSP forbids scripts.
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escape(v: unknown): string {
  return String(v).replace(/[&<>"']/g, (c) => ESC[c]!);
}

type Part = Html | string | number | bigint | boolean | null | undefined | readonly Part[];

function render(v: Part): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return v.map((x) => render(x as Part)).join('');
  return escape(v);
}

export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Html(out);
}

export const NAV = [
  ['/', 'Overview'], ['/instances', 'Instances'], ['/nodes', 'Nodes'], ['/sources', 'Data sources'],
  ['/access', 'Permission groups'], ['/users', 'Users & keys'], ['/audit', 'Audit log'],
] as const;

export interface PageContext {
  user: string;
  csrf: string;
  path: string;
  flash?: { kind: 'ok' | 'error'; text: string } | undefined;
  /** Seconds between automatic reloads (pages with running jobs). */
  refreshSeconds?: number;
}

export function layout(title: string, ctx: PageContext, body: Html): Html {
  const active = (href: string) => (href === '/' ? ctx.path === '/' : ctx.path.startsWith(href));
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title} · Wharf</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
${ctx.refreshSeconds ? html`<meta http-equiv="refresh" content="${ctx.refreshSeconds}">` : ''}
<link rel="stylesheet" href="/console.css"></head>
<body><header><strong>Wharf</strong>
<nav>${NAV.map(([href, label]) => html`<a href="${href}"${active(href) ? html` class="on"` : ''}>${label}</a>`)}</nav>
<form method="post" action="/logout" class="who"><span>${ctx.user}</span>${csrfField(ctx)}<button>Log out</button></form></header>
<main><h1>${title}</h1>
${ctx.flash ? html`<p class="flash ${ctx.flash.kind}" role="${ctx.flash.kind === 'error' ? 'alert' : 'status'}">${ctx.flash.text}</p>` : ''}
${body}</main></body></html>`;
}

export function csrfField(ctx: Pick<PageContext, 'csrf'>): Html {
  return html`<input type="hidden" name="csrf" value="${ctx.csrf}">`;
}

/** A one-button form posting to `action` (what the server accepts, offered as such). */
export function button(ctx: Pick<PageContext, 'csrf'>, action: string, label: string, fields: Record<string, string> = {}): Html {
  return html`<form method="post" action="${action}" class="inline">${csrfField(ctx)}${Object.entries(fields).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}<button>${label}</button></form>`;
}

export function table(head: readonly string[], rows: readonly (readonly Part[])[], empty = 'none'): Html {
  if (rows.length === 0) return html`<p class="empty">${empty}</p>`;
  return html`<table><thead><tr>${head.map((h) => html`<th>${h}</th>`)}</tr></thead><tbody>${rows.map((r) => html`<tr>${r.map((c) => html`<td>${c}</td>`)}</tr>`)}</tbody></table>`;
}

export function when(ms: string | number | undefined): string {
  const n = Number(ms ?? 0);
  return n > 0 ? new Date(n).toISOString().replace('T', ' ').slice(0, 19) : '—';
}

export function bytes(n: string | number | undefined): string {
  let v = Number(n ?? 0);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

export const CSS = `
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
header{display:flex;gap:1.5em;align-items:center;background:#13315c;color:#fff;padding:.6em 1.2em}
header nav a{color:#cfe0ff;margin-right:1em;text-decoration:none}header nav a.on{color:#fff;font-weight:600;border-bottom:2px solid #fff}
header .who{margin-left:auto;display:flex;gap:.6em;align-items:center}
main{padding:1em 1.6em;max-width:1200px}h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;background:#fff;width:100%;margin:.4em 0}th,td{border:1px solid #dde2ea;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#eef1f6}.inline{display:inline}.inline button{margin-right:.3em}
form.box{background:#fff;border:1px solid #dde2ea;padding:.6em .8em;margin:.6em 0;display:flex;flex-wrap:wrap;gap:.5em;align-items:end}
form.box label{display:flex;flex-direction:column;font-size:.85em}
.flash{padding:.5em .8em;border-radius:4px}.flash.ok{background:#e3f6e8}.flash.error{background:#fde4e4;color:#8a1010}
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{background:#fff;border:1px solid #dde2ea;padding:.6em 1em;min-width:11em}
.card b{display:block;font-size:1.5em}.empty{color:#6b7588}progress{width:12em}
.state-ONLINE,.state-succeeded,.state-active{color:#11772e}.state-LOST,.state-failed,.state-error,.mode-Forbidden{color:#a31515}
.state-SUSPECT,.state-DRAINING,.state-executing,.state-starting{color:#9a6200}
.secret{font-family:monospace;background:#fff6d5;padding:.4em;border:1px dashed #b38f00}
`;
