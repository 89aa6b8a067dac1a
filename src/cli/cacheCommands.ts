// `wharf cache …`: cache instances (create/list/show/resize/delete, bind a source),
// pins and TTLs on directories, cache rules (warmup/evict) and their jobs.
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { AdminClient, WireCacheJob } from '../rpc/index.js';
import { cacheJobLine, cacheJobText, cacheRuleLine, cacheRuleText, instanceLine, instanceText } from './cacheFormat.js';
import { duration, globals, integer, json, out, size, withAdmin } from './context.js';
import { EXIT } from './exitCodes.js';
import { waitForCacheJob } from './jobProgress.js';
import { sourceText } from './syncFormat.js';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

function fraction(text: string): number {
  const n = Number(text);
  if (!/^(0(\.\d+)?|1(\.0+)?)$/.test(text) || !(n > 0)) throw new InvalidArgumentError(`${JSON.stringify(text)} is not a fraction in (0, 1].`);
  return n;
}

async function reportCacheJob(admin: AdminClient, job: WireCacheJob, wait: boolean): Promise<void> {
  const final = wait ? await waitForCacheJob(admin, job.id) : job;
  if (globals().json) json(final);
  else out(wait ? cacheJobText(final) : `cache job ${final.id} ${final.state}`);
  if (wait && final.state !== 'succeeded') process.exitCode = EXIT.failed;
}

