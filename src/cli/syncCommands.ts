// `wharf sync …` and `wharf status`: sync rules, jobs, begin/end resynchronisation.
import { Option, type Command } from 'commander';
import { globals, integer, json, out, withAdmin } from './context.js';
import { EXIT } from './exitCodes.js';
import { jobSucceeded, waitForJob } from './jobProgress.js';
import { clusterText, jobLine, jobText, ruleLine, ruleText, sourceText, statusText } from './syncFormat.js';
import type { AdminClient, WireJob } from '../rpc/index.js';

async function reportJob(admin: AdminClient, job: WireJob, wait: boolean, detail = wait): Promise<void> {
  const final = wait ? await waitForJob(admin, job.id) : job;
  if (globals().json) json(final);
  else out(detail ? jobText(final) : `job ${final.id} ${final.state}`);
  if (wait && !jobSucceeded(final)) process.exitCode = EXIT.failed;
}

export function registerSyncCommands(program: Command): void {
  const sync = program.command('sync').description('metadata sync: rules, jobs, begin/end resynchronisation');
  const rule = sync.command('rule').description('sync rules of a data source (at most 20 each)');

  rule.command('create <name>')
    .description('a manual rule (run with execute) or a periodic one (runs every N minutes once enabled)')
    .requiredOption('--source <source>', 'data source')
    .addOption(new Option('--type <type>', 'manual or periodic').choices(['manual', 'periodic']).makeOptionMandatory())
    .option('--directory <dir>', 'directory inside the source', '/')
    .option('--description <text>', 'what the rule is for', '')
    .option('--interval-minutes <n>', 'periodic rules: 1..28800 (default 5)', integer(1, 28_800))
    .option('--execute', 'manual rules: start a job at once (executeOnCreate)', false)
    .option('--no-enable', 'periodic rules: create disabled (enableOnCreate is the default)')
    .option('--wait', 'with --execute: wait for the job, with progress', false)
    .action(withAdmin('sync rule create', async (admin, name: string, o: { source: string; type: string; directory: string; description: string; intervalMinutes?: number; execute: boolean; enable: boolean; wait: boolean }) => {
      const r = await admin.createRule({
        source: o.source, name, type: o.type, directory: o.directory, description: o.description,
        ...(o.intervalMinutes !== undefined ? { interval_minutes: o.intervalMinutes } : {}),
        execute_on_create: o.execute, enable_on_create: o.enable,
      });
      if (r.job && o.wait) return reportJob(admin, r.job, true);
      if (globals().json) json(r);
      else out(`${ruleText(r.rule!)}${r.job ? `\nstarted job ${r.job.id}` : ''}`);
    }));

  rule.command('list')
    .requiredOption('--source <source>', 'data source')
    .action(withAdmin('sync rule list', async (admin, o: { source: string }) => {
      const rules = await admin.listRules(o.source);
      if (globals().json) json(rules);
      else if (rules.length === 0) out('no rules');
      else for (const r of rules) out(ruleLine(r));
    }));

  const byName = (verb: string, description: string, fn: (admin: AdminClient, source: string, name: string, o: { wait: boolean }) => Promise<void>) =>
    rule.command(`${verb} <name>`)
      .description(description)
      .requiredOption('--source <source>', 'data source')
      .option('--wait', 'wait for the job, with progress (execute)', false)
      .action(withAdmin(`sync rule ${verb}`, async (admin, name: string, o: { source: string; wait: boolean }) => fn(admin, o.source, name, o)));

  const printRule = async (r: Awaited<ReturnType<AdminClient['showRule']>>) => (globals().json ? json(r) : out(ruleText(r)));
  byName('show', 'one rule', async (a, s, n) => printRule(await a.showRule(s, n)));
  byName('enable', 'periodic rules: disabled → enabled (runs now if its last run is an interval old, then every interval)', async (a, s, n) => printRule(await a.enableRule(s, n)));
  byName('disable', 'periodic rules: enabled → disabled (cancels a running job)', async (a, s, n) => printRule(await a.disableRule(s, n)));
  byName('delete', 'delete a rule (cancels its running job)', async (a, s, n) => {
    await a.deleteRule(s, n);
    if (globals().json) json({ source: s, rule: n, deleted: true });
    else out(`deleted rule ${n} of ${s}`);
  });
  byName('execute', 'manual rules: start a job (refused while the last one runs)', async (a, s, n, o) => reportJob(a, await a.executeRule(s, n), o.wait));
  byName('terminate', 'stop the rule\'s running job', async (a, s, n) => reportJob(a, await a.terminateRule(s, n), false));

  rule.command('update <name>')
    .requiredOption('--source <source>', 'data source')
    .option('--name <new>', 'rename')
    .option('--description <text>', 'new description')
    .option('--interval-minutes <n>', 'new interval (periodic)', integer(1, 28_800))
    .action(withAdmin('sync rule update', async (admin, name: string, o: { source: string; name?: string; description?: string; intervalMinutes?: number }) => {
      const r = await admin.updateRule({
        source: o.source, name,
        ...(o.name !== undefined ? { new_name: o.name } : {}),
        ...(o.description !== undefined ? { description: o.description } : {}),
        ...(o.intervalMinutes !== undefined ? { interval_minutes: o.intervalMinutes } : {}),
      });
      if (globals().json) json(r);
      else out(ruleText(r));
    }));

  const job = sync.command('job').description('sync jobs (newest first)');
  job.command('list')
    .option('--source <source>', 'only this source')
    .option('--rule <rule>', 'only this rule')
    .option('--limit <n>', 'at most N jobs', integer(1, 10_000), 50)
    .action(withAdmin('sync job list', async (admin, o: { source?: string; rule?: string; limit: number }) => {
      const jobs = await admin.listJobs({ ...(o.source ? { source: o.source } : {}), ...(o.rule ? { rule: o.rule } : {}), limit: o.limit });
      if (globals().json) json(jobs);
      else if (jobs.length === 0) out('no jobs');
      else for (const j of jobs) out(jobLine(j));
    }));
  job.command('show <id>')
    .option('--wait', 'wait for the job to end, with progress', false)
    .action(withAdmin('sync job show', async (admin, id: string, o: { wait: boolean }) => reportJob(admin, await admin.showJob(id), o.wait, true)));

  sync.command('begin')
    .description('enter synchronizing mode: a new generation; periodic rules pause; nothing is removed until end')
    .requiredOption('--source <source>', 'data source')
    .option('--topic <topic>', 'move the source\'s event stream to this topic (a fresh full feed) …')
    .option('--group <group>', '… in this new consumer group')
    .action(withAdmin('sync begin', async (admin, o: { source: string; topic?: string; group?: string }) => {
      const s = await admin.beginResync(o.source, o.topic || o.group ? { topic: o.topic ?? '', group: o.group ?? '' } : undefined);
      if (globals().json) json(s);
      else out(`${o.source} is synchronizing (generation ${s.gen}); run sync rule execute …, then sync end\n${sourceText(s)}`);
    }));

  sync.command('end')
    .description('remove what the new generation did not refresh and return to normal (refused above 20% without --force)')
    .requiredOption('--source <source>', 'data source')
    .option('--force', 'remove even more than 20% of the source\'s entries', false)
    .action(withAdmin('sync end', async (admin, o: { source: string; force: boolean }) => {
      const r = await admin.endResync(o.source, o.force);
      if (globals().json) json(r);
      else out(`${o.source} is back to normal: removed ${r.removed} of ${r.total} entries`);
    }));

  program.command('status')
    .description('per data source: sync mode, running job and progress, last success, counters, warnings; cache nodes by state; running cache jobs')
    .action(withAdmin('status', async (admin) => {
      const [st, nodes, cacheJobs] = await Promise.all([admin.status(), admin.listNodes(), admin.listCacheJobs({ limit: 50 })]);
      const running = cacheJobs.filter((j) => ['starting', 'executing', 'terminating'].includes(j.state));
      if (globals().json) json({ ...st, nodes: nodes.nodes, epoch: nodes.epoch, running_cache_jobs: running });
      else out([statusText(st), clusterText(nodes, running)].filter(Boolean).join('\n\n'));
    }));
}
