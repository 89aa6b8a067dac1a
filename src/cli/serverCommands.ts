// `wharf master` and `wharf fsck`: run a master; check its data directory offline.
import type { Command } from 'commander';
import { DEFAULT_MASTER_ADDRESS, WharfError } from '../common/index.js';
import { s3SettingsFromEnv } from './s3Settings.js';
import { globals, integer, json, nodeTls, out, printError } from './context.js';
import { FSCK_EXIT } from './exitCodes.js';
import { fsckText } from './format.js';

const list = (v: string, prev: string[] = []) => [...prev, ...v.split(',').map((x) => x.trim()).filter(Boolean)];
const SASL = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;

/** The master's change-stream flags as options (checked again by the master); undefined when none is given. */
function changeStreamOptions(o: { cluster?: string; changeBrokers?: string[]; changeTopic?: string; invalidateFrom?: string[]; changeGroup?: string; changeSasl?: string; changeTls: boolean; changeCa?: string }) {
  if (!o.changeTopic && !o.invalidateFrom?.length) {
    if (o.changeBrokers?.length) throw new WharfError('EINVAL', '--change-brokers needs --change-topic or --invalidate-from');
    return undefined;
  }
  if (!o.changeBrokers?.length) throw new WharfError('EINVAL', '--change-topic and --invalidate-from need --change-brokers');
  let sasl: { mechanism: (typeof SASL)[number]; username: string; password: string } | undefined;
  if (o.changeSasl) {
    const at = o.changeSasl.indexOf(':');
    const mechanism = o.changeSasl.slice(0, at < 0 ? undefined : at) as (typeof SASL)[number];
    if (at < 0 || !SASL.includes(mechanism) || at === o.changeSasl.length - 1) throw new WharfError('EINVAL', `--change-sasl ${JSON.stringify(o.changeSasl)}: expected mechanism:user, the mechanism one of ${SASL.join(', ')}`);
    const password = process.env['WHARF_KAFKA_PASSWORD'];
    if (!password) throw new WharfError('EINVAL', '--change-sasl needs the password in $WHARF_KAFKA_PASSWORD');
    sasl = { mechanism, username: o.changeSasl.slice(at + 1), password };
  }
  return {
    brokers: o.changeBrokers,
    ...(o.cluster ? { cluster: o.cluster } : {}), ...(o.changeTopic ? { topic: o.changeTopic } : {}),
    ...(o.invalidateFrom?.length ? { invalidateFrom: o.invalidateFrom } : {}), ...(o.changeGroup ? { group: o.changeGroup } : {}),
    ...(sasl ? { sasl } : {}), ...(o.changeCa ? { tls: { caFile: o.changeCa } } : o.changeTls ? { tls: true as const } : {}),
  };
}