export function registerCacheCommands(program: Command): void {
  const cache = program.command('cache').description('the cache cluster: instances, pins, warmup and eviction rules and their jobs');
  registerInstanceCommands(cache);

  cache.command('pin')
    .description('never evict a directory\'s blocks for capacity (--ttl: evict them that long after first cached instead)')
    .requiredOption('--source <source>', 'data source')
    .requiredOption('--directory <dir>', 'directory inside the source')
    .option('--ttl <duration>', 'evict after this long (90s, 30m, 2h, 7d) instead of pinning', duration, 0)
    .action(withAdmin('cache pin', async (admin, o: { source: string; directory: string; ttl: number }) => {
      const s = await admin.pinDirectory({ source: o.source, directory: o.directory, ttlMs: o.ttl, remove: false });
      if (globals().json) return json(s);
      out(`${o.source}:${o.directory} ${o.ttl ? `expires ${o.ttl / 1000}s after caching` : 'pinned'}`);
    }));
  cache.command('unpin')
    .description('drop a directory\'s pin or TTL')
    .requiredOption('--source <source>', 'data source')
    .requiredOption('--directory <dir>', 'directory inside the source')
    .action(withAdmin('cache unpin', async (admin, o: { source: string; directory: string }) => {
      const s = await admin.pinDirectory({ source: o.source, directory: o.directory, ttlMs: 0, remove: true });
      if (globals().json) return json(s);
      out(`${o.source}:${o.directory} unpinned`);
    }));

  const rule = cache.command('rule').description('warmup and eviction rules of a data source (at most 20 each)');
  rule.command('create <name>')
    .description('a warmup rule (fill the nodes with a directory\'s blocks) or an eviction rule (free them)')
    .requiredOption('--source <source>', 'data source')
    .addOption(new Option('--kind <kind>', 'warmup or evict').choices(['warmup', 'evict']).makeOptionMandatory())
    .addOption(new Option('--type <type>', 'manual or periodic').choices(['manual', 'periodic']).default('manual'))
    .option('--directory <dir>', 'directory inside the source', '/')
    .option('--description <text>', 'what the rule is for', '')
    .option('--interval-minutes <n>', 'periodic rules: 1..28800 (default 5)', integer(1, 28_800))
    .option('--cron <expr>', 'periodic rules: a cron schedule (UTC) instead of the interval, e.g. "0 2 * * *"')
    .option('--include <glob>', 'only paths (relative to the directory) matching; repeatable', collect, [])
    .option('--exclude <glob>', 'not paths matching; repeatable', collect, [])
    .option('--metadata-only', 'warmup: sync the names, fetch no bytes', false)
    .option('--no-skip-cached', 'warmup: fetch blocks again even if cached')
    .option('--bandwidth <size>', 'warmup: at most this many bytes per second from the store, over all nodes (e.g. 200MB)', size, 0)
    .option('--block-size <size>', 'warmup: the mounts\' block size', size, 4 * 1024 * 1024)
    .option('--execute', 'manual rules: start a job at once', false)
    .option('--no-enable', 'periodic rules: create disabled')
    .option('--wait', 'with --execute: wait for the job, with progress', false)
    .action(withAdmin('cache rule create', async (admin, name: string, o: {
      source: string; kind: string; type: string; directory: string; description: string; intervalMinutes?: number; cron?: string;
      include: string[]; exclude: string[]; metadataOnly: boolean; skipCached: boolean; bandwidth: number; blockSize: number; execute: boolean; enable: boolean; wait: boolean;
    }) => {
      const r = await admin.createCacheRule({
        source: o.source, name, type: o.type, directory: o.directory, description: o.description,
        ...(o.intervalMinutes !== undefined ? { interval_minutes: o.intervalMinutes } : {}), cron: o.cron ?? '',
        execute_on_create: o.execute, enable_on_create: o.enable,
        cache: {
          kind: o.kind, include: o.include, exclude: o.exclude, metadata_only: o.metadataOnly, skip_cached: o.skipCached,
          bandwidth_bytes_per_sec: o.bandwidth, block_size: o.blockSize,
        },
      });
      if (r.job && o.wait) return reportCacheJob(admin, r.job, true);
      if (globals().json) json(r);
      else out(`${cacheRuleText(r.rule!)}${r.job ? `\nstarted cache job ${r.job.id}` : ''}`);
    }));
  rule.command('update <name>')
    .requiredOption('--source <source>', 'data source')
    .option('--name <new>', 'rename')
    .option('--description <text>', 'new description')
    .option('--interval-minutes <n>', 'new interval (periodic)', integer(1, 28_800))
    .option('--cron <expr>', 'new cron schedule (periodic); "" returns to the interval')
    .action(withAdmin('cache rule update', async (admin, name: string, o: { source: string; name?: string; description?: string; intervalMinutes?: number; cron?: string }) => {
      const r = await admin.updateCacheRule({
        source: o.source, name,
        ...(o.name !== undefined ? { new_name: o.name } : {}),
        ...(o.description !== undefined ? { description: o.description } : {}),
        ...(o.intervalMinutes !== undefined ? { interval_minutes: o.intervalMinutes } : {}),
        ...(o.cron !== undefined ? { cron: o.cron } : {}),
      });
      if (globals().json) json(r);
      else out(cacheRuleText(r));
    }));
  rule.command('list')
    .requiredOption('--source <source>', 'data source')
    .action(withAdmin('cache rule list', async (admin, o: { source: string }) => {
      const rules = await admin.listCacheRules(o.source);
      if (globals().json) json(rules);
      else if (rules.length === 0) out('no cache rules');
      else for (const r of rules) out(cacheRuleLine(r));
    }));
  const byName = (verb: string, description: string, fn: (admin: AdminClient, source: string, name: string, o: { wait: boolean }) => Promise<void>) =>
    rule.command(`${verb} <name>`)
      .description(description)
      .requiredOption('--source <source>', 'data source')
      .option('--wait', 'wait for the job, with progress (execute)', false)
      .action(withAdmin(`cache rule ${verb}`, async (admin, name: string, o: { source: string; wait: boolean }) => fn(admin, o.source, name, o)));
  const printRule = async (r: Awaited<ReturnType<AdminClient['showCacheRule']>>) => (globals().json ? json(r) : out(cacheRuleText(r)));
  byName('show', 'one cache rule', async (a, s, n) => printRule(await a.showCacheRule(s, n)));
  byName('enable', 'periodic rules: disabled → enabled', async (a, s, n) => printRule(await a.enableCacheRule(s, n)));
  byName('disable', 'periodic rules: enabled → disabled (cancels a running job)', async (a, s, n) => printRule(await a.disableCacheRule(s, n)));
  byName('delete', 'delete a rule (cancels its running job; cached blocks stay)', async (a, s, n) => {
    await a.deleteCacheRule(s, n);
    if (globals().json) json({ deleted: n });
    else out(`deleted cache rule ${n}`);
  });
  byName('execute', 'manual rules: start a job (refused while its last job runs)', async (a, s, n, o) => reportCacheJob(a, await a.executeCacheRule(s, n), o.wait));
  byName('terminate', 'stop the rule\'s running job', async (a, s, n) => reportCacheJob(a, await a.terminateCacheRule(s, n), false));

  const job = cache.command('job').description('cache jobs');
  job.command('list')
    .option('--source <source>', 'only this source\'s')
    .option('--rule <rule>', 'only this rule\'s')
    .option('--limit <n>', 'newest N', integer(1, 2000), 20)
    .action(withAdmin('cache job list', async (admin, o: { source?: string; rule?: string; limit: number }) => {
      const jobs = await admin.listCacheJobs({ ...(o.source ? { source: o.source } : {}), ...(o.rule ? { rule: o.rule } : {}), limit: o.limit });
      if (globals().json) json(jobs);
      else if (jobs.length === 0) out('no cache jobs');
      else for (const j of jobs) out(cacheJobLine(j));
    }));
  job.command('show <id>')
    .option('--wait', 'wait for it to end, with progress', false)
    .action(withAdmin('cache job show', async (admin, id: string, o: { wait: boolean }) => {
      const j = o.wait ? await waitForCacheJob(admin, id) : await admin.showCacheJob(id);
      if (globals().json) json(j);
      else out(cacheJobText(j));
      if (o.wait && j.state !== 'succeeded') process.exitCode = EXIT.failed;
    }));
}

