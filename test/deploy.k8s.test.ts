// The Kubernetes manifests under deploy/k8s, parsed and checked: every object's
// required fields, selectors that match their pods, the agent's FUSE needs
// (privileged, /dev/fuse, a Bidirectional mount root, OnDelete, no preStop unmount),
// the master's headless Service and readiness on /healthz, probes naming real
// ports, and every `wharf` argument a flag the CLI really has (checked against
// `wharf <command> --help`).
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { runCli } from './helpers/processes.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Obj = Record<string, any>;

const ROOT = fileURLToPath(new URL('../../deploy/k8s/', import.meta.url));

function load(): { file: string; obj: Obj }[] {
  const out: { file: string; obj: Obj }[] = [];
  const walk = (dir: string) => {
    for (const f of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, f.name);
      if (f.isDirectory()) walk(p);
      else if (f.name.endsWith('.yaml')) {
        for (const d of parseAllDocuments(readFileSync(p, 'utf8'))) {
          assert.deepEqual(d.errors, [], `${p}: YAML errors`);
          out.push({ file: p, obj: d.toJS() as Obj });
        }
      }
    }
  };
  walk(ROOT);
  return out;
}

const podSpecOf = (o: Obj): Obj | undefined => (o['kind'] === 'Pod' ? o['spec'] : o['spec']?.['template']?.['spec']);

