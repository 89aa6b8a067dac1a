// The web console in a real browser: Debian's chromium driven by playwright-core
// against a master process with TLS and auth and a cache node process. The flows
// an operator runs: log in with an access key, import a data source, create and
// run a sync rule and a warmup rule and watch them reach 100%, drain a node, add a
// Forbidden CIDR and see a read from that address refused, a viewer refused an
// action with the server's message. And the guards: nothing but the login page
// without a session, the cookie's flags, forms from elsewhere or without the
// session's token refused. A screenshot of every page goes to test-output/console.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { makePki } from './helpers/pki.js';
import { WHARF_BIN, runCli, startMasterProcess, type MasterProcess } from './helpers/processes.js';
import { tempDir } from './helpers/tmp.js';

const CHROMIUM = process.env['WHARF_CHROMIUM'] ?? '/usr/bin/chromium';
const SHOTS = join(process.cwd(), 'test-output', 'console');

describe('the web console in chromium', () => {
  let tmp: { path: string; remove: () => void };
  let master: MasterProcess;
  let node: ChildProcess | undefined;
  let browser: Browser;
  let page: Page;
  let base: string;
  let adminKey: string;
  let cliArgs: string[];
  let caPem: Buffer;
  /** One HTTPS request to the console, trusting the test CA; redirects not followed. */
  const call = (method: string, path: string, o: { headers?: Record<string, string>; body?: string } = {}) => new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
    const r = request(base + path, { method, ca: caPem, headers: { ...(o.body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}), ...o.headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location }));
    });
    r.on('error', reject);
    r.end(o.body);
  });
  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const cli = async (...args: string[]) => {
    const r = await runCli([...cliArgs, ...args], {}, 30_000);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  /** Reloads `path` until `text` shows (pages with running jobs also reload themselves). */
  const untilText = async (path: string, text: RegExp, ms = 30_000) => {
    const end = Date.now() + ms;
    for (;;) {
      await page.goto(base + path);
      const body = await page.textContent('main');
      if (text.test(body ?? '')) return body!;
      if (Date.now() > end) throw new Error(`${path}: no ${text} in: ${body}`);
      await page.waitForTimeout(300);
    }
  };

  before(async () => {
    tmp = tempDir('wharf-console-');
    mkdirSync(SHOTS, { recursive: true });
    const pki = makePki(tmp.path);
    caPem = readFileSync(pki.ca.cert);
    const tls = (name: string) => { const p = pki.leaf(name); return ['--tls-ca', pki.ca.cert, '--tls-cert', p.cert, '--tls-key', p.key]; };
    const store = join(tmp.path, 'store');
    mkdirSync(join(store, 'sets', 'a'), { recursive: true });
    for (let i = 0; i < 12; i++) writeFileSync(join(store, 'sets', 'a', `part-${i}.bin`), Buffer.alloc(100_000 + i, i));
    const data = join(tmp.path, 'meta');
    master = await startMasterProcess(data, [...tls('master'), '--auth', '--console', '127.0.0.1:0', '--node-heartbeat', '300']);
    base = master.consoleUrl!.replace(/\/$/, '');
    adminKey = readFileSync(join(data, 'admin.key'), 'utf8').trim();
    cliArgs = ['--master', master.address, ...tls('cli'), '--key-file', join(data, 'admin.key')];
    // A cache node for the warmup, over TLS like every part here.
    node = spawn(process.execPath, [WHARF_BIN, '--master', master.address, ...tls('node'), '--key-file', join(data, 'admin.key'), 'node', 'run', '--cache-dir', join(tmp.path, 'node'), '--listen', '127.0.0.1:0', '--capacity', '256MB', '--min-free', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WHARF_LOG_LEVEL: 'warn' },
    });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      node!.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (/serving on/.test(out)) resolve(); });
      node!.once('exit', (c) => reject(new Error(`node exited ${c}`)));
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    // The master's certificate is signed by the test CA, which this browser does not know.
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
  });

  after(async () => {
    await browser?.close();
    node?.kill('SIGKILL');
    master?.child.kill('SIGTERM');
    await master?.exited;
    tmp.remove();
  });

  it('answers nothing but the login page without a session, and refuses a wrong key', async () => {
    for (const path of ['/', '/sources', '/users', '/audit']) {
      const r = await call('GET', path);
      assert.equal(r.status, 303, path);
      assert.equal(r.location, '/login');
    }
    const post = await call('POST', '/nodes/x/drain', { body: 'csrf=x' });
    assert.deepEqual(post, { status: 303, location: '/login' }, 'an action without a session goes to the login page');
    assert.equal((await call('GET', '/console.css')).status, 200);
    await page.goto(base + '/');
    assert.equal(new URL(page.url()).pathname, '/login');
    await shot('login');
    await page.fill('input[name=key]', `${adminKey.split(':')[0]}:wrong-secret`);
    await page.click('button');
    assert.match((await page.textContent('[role=alert]')) ?? '', /Refused: .*(wrong|unknown|not valid|rejected)/i);
    await page.fill('input[name=key]', 'not a key');
    await page.click('button');
    assert.match((await page.textContent('[role=alert]')) ?? '', /expected ID:SECRET/);
  });

  it('logs in with an access key: an HttpOnly, Secure, SameSite=Strict session cookie', async () => {
    await page.fill('input[name=key]', adminKey);
    await page.click('button');
    assert.equal(new URL(page.url()).pathname, '/');
    assert.match((await page.textContent('header')) ?? '', /admin \(/);
    const [cookie] = await page.context().cookies();
    assert.equal(cookie?.name, 'wharf_session');
    assert.equal(cookie?.httpOnly, true);
    assert.equal(cookie?.secure, true);
    assert.equal(cookie?.sameSite, 'Strict');
    await untilText('/', /Cache nodes1/);
    await shot('overview');
  });

  it('refuses forms from another site or without the session\'s token', async () => {
    const [cookie] = await page.context().cookies();
    const headers = { cookie: `wharf_session=${cookie!.value}` };
    assert.equal((await call('POST', '/instances', { headers, body: 'name=x&capacity=1GB' })).status, 403, 'no token');
    const csrf = await page.getAttribute('input[name=csrf]', 'value');
    assert.equal((await call('POST', '/instances', { headers, body: 'csrf=wrong&name=x&capacity=1GB' })).status, 403, 'another token');
    assert.equal((await call('POST', '/instances', { headers: { ...headers, origin: 'https://evil.example' }, body: `csrf=${csrf}&name=x&capacity=1GB` })).status, 403, 'from another site');
    assert.equal((await call('POST', '/instances', { headers: { ...headers, 'sec-fetch-site': 'cross-site' }, body: `csrf=${csrf}&name=x&capacity=1GB` })).status, 403, 'the browser says cross-site');
    assert.doesNotMatch(await cli('cache', 'instance', 'list'), /\bx\b/, 'neither created anything');
  });

  it('imports a data source and runs a sync rule to its end', async () => {
    await page.goto(base + '/sources');
    await page.fill('input[name=name]', 'lake');
    await page.fill('input[name=uri]', `file://${join(tmp.path, 'store')}`);
    await page.fill('input[name=at]', '/lake');
    await page.click('form.box button');
    assert.equal(new URL(page.url()).pathname, '/sources/lake');
    assert.match((await page.textContent('.flash')) ?? '', /source lake imported; its first sync is job \d+/);
    await untilText('/sources/lake', /succeeded/);
    // A manual sync rule, created and executed from the page; only "Execute" is offered.
    await page.fill('form[action="/sources/lake/rules"] input[name=name]', 'full');
    await page.click('form[action="/sources/lake/rules"] button');
    assert.match((await page.textContent('.flash')) ?? '', /sync rule full created \(manual\)/);
    const row = page.locator('tr', { hasText: 'full' }).first();
    assert.deepEqual(await row.locator('button').allTextContents(), ['Execute']);
    await row.locator('button', { hasText: 'Execute' }).click();
    const started = (await page.textContent('.flash')) ?? '';
    const id = /sync job (\d+)/.exec(started)?.[1];
    assert.ok(id, started);
    const job = await untilText(`/jobs/${id}`, /succeeded/);
    assert.match(job, /12/, 'the counters show the listed files');
    await shot('sync-job');
    await untilText('/sources/lake', /full/);
    await shot('source');
    await page.goto(base + '/sources');
    assert.match((await page.textContent('tbody')) ?? '', /lake\s*\/lake\s*file:\/\/.*normal/);
    await shot('sources');
  });

  it('runs a warmup rule and watches its progress reach 100%', async () => {
    await page.goto(base + '/sources/lake');
    const form = 'form[action="/sources/lake/cache-rules"]';
    await page.fill(`${form} input[name=name]`, 'warm');
    await page.fill(`${form} input[name=directory]`, '/sets');
    await page.click(`${form} button`);
    assert.match((await page.textContent('.flash')) ?? '', /cache rule warm created \(warmup\)/);
    await page.locator('tr', { hasText: 'warm' }).locator('button', { hasText: 'Execute' }).click();
    const id = /cache job (\d+)/.exec((await page.textContent('.flash')) ?? '')?.[1];
    assert.ok(id);
    const done = await untilText(`/cache-jobs/${id}`, /succeeded/, 60_000);
    assert.match(done, /100%\s*12\/12 files/);
    await shot('cache-job');
    // The node's counters, read over its TLS for the overview (no mount has read yet: no hit ratio).
    await page.goto(base + '/');
    assert.match((await page.locator('.card', { hasText: 'Hit ratio' }).textContent()) ?? '', /Hit ratio—since the nodes started/, 'every node sampled');
    await page.goto(base + '/');
    assert.match((await page.locator('.card', { hasText: 'Store → cache' }).textContent()) ?? '', /Store → cache\d+(\.\d)? [KMGT]?i?B\/s/, 'a rate from two views');
  });

  it('drains a node: then Remove is offered, and Drain no longer', async () => {
    await page.goto(base + '/nodes');
    await shot('nodes');
    const row = page.locator('tbody tr').first();
    assert.deepEqual(await row.locator('button').allTextContents(), ['Drain'], 'an online node can be drained, not removed');
    await row.locator('button', { hasText: 'Drain' }).click();
    assert.match((await page.textContent('.flash')) ?? '', /is DRAINING/);
    assert.match((await page.locator('tbody tr').first().textContent()) ?? '', /DRAINING/);
    assert.deepEqual(await page.locator('tbody tr').first().locator('button').allTextContents(), ['Remove']);
    await page.goto(base + '/instances');
    await shot('instances');
  });

  it('adds a Forbidden CIDR: the check says so, and a read from that address is refused', async () => {
    await page.goto(base + '/access');
    const form = page.locator('form[action="/access/rules"]').first();
    await form.locator('input[name=cidr]').fill('127.0.0.1/32');
    await form.locator('select[name=mode]').selectOption('Forbidden');
    await form.locator('button').click();
    assert.match((await page.textContent('.flash')) ?? '', /rule 127.0.0.1\/32 Forbidden added/);
    await page.goto(`${base}/access?source=lake&address=127.0.0.1`);
    assert.match((await page.textContent('.decision')) ?? '', /Forbidden by 127.0.0.1\/32/);
    await shot('access');
    const r = await runCli([...cliArgs, 'fs', 'ls', '/lake'], {}, 30_000);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /EACCES|Forbidden/);
    // A bad CIDR: the server's refusal, shown as it is.
    await page.goto(base + '/access');
    await page.locator('form[action="/access/rules"]').first().locator('input[name=cidr]').fill('300.1.2.3/8');
    await page.locator('form[action="/access/rules"]').first().locator('button').click();
    assert.match((await page.textContent('.flash.error')) ?? '', /Refused \(EINVAL\)/);
  });

  it('creates a viewer and its key (shown once); the viewer is refused actions with the server\'s message', async () => {
    await page.goto(base + '/users');
    await page.fill('input[name=name]', 'ana');
    await page.fill('input[name=grants]', 'viewer');
    await page.click('form[action="/users"] button');
    await page.locator('tr', { hasText: 'ana' }).locator('button', { hasText: 'New key' }).click();
    const secret = (await page.textContent('.secret')) ?? '';
    const m = /New key (\S+), secret (\S+)/.exec(secret);
    assert.ok(m, secret);
    await shot('users');
    await page.reload();
    assert.equal(await page.locator('.secret').count(), 0, 'the secret is shown once');
    await page.goto(base + '/audit?since=15m&action=CreateKey');
    assert.match((await page.textContent('tbody')) ?? '', /CreateKey/);
    await shot('audit');
    await page.click('header button'); // log out
    assert.equal(new URL(page.url()).pathname, '/login');
    await page.fill('input[name=key]', `${m[1]}:${m[2]}`);
    await page.click('button');
    assert.match((await page.textContent('header')) ?? '', /ana/);
    await page.goto(base + '/sources/lake');
    await page.locator('tr', { hasText: 'full' }).locator('button', { hasText: 'Execute' }).click();
    assert.match((await page.textContent('.flash.error')) ?? '', /Refused \(EACCES\).*viewer/);
  });
});