export function registerServerCommands(program: Command): void {
  program
    .command('master')
    .description('run the namespace master (gRPC) on a data directory')
    .requiredOption('--data <dir>', 'LevelDB data directory (created if missing); also the bootstrap key and the audit log')
    .option('--meta <engine>', 'keep the namespace elsewhere: leveldb:DIR, or a PostgreSQL database postgres://user@host:port/db (password: $PGPASSWORD)')
    .option('--listen <host:port>', 'gRPC address to serve', DEFAULT_MASTER_ADDRESS)
    .option('--metrics <host:port>', 'serve Prometheus /metrics and /healthz over HTTP here')
    .option('--fsync', 'acknowledge no metadata change before it is on stable storage (group commit; survives power loss)', false)
    .option('--grace <ms>', 'on SIGTERM/SIGINT, how long in-flight calls may run before they are cancelled', integer(0), 10_000)
    .option('--node-heartbeat <ms>', 'how often cache nodes heartbeat', integer(100), 3_000)
    .option('--node-lost <ms>', 'a cache node silent this long is LOST (out of placement; SUSPECT after two missed heartbeats)', integer(500), 15_000)
    .option('--snapshot-deadline <ms>', 'during `sync begin`…`end`, status says "snapshot complete" once no refresh has arrived for this long', integer(1), 60_000)
    .option('--audit-dir <dir>', 'where the audit log is written (default <data>/audit)')
    .option('--audit-retention-days <n>', 'audit files older than this are removed', integer(1, 36_500), 30)
    .option('--auth', 'require an access key on every call (needs TLS: the global --tls-cert and --tls-key); the first start writes the bootstrap admin key', false)
    .option('--bootstrap-key-file <file>', 'where the first start with --auth writes the admin key (0600)', undefined)
    .option('--mtls', 'require client certificates signed by the global --tls-ca (mutual TLS)', false)
    .option('--insecure', 'serve a non-loopback --listen without TLS and auth: anyone who can reach it can read and change everything', false)
    .option('--console <host:port>', 'serve the web console here (HTTPS with the master\'s TLS files; with --auth, log in with an access key)')
    .option('--cluster <name>', 'this cluster\'s name in its change stream (default: the host name)')
    .option('--change-brokers <list>', 'Kafka bootstrap brokers of the change stream, host:port[,host:port…]', list)
    .option('--change-topic <topic>', 'publish every namespace change clients make on this topic (from an outbox: at least once, across crashes)')
    .option('--invalidate-from <topics>', 'read other clusters\' change topics and re-sync the paths they changed; repeatable', list)
    .option('--change-group <group>', 'the invalidation feed\'s consumer group (default wharf-invalidations-<cluster>)')
    .option('--change-sasl <mechanism:user>', 'SASL to the change brokers: plain, scram-sha-256 or scram-sha-512 and a user (the password: $WHARF_KAFKA_PASSWORD)')
    .option('--change-tls', 'TLS to the change brokers with the system CAs', false)
    .option('--change-ca <file>', 'TLS to the change brokers with this CA')
    .action(async (o: { data: string; meta?: string; listen: string; metrics?: string; fsync: boolean; grace: number; snapshotDeadline: number; nodeHeartbeat: number; nodeLost: number; auditDir?: string; auditRetentionDays: number; auth: boolean; bootstrapKeyFile?: string; mtls: boolean; insecure: boolean; console?: string;
      cluster?: string; changeBrokers?: string[]; changeTopic?: string; invalidateFrom?: string[]; changeGroup?: string; changeSasl?: string; changeTls: boolean; changeCa?: string }) => {
      const g = globals();
      if (o.mtls && !g.tlsCa) throw new WharfError('EINVAL', '--mtls needs --tls-ca: the CA whose client certificates are accepted');
      if ((g.tlsCert === undefined) !== (g.tlsKey === undefined)) throw new WharfError('EINVAL', '--tls-cert and --tls-key go together');
      const tls = g.tlsCert && g.tlsKey ? { certFile: g.tlsCert, keyFile: g.tlsKey, refreshMs: g.tlsRefresh, ...(o.mtls ? { clientCaFile: g.tlsCa! } : {}) } : undefined;
      const toNodes = await nodeTls();
      const changes = changeStreamOptions(o);
      const { Master } = await import('../master/index.js'); // loaded here: other commands start without it
      const master = await Master.start({
        ...(tls ? { tls } : {}), auth: { enabled: o.auth, ...(o.bootstrapKeyFile ? { bootstrapKeyFile: o.bootstrapKeyFile } : {}) }, insecure: o.insecure,
        dataDir: o.data, ...(o.meta ? { meta: o.meta } : {}), listen: o.listen, fsync: o.fsync, s3: s3SettingsFromEnv(),
        audit: { ...(o.auditDir ? { dir: o.auditDir } : {}), retentionDays: o.auditRetentionDays },
        nodes: { heartbeatMs: o.nodeHeartbeat, lostMs: o.nodeLost },
        ...(o.metrics ? { metricsListen: o.metrics } : {}),
        ...(toNodes ? { cache: { nodeTls: toNodes } } : {}),
        ...(process.env['WHARF_KAFKA_PASSWORD'] ? { events: { saslPassword: process.env['WHARF_KAFKA_PASSWORD'] } } : {}),
        ...(changes ? { changes } : {}),
        sync: {
          snapshotDeadlineMs: o.snapshotDeadline,
          ...(process.env['WHARF_TEST_MINUTE_MS'] ? { minuteMs: Number(process.env['WHARF_TEST_MINUTE_MS']) } : {}),
        },
      });
      let consoleServer: { url: string; close(): Promise<void> } | undefined;
      if (o.console) {
        if (tls && !g.tlsCa) {
          await master.stop(0);
          throw new WharfError('EINVAL', '--console with TLS needs --tls-ca: the CA of the master\'s own certificate, which the console dials');
        }
        const { ConsoleServer } = await import('../console/index.js');
        const { NodeControlClient } = await import('../node/index.js');
        const toNodeStats = new NodeControlClient(1_000, toNodes);
        try {
          consoleServer = await ConsoleServer.start({
            listen: o.console, auth: o.auth, insecure: o.insecure, nodeStats: (address) => toNodeStats.stats(address),
            // The console dials the master on loopback when it listens on every address.
            masterAddress: master.address.replace(/^(0\.0\.0\.0|\[::\])(?=:)/, '127.0.0.1'),
            ...(tls ? {
              tls: { certFile: tls.certFile, keyFile: tls.keyFile, refreshMs: tls.refreshMs },
              security: { tls: { caFile: g.tlsCa!, ...(o.mtls ? { certFile: tls.certFile, keyFile: tls.keyFile } : {}) } },
            } : {}),
          });
        } catch (e) {
          await master.stop(0);
          throw e;
        }
      }
      // Scripts and tests read this line to learn the bound address (with --listen :0).
      out(`wharf master listening on ${master.address}${master.metricsAddress ? `, metrics on http://${master.metricsAddress}/metrics` : ''}${consoleServer ? `, console on ${consoleServer.url}` : ''}`);
      await new Promise<void>((resolve) => {
        const onSignal = (sig: string) => {
          out(`received ${sig}; stopping`);
          void (consoleServer?.close() ?? Promise.resolve()).then(() => master.stop(o.grace)).then(resolve, resolve);
        };
        process.once('SIGTERM', () => onSignal('SIGTERM'));
        process.once('SIGINT', () => onSignal('SIGINT'));
      });
      // Stopped cleanly: a library's retry timers (a Kafka client still connecting to
      // brokers that are down) must not keep the process alive for a minute more.
      setTimeout(() => process.exit(), 500).unref();
    });

  program
    .command('fsck')
    .description('check a stopped master\'s data directory; exit 0 clean, 1 corrected, 4 problems left, 8 could not check')
    .requiredOption('--data <dir>', 'LevelDB data directory, or the master\'s --meta (leveldb:DIR, postgres://…)')
    .option('--repair', 'fix what has exactly one right answer', false)
    .action(async (o: { data: string; repair: boolean }) => {
      let report;
      try {
        report = await (await import('../meta/index.js')).fsckDataDir(o.data, { repair: o.repair });
      } catch (e) {
        printError('fsck', e);
        process.exitCode = FSCK_EXIT.operational;
        return;
      }
      if (globals().json) json(report);
      else out(fsckText(report));
      const open = report.findings.some((f) => !f.repaired);
      process.exitCode = open ? FSCK_EXIT.uncorrected : report.findings.length > 0 ? FSCK_EXIT.corrected : FSCK_EXIT.clean;
    });
}