describe('deploy/k8s manifests', () => {
  const docs = load();
  const byKind = (kind: string) => docs.filter((d) => d.obj['kind'] === kind).map((d) => d.obj);

  it('every object has apiVersion, kind and a name; workloads\' selectors match their pods', () => {
    assert.ok(docs.length >= 8, `${docs.length} objects`);
    for (const { file, obj } of docs) {
      assert.equal(typeof obj['apiVersion'], 'string', file);
      assert.equal(typeof obj['kind'], 'string', file);
      assert.match(obj['metadata']?.['name'] ?? '', /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, `${file}: ${obj['kind']} name`);
      if (['DaemonSet', 'StatefulSet', 'Deployment'].includes(obj['kind'])) {
        const sel = obj['spec']['selector']['matchLabels'] as Obj;
        const labels = obj['spec']['template']['metadata']['labels'] as Obj;
        for (const [k, v] of Object.entries(sel)) assert.equal(labels[k], v, `${obj['metadata']['name']}: selector ${k}`);
      }
      const spec = podSpecOf(obj);
      if (spec) {
        // A StatefulSet's claim templates are volumes of its pods too.
        const claims = ((obj['spec']?.['volumeClaimTemplates'] ?? []) as Obj[]).map((v) => v['metadata']['name']);
        const volumes = new Set([...((spec['volumes'] ?? []) as Obj[]).map((v) => v['name']), ...claims]);
        for (const c of spec['containers'] as Obj[]) {
          assert.ok(c['name'] && c['image'], `${obj['metadata']['name']}: container name and image`);
          for (const m of (c['volumeMounts'] ?? []) as Obj[]) assert.ok(volumes.has(m['name']), `${c['name']}: volume ${m['name']} is declared`);
          const ports = new Set(((c['ports'] ?? []) as Obj[]).flatMap((p) => [p['name'], p['containerPort']]));
          for (const probe of ['readinessProbe', 'livenessProbe']) {
            const port = c[probe]?.['httpGet']?.['port'] ?? c[probe]?.['tcpSocket']?.['port'];
            if (port !== undefined) assert.ok(ports.has(port), `${c['name']}: ${probe} port ${port} is a container port`);
          }
        }
      }
    }
  });

  it('the agent: privileged FUSE mount, /dev/fuse, a Bidirectional mount root on the host, the cache dir on the host, OnDelete, no preStop unmount', () => {
    const [agent] = byKind('DaemonSet');
    assert.ok(agent);
    assert.equal(agent['spec']['updateStrategy']['type'], 'OnDelete');
    const spec = podSpecOf(agent)!;
    const vol = (name: string) => (spec['volumes'] as Obj[]).find((v) => v['name'] === name)!;
    const mount = (spec['containers'] as Obj[]).find((c) => (c['args'] as string[]).includes('mount'))!;
    const node = (spec['containers'] as Obj[]).find((c) => (c['args'] as string[]).includes('node'))!;
    assert.equal(mount['securityContext']['privileged'], true);
    const fuse = (mount['volumeMounts'] as Obj[]).find((m) => m['mountPath'] === '/dev/fuse')!;
    assert.equal(vol(fuse['name'])['hostPath']['path'], '/dev/fuse');
    const root = (mount['volumeMounts'] as Obj[]).find((m) => m['mountPath'] === mount['args'][mount['args'].indexOf('mount') + 1])!;
    assert.equal(root['mountPropagation'], 'Bidirectional');
    assert.ok(vol(root['name'])['hostPath'], 'the mount root is a hostPath');
    const cacheDir = node['args'][node['args'].indexOf('--cache-dir') + 1] as string;
    const cacheMount = (node['volumeMounts'] as Obj[]).find((m) => cacheDir.startsWith(m['mountPath']))!;
    assert.ok(vol(cacheMount['name'])['hostPath'], 'the node id lives on the host\'s disk with its blocks');
    for (const c of spec['containers'] as Obj[]) assert.equal(c['lifecycle']?.['preStop'], undefined, `${c['name']}: no preStop`);
  });

  it('the master: a headless Service its StatefulSet names, readiness on /healthz, a PDB over its pods', () => {
    const [sts] = byKind('StatefulSet');
    const svc = byKind('Service').find((s) => s['metadata']['name'] === sts!['spec']['serviceName'])!;
    assert.equal(svc['spec']['clusterIP'], 'None');
    const c = podSpecOf(sts!)!['containers'][0] as Obj;
    assert.equal(c['readinessProbe']['httpGet']['path'], '/healthz');
    const pdb = byKind('PodDisruptionBudget')[0]!;
    assert.deepEqual(pdb['spec']['selector']['matchLabels'], sts!['spec']['selector']['matchLabels']);
    const cm = byKind('ConfigMap')[0]!;
    assert.match(cm['data']['WHARF_MASTER'], new RegExp(`^${sts!['metadata']['name']}-0\\.${svc['metadata']['name']}\\.`), 'WHARF_MASTER names the master pod through the headless Service');
  });

  it('a public master and node serve TLS with client certificates and keys; every TLS volume is declared', () => {
    const sts = docs.find(({ obj }) => obj['kind'] === 'StatefulSet')!.obj;
    const mArgs = podSpecOf(sts)!['containers'][0]['args'] as string[];
    for (const f of ['--tls-ca', '--tls-cert', '--tls-key', '--auth', '--mtls']) assert.ok(mArgs.includes(f), `master ${f}`);
    const agent = docs.find(({ obj }) => obj['kind'] === 'DaemonSet')!.obj;
    for (const c of podSpecOf(agent)!['containers'] as Obj[]) {
      for (const f of ['--tls-ca', '--tls-cert', '--tls-key']) assert.ok((c['args'] as string[]).includes(f), `${c['name']} ${f}`);
      assert.ok((c['envFrom'] as Obj[]).some((e) => e['secretRef']?.['name'] === 'wharf-agent-key'), `${c['name']}: the agents' key`);
    }
    const secrets = new Set(docs.filter(({ obj }) => obj['kind'] === 'Secret').map(({ obj }) => obj['metadata']['name']));
    assert.ok(secrets.has('wharf-agent-key'));
  });

  it('application pods see the mount with HostToContainer', () => {
    const pods = byKind('Pod');
    assert.ok(pods.length >= 2);
    for (const p of pods) {
      const m = (p['spec']['containers'][0]['volumeMounts'] as Obj[])[0]!;
      assert.equal(m['mountPropagation'], 'HostToContainer', p['metadata']['name']);
      assert.equal((p['spec']['volumes'] as Obj[]).find((v) => v['name'] === m['name'])?.['hostPath']['path'], '/mnt/wharf');
    }
  });

  it('every wharf argument is a flag the CLI has', async () => {
    const wharfContainers = docs.flatMap(({ obj }) => ((podSpecOf(obj)?.['containers'] ?? []) as Obj[]).filter((c) => String(c['image']).startsWith('wharf:')));
    assert.ok(wharfContainers.length >= 3);
    for (const c of wharfContainers) {
      const all = c['args'] as string[];
      // Global flags come before the command (they take one value each here).
      const at = all.findIndex((a) => ['master', 'node', 'mount'].includes(a));
      assert.ok(at >= 0 && at % 2 === 0, `${c['name']}: a command after global flag/value pairs`);
      const globalFlags = all.slice(0, at).filter((a) => a.startsWith('--'));
      const args = all.slice(at);
      const command = args[0] === 'node' ? ['node', 'run'] : [args[0]!];
      const has = (text: string, flag: string) => text.includes(`${flag} `) || text.includes(`${flag}\n`);
      const top = await runCli(['--help']);
      for (const flag of globalFlags) assert.ok(has(top.stdout, flag), `wharf has the global ${flag}`);
      const help = await runCli([...command, '--help']);
      assert.equal(help.code, 0, help.stderr);
      for (const flag of args.filter((a) => a.startsWith('--'))) assert.ok(has(help.stdout, flag), `wharf ${command.join(' ')} has ${flag}`);
    }
  });
});
