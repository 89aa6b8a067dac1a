// The configuration file: `wharf config check` reports every problem precisely; at
// run time a flag beats the environment, which beats the file, which beats the
// default; a file setting satisfies a required flag; a bad value stops the command
// with the file, the key and the reason.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawn } from 'node:child_process';
import { WHARF_BIN, runCli, startMasterProcess, type MasterProcess } from './helpers/processes.js';
import { tempDir } from './helpers/tmp.js';

describe('configuration file', () => {
  let tmp: { path: string; remove: () => void };
  let master: MasterProcess;
  before(async () => {
    tmp = tempDir('wharf-config-');
    master = await startMasterProcess(join(tmp.path, 'meta'));
  });
  after(async () => {
    master.child.kill('SIGTERM');
    await master.exited;
    tmp.remove();
  });
  const file = (name: string, text: string) => {
    const p = join(tmp.path, name);
    writeFileSync(p, text);
    return p;
  };

  it('config check: unknown sections and keys with the nearest name, bad values; a good file is ok', async () => {
    const bad = file('bad.yaml', 'mount:\n  cacheSzie: 20GB\n  cacheSize: lots\n  allowOther: maybe\nmaster:\n  nodeHeartbeat: 10\nmounts:\n  x: 1\n');
    const r = await runCli(['config', 'check', bad]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /mount\.cacheSzie: unknown key \(did you mean cacheSize\?\)/);
    assert.match(r.stdout, /mount\.cacheSize: "lots" is not a size like 512MB/);
    assert.match(r.stdout, /mount\.allowOther: "maybe" is not true or false/);
    assert.match(r.stdout, /master\.nodeHeartbeat: 10 is outside 100\.\./);
    assert.match(r.stdout, /mounts: unknown section \(did you mean mount\?\)/);
    const good = file('good.yaml', 'global:\n  timeout: 5000\nmaster:\n  data: /var/lib/wharf\n  fsync: true\nnode:\n  capacity: 100GB\nmount:\n  cacheSize: 2GB\n  allowOther: true\nup:\n  store: file:///srv\n');
    const ok = await runCli(['config', 'check', good]);
    assert.equal(ok.code, 0, ok.stdout);
    assert.match(ok.stdout, /ok \(7 settings\)/);
    const broken = file('broken.yaml', 'mount: [1, 2\n');
    const b = await runCli(['config', 'check', broken]);
    assert.equal(b.code, 1);
    assert.match(b.stderr, /broken\.yaml/);
  });

  it('a flag beats the environment, which beats the file, which beats the default', async () => {
    const dead = file('dead.yaml', 'global:\n  master: 127.0.0.1:1\n  timeout: 2000\n');
    const fromFile = await runCli(['--config', dead, 'status']);
    assert.equal(fromFile.code, 3, 'the file\'s unreachable master is used');
    assert.match(fromFile.stderr, /127\.0\.0\.1:1/);
    const fromEnv = await runCli(['--config', dead, 'status'], { WHARF_GLOBAL_MASTER: master.address });
    assert.equal(fromEnv.code, 0, `the environment wins over the file: ${fromEnv.stderr}`);
    const fromFlag = await runCli(['--config', dead, '--master', master.address, 'status'], { WHARF_GLOBAL_MASTER: '127.0.0.1:1' });
    assert.equal(fromFlag.code, 0, `the flag wins over both: ${fromFlag.stderr}`);
    const viaEnvFile = await runCli(['status'], { WHARF_CONFIG: dead });
    assert.equal(viaEnvFile.code, 3, '$WHARF_CONFIG names the file');
  });

  it('a file setting satisfies a required flag; a bad value stops the command with file, key and reason', async () => {
    const dataDir = join(tmp.path, 'from-config');
    const cfg = file('master.yaml', `master:\n  data: ${dataDir}\n  listen: 127.0.0.1:0\n  nodeHeartbeat: 5000\n`);
    const bad = file('badvalue.yaml', `master:\n  data: ${dataDir}\n  grace: soon\n`);
    const r = await runCli(['--config', bad, 'master']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /badvalue\.yaml: master\.grace: "soon" is not an integer/);
    // No --data on the line: the file's satisfies the required flag (stopped once it listens).
    const child = spawn(process.execPath, [WHARF_BIN, '--config', cfg, 'master'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WHARF_LOG_LEVEL: 'warn' } });
    const exited = new Promise((r) => child.once('exit', r));
    let out = '';
    let err = '';
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no banner in 30 s: ${err}`)), 30_000);
      child.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (/listening on/.test(out)) { clearTimeout(timer); resolve(); } });
      void exited.then(() => { clearTimeout(timer); reject(new Error(`exited before listening: ${err}`)); });
    });
    child.kill('SIGTERM');
    await exited;
    assert.match(out, /wharf master listening on 127\.0\.0\.1:\d+/, err);
    assert.ok(existsSync(dataDir), 'with the file\'s data directory');
  });
});