function registerInstanceCommands(cache: Command): void {
  const inst = cache.command('instance').description('cache instances: named pools of cache nodes that data sources are bound to');
  inst.command('create <name>')
    .requiredOption('--capacity <size>', 'bytes of blocks it may hold, shared among its nodes (e.g. 500GB)', size)
    .option('--node <id>', 'a cache node to put in it; repeatable', collect, [])
    .option('--high <fraction>', 'evict from this share of a node\'s part (default 0.95)', fraction)
    .option('--low <fraction>', '… down to this share (default 0.85)', fraction)
    .option('--description <text>', 'what it is for', '')
    .action(withAdmin('cache instance create', async (admin, name: string, o: { capacity: number; node: string[]; high?: number; low?: number; description: string }) => {
      const i = await admin.createInstance({
        name, description: o.description, capacity_bytes: o.capacity, nodes: o.node,
        ...(o.high !== undefined ? { high_watermark: o.high } : {}), ...(o.low !== undefined ? { low_watermark: o.low } : {}),
      });
      if (globals().json) json(i);
      else out(instanceText(i));
    }));
  inst.command('list')
    .action(withAdmin('cache instance list', async (admin) => {
      const l = await admin.listInstances();
      if (globals().json) json(l);
      else if (l.length === 0) out('no cache instances');
      else for (const i of l) out(instanceLine(i));
    }));
  inst.command('show <name>')
    .action(withAdmin('cache instance show', async (admin, name: string) => {
      const i = await admin.showInstance(name);
      if (globals().json) json(i);
      else out(instanceText(i));
    }));
  inst.command('resize <name>')
    .description('change the capacity or watermarks, add or remove nodes (a removed node empties its cache)')
    .option('--capacity <size>', 'new capacity', size)
    .option('--add-node <id>', 'repeatable', collect, [])
    .option('--remove-node <id>', 'repeatable', collect, [])
    .option('--high <fraction>', 'high watermark', fraction)
    .option('--low <fraction>', 'low watermark', fraction)
    .action(withAdmin('cache instance resize', async (admin, name: string, o: { capacity?: number; addNode: string[]; removeNode: string[]; high?: number; low?: number }) => {
      const i = await admin.resizeInstance({
        name, add_nodes: o.addNode, remove_nodes: o.removeNode, ...(o.capacity !== undefined ? { capacity_bytes: o.capacity } : {}),
        ...(o.high !== undefined ? { high_watermark: o.high } : {}), ...(o.low !== undefined ? { low_watermark: o.low } : {}),
      });
      if (globals().json) json(i);
      else out(instanceText(i));
    }));
  inst.command('delete <name>')
    .description('delete an instance: its nodes empty their caches; stores and the namespace are untouched')
    .option('--force', 'also when sources are bound (they are unbound)', false)
    .action(withAdmin('cache instance delete', async (admin, name: string, o: { force: boolean }) => {
      const r = await admin.deleteInstance(name, o.force);
      if (globals().json) return json(r);
      out(`deleted cache instance ${name}: ${r.nodes_freed} node(s) emptied (${r.bytes_freed} bytes)${r.unbound_sources.length ? `, unbound ${r.unbound_sources.join(', ')}` : ''}${r.unreachable.length ? `; not reached now (they empty at their next heartbeat): ${r.unreachable.join(', ')}` : ''}`);
    }));
  cache.command('bind')
    .description('bind a data source to a cache instance (its blocks move to that instance\'s nodes); --instance "" unbinds')
    .requiredOption('--source <source>', 'data source')
    .requiredOption('--instance <name>', 'cache instance ("" for none)')
    .action(withAdmin('cache bind', async (admin, o: { source: string; instance: string }) => {
      const s = await admin.bindSource(o.source, o.instance);
      if (globals().json) return json(s);
      out(`${o.source} → ${o.instance || '(no instance)'}\n${sourceText(s)}`);
    }));
}
