// `wharf source …`: import, remove, list and show data sources.
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { WharfError } from '../common/index.js';
import { globals, integer, json, out, withAdmin } from './context.js';
import { EXIT } from './exitCodes.js';
import { jobSucceeded, waitForJob } from './jobProgress.js';
import { jobSummary, jobText, ruleLine, sourceLine, sourceText, streamLine } from './syncFormat.js';

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

export function registerSourceCommands(program: Command): void {
  const source = program.command('source').description('data sources: buckets, prefixes or directories mounted into the namespace');

  source.command('import <name>')
    .description('mount a store at a path and start its initial scan (the path is usable at once)')
    .requiredOption('--uri <uri>', 's3://bucket/prefix or file:///dir')
    .requiredOption('--at <path>', 'where it appears in the namespace (a new or empty directory)')
    .option('--read-only', 'refuse changes under the mount (EROFS)', false)
    .option('--endpoint <url>', 'S3-compatible endpoint, e.g. http://127.0.0.1:9000')
    .option('--region <region>', 'S3 region')
    .option('--sync-interval <ms>', 'on-access sync: -1 never after the first load, 0 every access, N when older than N ms', integer(-1))
    .option('--object-metadata', 'read owner, mode, time and symlinks from s3fs/rclone object metadata (one HEAD per new or changed object)', false)
    .option('--wait', 'wait for the initial scan, with progress', false)
    .action(withAdmin('source import', async (admin, name: string, o: { uri: string; at: string; readOnly: boolean; endpoint?: string; region?: string; syncInterval?: number; objectMetadata: boolean; wait: boolean }) => {
      const r = await admin.importSource({
        name, uri: o.uri, at: o.at, read_only: o.readOnly, endpoint: o.endpoint ?? '', region: o.region ?? '', object_metadata: o.objectMetadata,
        ...(o.syncInterval !== undefined ? { sync_interval_ms: String(o.syncInterval) } : {}),
      });
      const job = o.wait && r.job ? await waitForJob(admin, r.job.id) : r.job;
      if (globals().json) json({ source: r.source, job });
      else {
        out(`imported ${name}: ${r.source!.uri} at ${r.source!.at}; initial scan is job ${r.job!.id}`);
        if (o.wait && job) out(jobText(job));
      }
      if (o.wait && job && !jobSucceeded(job)) process.exitCode = EXIT.failed;
    }));

  source.command('remove <name>')
    .description('drop the source\'s namespace subtree and its mount (the store is never touched)')
    .option('--force', 'even while a sync job runs (it is terminated)', false)
    .option('-y, --yes', 'do not ask for confirmation', false)
    .action(withAdmin('source remove', async (admin, name: string, o: { force: boolean; yes: boolean }) => {
      if (!o.yes) {
        if (!process.stdin.isTTY) throw new WharfError('EINVAL', 'refusing to remove without --yes: there is no terminal to ask for confirmation');
        const s = await admin.showSource(name);
        if (!(await confirm(`Remove source ${name} and its namespace at ${s.source!.at}? The store is not touched.`))) {
          out('not removed');
          return;
        }
      }
      const r = await admin.removeSource(name, o.force);
      if (globals().json) json({ source: name, removedEntries: r.removed_entries });
      else out(`removed ${name} (${r.removed_entries} namespace entries)`);
    }));

  source.command('list')
    .description('every data source: its mount, sync mode, and its running or last job with counts')
    .action(withAdmin('source list', async (admin) => {
      const { sources } = await admin.status();
      if (globals().json) json(sources);
      else if (sources.length === 0) out('no data sources');
      else for (const s of sources) out(`${sourceLine(s.source!, s.sync_mode)}  ${jobSummary(s.running_job ?? s.last_job)}`);
    }));

  source.command('show <name>')
    .description('one source: store, mount, mode, rules, jobs')
    .action(withAdmin('source show', async (admin, name: string) => {
      const d = await admin.showSource(name);
      if (globals().json) return json(d);
      out(sourceText(d.source!));
      out(`Sync mode:     ${d.sync_mode}`);
      out(`Rules:         ${d.rules.length === 0 ? 'none' : ''}`);
      for (const r of d.rules) out(`  ${ruleLine(r)}`);
      if (d.running_job) out(`Running job:\n${jobText(d.running_job)}`);
      else if (d.last_job) out(`Last job:\n${jobText(d.last_job)}`);
    }));

  const stream = source.command('stream').description('a source\'s stream of store events over Kafka: keeps its namespace current without listing');
  const list = (v: string, prev: string[] = []) => [...prev, ...v.split(',').map((x) => x.trim()).filter(Boolean)];
  stream.command('set <source>')
    .description('consume the store\'s event notifications (AWS, MinIO, Ceph) from Kafka topics, in a consumer group of this source')
    .requiredOption('--brokers <list>', 'bootstrap brokers, host:port[,host:port…]', list)
    .requiredOption('--topic <topic>', 'a topic of event notifications; repeatable', list)
    .requiredOption('--group <group>', 'the consumer group (one per source)')
    .option('--bucket <name>', 'the bucket the events name (default: the source\'s; needed for file:// sources)', '')
    .option('--dead-letter-topic <topic>', 'where undecodable messages go (default: <first topic>.dlq)', '')
    .option('--from-latest', 'a new group starts at the newest message instead of the oldest', false)
    .option('--sasl-mechanism <m>', 'plain, scram-sha-256 or scram-sha-512 (the password: the master\'s $WHARF_KAFKA_PASSWORD)', '')
    .option('--sasl-username <user>', 'SASL user name', '')
    .option('--kafka-tls', 'TLS to the brokers with the system CAs', false)
    .option('--kafka-ca <file>', 'TLS to the brokers with this CA (a path on the master)', '')
    .action(withAdmin('source stream set', async (admin, name: string, o: { brokers: string[]; topic: string[]; group: string; bucket: string; deadLetterTopic: string; fromLatest: boolean; saslMechanism: string; saslUsername: string; kafkaTls: boolean; kafkaCa: string }) => {
      const st = await admin.setSourceStream(name, {
        brokers: o.brokers, topics: o.topic, group: o.group, bucket: o.bucket, dead_letter_topic: o.deadLetterTopic, from_latest: o.fromLatest,
        sasl_mechanism: o.saslMechanism, sasl_username: o.saslUsername, tls: o.kafkaTls, tls_ca_file: o.kafkaCa,
      });
      if (globals().json) json(st); else out(`${name}: ${streamLine(st)}`);
    }));
  stream.command('clear <source>').description('stop consuming (the namespace stays; periodic and on-access sync go on)')
    .action(withAdmin('source stream clear', async (admin, name: string) => {
      const s = await admin.clearSourceStream(name);
      if (globals().json) json(s); else out(`${name}: stream cleared`);
    }));
  stream.command('show <source>').description('state (inactive, waiting, starting, active, error), lag, last event, counters')
    .action(withAdmin('source stream show', async (admin, name: string) => {
      const st = await admin.showSourceStream(name);
      if (globals().json) json(st); else out(`${name}: ${streamLine(st)}`);
    }));
}
