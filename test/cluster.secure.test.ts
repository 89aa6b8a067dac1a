// A secured cluster end to end, all real processes: a master with TLS, mutual TLS
// and access keys; a cache node and mounts presenting their certificates and keys.
// A warmup goes master → node over mutual TLS; a mount reads the warmed file from
// the node only; a member key writes, a viewer key's mount reads but cannot write;
// a mount without a key is refused at start; the node refuses a client without a
// certificate.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureUnmounted, waitFor, wharfMount, type MountProcess } from './helpers/mount.js';
import { makePki, type Pem } from './helpers/pki.js';
import { WHARF_BIN, runCli } from './helpers/processes.js';
import { tempDir } from './helpers/tmp.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('a secured cluster: TLS, mutual TLS and access keys across master, node and mounts', () => {
  let tmp: { path: string; remove: () => void };
  let ca: string;
  let masterAddress = '';
  let master: ChildProcess;
  let node: ChildProcess;
  let nodeAddress = '';
  const mounts: MountProcess[] = [];
  const content = randomBytes(9 * MiB + 17);
  const files: Record<string, string> = {};
  const tlsArgs = (p: Pem) => ['--tls-ca', ca, '--tls-cert', p.cert, '--tls-key', p.key];
  let adminArgs: string[] = [];
  let pki: ReturnType<typeof makePki>;

  function spawnUntil(args: string[], re: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
    const child = spawn(process.execPath, [WHARF_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WHARF_LOG_LEVEL: 'warn' } });
    let out = '';
    let err = '';
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${re} in 20 s: ${out} ${err}`)), 20_000);
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = re.exec(out);
        if (m) { clearTimeout(timer); resolve({ child, match: m }); }
      });
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`exited ${code}: ${out} ${err}`)); });
    });
  }
  const cli = async (...args: string[]) => {
    const r = await runCli([...adminArgs, ...args], {}, 60_000);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    tmp = tempDir('wharf-secure-cluster-');
    pki = makePki(tmp.path);
    ca = pki.ca.cert;
    const storeDir = join(tmp.path, 'store');
    mkdirSync(join(storeDir, 'data'), { recursive: true });
    writeFileSync(join(storeDir, 'data', 'big.bin'), content);
    const dataDir = join(tmp.path, 'meta');
    const m = await spawnUntil([...tlsArgs(pki.leaf('master')), 'master', '--data', dataDir, '--listen', 'localhost:0', '--auth', '--mtls', '--node-heartbeat', '300'], /listening on (\S+?)[,\s]/);
    master = m.child;
    masterAddress = m.match[1]!;
    adminArgs = ['--master', masterAddress, ...tlsArgs(pki.leaf('operator-cli')), '--key-file', join(dataDir, 'admin.key')];
    await cli('user', 'create', 'agents', '--role', 'member');
    await cli('user', 'create', 'analyst', '--role', 'viewer');
    for (const [user, file] of [['agents', 'member.key'], ['analyst', 'viewer.key']] as const) {
      files[user] = join(tmp.path, file);
      await cli('key', 'create', user, '--out', files[user]!);
    }
    await cli('source', 'import', 'default', '--uri', `file://${storeDir}`, '--at', '/', '--wait');
    const n = await spawnUntil(['--master', masterAddress, ...tlsArgs(pki.leaf('node')), '--key-file', files['agents']!, 'node', 'run', '--cache-dir', join(tmp.path, 'node'), '--listen', '127.0.0.1:0', '--capacity', '256MB', '--min-free', '0'], /serving on (\S+) /);
    node = n.child;
    nodeAddress = n.match[1]!;
    await waitFor('the node ONLINE', async () => (/ONLINE/.test(await cli('node', 'list')) ? true : undefined));
  });

  after(async () => {
    for (const m of mounts.reverse()) await m.stop();
    node?.kill('SIGKILL');
    master?.kill('SIGKILL');
    for (const m of mounts) await ensureUnmounted(m.mountpoint);
    tmp.remove();
  });


  it('a warmup goes to the node over mutual TLS; a member key\'s mount reads the file from the node only, and writes', async () => {
    const out = await cli('cache', 'rule', 'create', 'w', '--source', 'default', '--kind', 'warmup', '--directory', '/data', '--execute', '--wait');
    assert.match(out, /State:\s+succeeded/);
    const mnt = join(tmp.path, 'mnt-member');
    const m = await startSecureMount(mnt, pki.leaf('mount-a'), files['agents']!);
    assert.equal(sha(await readFile(join(mnt, 'data', 'big.bin'))), sha(content));
    const stats = (await m.stats()) as unknown as { cluster: { storeReads: number; nodeBytes: number } };
    assert.equal(stats.cluster.storeReads, 0, 'read from the node, not the store');
    assert.ok(stats.cluster.nodeBytes >= content.length);
    await writeFile(join(mnt, 'data', 'written-by-member.txt'), 'hello');
    assert.equal(await readFile(join(mnt, 'data', 'written-by-member.txt'), 'utf8'), 'hello');
  });

  it('a viewer key\'s mount reads but every change is refused (EACCES)', async () => {
    const mnt = join(tmp.path, 'mnt-viewer');
    await startSecureMount(mnt, pki.leaf('mount-b'), files['analyst']!);
    assert.equal(await readFile(join(mnt, 'data', 'written-by-member.txt'), 'utf8'), 'hello');
    await assert.rejects(writeFile(join(mnt, 'data', 'by-viewer.txt'), 'x'), (e: NodeJS.ErrnoException) => e.code === 'EACCES');
  });

  it('a mount without a key is refused at start with exit 5 and the reason; so is one without a client certificate', async () => {
    const noKey = await runCli(['--master', masterAddress, ...tlsArgs(pki.leaf('mount-c')), 'mount', join(tmp.path, 'mnt-nokey'), '--cache-dir', join(tmp.path, 'cache-nokey')], {}, 30_000);
    assert.equal(noKey.code, 5, noKey.stderr);
    assert.match(noKey.stderr, /requires an access key/);
    const noCert = await runCli(['--master', masterAddress, '--tls-ca', ca, '--key-file', files['agents']!, '--timeout', '3000', 'mount', join(tmp.path, 'mnt-nocert'), '--cache-dir', join(tmp.path, 'cache-nocert')], {}, 30_000);
    assert.equal(noCert.code, 3, noCert.stderr);
    assert.match(noCert.stderr, /over TLS/);
  });

  it('the node refuses a client without a certificate', async () => {
    const i = nodeAddress.lastIndexOf(':');
    await assert.rejects(new Promise((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port: Number(nodeAddress.slice(i + 1)), path: '/v1/stats', ca: readFileSync(ca), agent: false }, (res) => { res.resume(); resolve(res.statusCode); });
      req.once('error', reject);
      req.end();
    }));
  });

  async function startSecureMount(mnt: string, cert: Pem, keyFile: string): Promise<MountProcess> {
    const m = await wharfMount({ master: masterAddress, mountpoint: mnt, cacheDir: `${mnt}-cache`, globalArgs: [...tlsArgs(cert), '--key-file', keyFile] });
    mounts.push(m);
    return m;
  }
});
