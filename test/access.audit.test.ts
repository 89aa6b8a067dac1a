// The audit log: a line per management call (allowed or failed) and per refused
// data-plane call, with the fields an investigator needs; the polling calls of
// cluster members left out unless they fail; no secret in any line; files past
// their retention removed; queries by result, plane and action, over gRPC and the CLI.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AuditLog, redact } from '../src/access/index.js';
import { ROOT_INO } from '../src/common/index.js';
import { Master } from '../src/master/index.js';
import { AdminClient, GrpcMetaClient } from '../src/rpc/index.js';
import { runCli } from './helpers/processes.js';
import { rejectsErrno } from './helpers/sourceFixture.js';
import { tempDir } from './helpers/tmp.js';

describe('audit log', () => {
  it('redacts secrets by name and credentials in URIs', () => {
    const r = JSON.stringify(redact({ secret_access_key: 'TOPSECRET', uri: 's3://AKIAX:TOPSECRET@bucket/p', nested: { password: 'TOPSECRET', ok: 'fine' }, _oneof: 'x' }));
    assert.doesNotMatch(r, /TOPSECRET/);
    assert.match(r, /"ok":"fine"/);
    assert.match(r, /s3:\/\/\[redacted\]@bucket\/p/);
    assert.doesNotMatch(r, /_oneof/);
  });

  it('files past the retention are removed at open; recent ones stay', async () => {
    const tmp = tempDir('wharf-audit-retention-');
    try {
      mkdirSync(tmp.path, { recursive: true });
      writeFileSync(join(tmp.path, 'audit-2000-01-01.jsonl'), '{}\n');
      const today = new Date().toISOString().slice(0, 10);
      writeFileSync(join(tmp.path, `audit-${today}.jsonl`), '');
      const a = await AuditLog.open(tmp.path, 7);
      assert.deepEqual(readdirSync(tmp.path).sort(), [`audit-${today}.jsonl`]);
      await a.close();
      await assert.rejects(AuditLog.open(tmp.path, 0), /retention/);
    } finally {
      tmp.remove();
    }
  });

  it('a master records management calls and refused data-plane calls; queries filter them', async () => {
    const tmp = tempDir('wharf-audit-');
    const master = await Master.start({ dataDir: join(tmp.path, 'meta'), listen: '127.0.0.1:0' });
    const admin = new AdminClient(master.address, 10_000);
    const ns = new GrpcMetaClient(master.address, { deadlineMs: 10_000 });
    try {
      await admin.createInstance({ name: 'hot', capacity_bytes: '1000000', nodes: [] });
      await rejectsErrno(admin.createInstance({ name: 'bad name', capacity_bytes: '1', nodes: [] }), 'EINVAL');
      await assert.rejects(admin.importSource({ name: 's', uri: 's3://AKIAX:TOPSECRET@bucket/p', at: '/s', endpoint: 'http://user:TOPSECRET@127.0.0.1:1' }));
      await admin.listNodes(); // polling: not recorded
      await admin.addGroupRule('', 'default', '127.0.0.1/32', 'Forbidden');
      await rejectsErrno(ns.getattr(ROOT_INO), 'EACCES', 'refused');

      const all = await admin.queryAudit({});
      const actions = all.map((e) => e.action);
      assert.ok(actions.includes('CreateInstance'));
      assert.ok(!actions.includes('ListNodes'), 'polling reads are left out when they succeed');
      const created = all.find((e) => e.action === 'CreateInstance' && e.result === 'ok')!;
      assert.equal(created.plane, 'admin');
      assert.equal(created.source_ip, '127.0.0.1');
      assert.equal(created.principal, 'anonymous');
      assert.equal(created.resource, 'hot');
      assert.match(created.request_id, /^[0-9a-f-]{36}$/);
      assert.ok(created.latency_ms >= 0);
      assert.equal(JSON.parse(created.params_json).capacity_bytes, '1000000');
      const failed = await admin.queryAudit({ result: 'failed', plane: 'admin' });
      assert.deepEqual(failed.map((e) => e.action).sort(), ['CreateInstance', 'ImportSource']);
      assert.ok(failed.every((e) => e.result !== 'ok'));
      const einval = failed.filter((e) => e.result === 'EINVAL').length;
      const denied = await admin.queryAudit({ plane: 'data' });
      assert.equal(denied.length, 1);
      assert.deepEqual({ action: denied[0]!.action, result: denied[0]!.result, ip: denied[0]!.source_ip }, { action: 'getattr', result: 'EACCES', ip: '127.0.0.1' });
      assert.equal(new Set(all.map((e) => e.request_id)).size, all.length, 'request ids are unique');
      assert.ok(Date.parse(all[0]!.time) >= Date.parse(all.at(-1)!.time), 'newest first');

      const cli = await runCli(['--master', master.address, '--json', 'audit', '--result', 'EINVAL', '--since', '1h']);
      assert.equal(cli.code, 0, cli.stderr);
      assert.equal((JSON.parse(cli.stdout) as unknown[]).length, einval);
      const bad = await runCli(['--master', master.address, 'audit', '--since', 'yesterday']);
      assert.equal(bad.code, 2, 'a bad duration is a usage error');

      const dir = join(tmp.path, 'meta', 'audit');
      const file = readdirSync(dir)[0]!;
      assert.equal(statSync(join(dir, file)).mode & 0o777, 0o600, 'readable by its owner only');
      assert.doesNotMatch(readFileSync(join(dir, file), 'utf8'), /TOPSECRET/, 'no secret in the audit log');
    } finally {
      await ns.close();
      admin.close();
      await master.stop(2_000);
      tmp.remove();
    }
  });
});
