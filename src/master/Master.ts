// The master process: the namespace (InodeTree over LevelDB) served over gRPC,
// plus an optional HTTP endpoint for Prometheus metrics and health.
//
// Shutdown order: stop accepting calls → let in-flight calls finish (bounded by
// a grace period, then cancel them) → stop sync jobs and timers → drain the write
// queue → close LevelDB.
import { Server } from '@grpc/grpc-js';
import { MAX_MESSAGE_BYTES, WharfError, logger } from '../common/index.js';
import { InodeTree, isPostgresUrl, metaTarget } from '../meta/index.js';
import { serverCredentials, wharfProto, type ServerTls } from '../rpc/index.js';
import { openStore, type S3StoreOptions } from '../ufs/index.js';
import { join } from 'node:path';
import { AuditLog, checkExposure, newRequestId } from '../access/index.js';
import { CallAuth, authorized } from './CallAuth.js';
import { Identities } from './Identities.js';
import { EventStreams, type EventStreamsOptions } from './EventStreams.js';
import { ChangeStream, checkChangeStream, type ChangeStreamOptions } from './ChangeStream.js';
import { AccessGate } from './AccessGate.js';
import { audited } from './AuditedAdmin.js';
import { adminHandlers } from './AdminService.js';
import { CachePlane, type CachePlaneOptions } from './CachePlane.js';
import { NodeRegistry, type NodeRegistryOptions } from './NodeRegistry.js';
import { Namespace } from './Namespace.js';
import { namespaceHandlers } from './NamespaceService.js';
import type { SourceRecord } from './records.js';
import { ServiceMetrics } from './ServiceMetrics.js';
import { SyncControl, type SyncControlOptions } from './SyncControl.js';
import { serveMetrics, type MetricsEndpoint } from './MetricsEndpoint.js';
import type { StoreOpener } from './SourceCatalog.js';

const log = logger('master');

export interface MasterOptions {
  /** The master's own files (the bootstrap key, the audit log) and, unless `meta` says otherwise, the namespace's LevelDB. */
  dataDir: string;
  /** Where the namespace is kept: a LevelDB directory (`leveldb:DIR` or DIR) or a PostgreSQL database (`postgres://…`). Default: dataDir. */
  meta?: string;
  /** The audit log: its directory (default <dataDir>/audit) and retention in days (default 30). */
  audit?: { dir?: string; retentionDays?: number };
  /** Cache-node heartbeat and state timings (tests shorten them). */
  nodes?: NodeRegistryOptions;
  /** host:port for gRPC; port 0 picks a free one. */
  listen: string;
  /** host:port for /metrics and /healthz over HTTP; off when absent. */
  metricsListen?: string;
  fsync?: boolean;
  /** S3 client settings for every s3:// source (a source's endpoint and region override them). */
  s3?: Omit<S3StoreOptions, 'bucket'>;
  /** Timing knobs of sync (tests shrink them). */
  sync?: Omit<SyncControlOptions, 'openStore'>;
  /** Timing knobs of cache rules and jobs (tests shrink them, and move the clock). */
  cache?: CachePlaneOptions;
  /** Serve TLS from these PEM files (re-read every refreshMs); with clientCaFile, require client certificates (mutual TLS). */
  tls?: ServerTls;
  /** Require an access key on every call (needs tls). At first start with no users, the bootstrap admin key goes to bootstrapKeyFile (default <dataDir>/admin.key, 0600). */
  auth?: { enabled: boolean; bootstrapKeyFile?: string };
  /** Listen on a non-loopback address without TLS and auth anyway. */
  insecure?: boolean;
  /** Event streams: the SASL password (from the environment) and the ledger's retention. */
  events?: EventStreamsOptions;
  /** The namespace's change stream (publish) and other clusters' invalidations (subscribe). */
  changes?: ChangeStreamOptions;
  /** Replaces how sources' stores are opened (embedding; tests wrap stores in a FaultyStore). */
  openStore?: StoreOpener;
}

/** The namespace's location: `meta` (with `leveldb:` stripped), else the data directory. */
export function metaLocation(o: Pick<MasterOptions, 'dataDir' | 'meta'>): string {
  if (!o.meta) return o.dataDir;
  if (o.meta.startsWith('leveldb:') || isPostgresUrl(o.meta)) return metaTarget(o.meta);
  throw new WharfError('EINVAL', `--meta ${JSON.stringify(o.meta.replace(/\/\/[^@/]*@/, '//…@'))}: expected leveldb:DIR or postgres://user@host:port/database`);
}

/** Opens a source's store with the master's S3 settings and the source's own endpoint and region. */
export function storeOpener(s3: Omit<S3StoreOptions, 'bucket'> = {}): StoreOpener {
  return async (s: SourceRecord) => (await openStore(s.uri, {
    s3: { ...s3, ...(s.endpoint ? { endpoint: s.endpoint, forcePathStyle: s3.forcePathStyle ?? true } : {}), ...(s.region ? { region: s.region } : {}) },
  })).store;
}

export class Master {
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly tree: InodeTree,
    readonly sync: SyncControl,
    readonly namespace: Namespace,
    private readonly server: Server,
    readonly address: string,
    private readonly http: MetricsEndpoint | undefined,
    readonly metricsAddress: string | undefined,
    readonly nodes: NodeRegistry,
    readonly cache: CachePlane,
    readonly audit: AuditLog,
    readonly streams: EventStreams,
    readonly changes: ChangeStream,
  ) {}

  static async start(options: MasterOptions): Promise<Master> {
    const authOn = options.auth?.enabled ?? false;
    const exposure = checkExposure('the master', options.listen, { tls: Boolean(options.tls), auth: authOn, insecure: options.insecure ?? false });
    if (exposure === 'insecure') log.warn({ listen: options.listen }, 'INSECURE: serving a non-loopback address without TLS and auth (--insecure); anyone who can reach it can read and change everything');
    const credentials = serverCredentials(options.tls); // PEM files checked before anything is opened
    const changeOptions = options.changes ? checkChangeStream(options.changes) : undefined;
    const tree = await InodeTree.open(metaLocation(options), { fsync: options.fsync ?? false, changeLog: Boolean(changeOptions?.topic) });
    let sync: SyncControl;
    try {
      sync = await SyncControl.open(tree, { ...options.sync, openStore: options.openStore ?? storeOpener(options.s3) });
    } catch (e) {
      await tree.close();
      throw e;
    }
    const nodes = new NodeRegistry(tree, options.nodes);
    await nodes.load();
    let cache: CachePlane;
    try {
      cache = await CachePlane.open(tree, sync.catalog, nodes, options.cache);
    } catch (e) {
      await sync.close();
      await tree.close();
      throw e;
    }
    const namespace = new Namespace(tree, sync);
    const metrics = new ServiceMetrics(() => tree.writeQueueDepth);
    const server = new Server({
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    });
    let audit: AuditLog;
    try {
      audit = await AuditLog.open(options.audit?.dir ?? join(options.dataDir, 'audit'), options.audit?.retentionDays ?? 30);
    } catch (e) {
      await cache.close();
      await sync.close();
      await tree.close();
      throw e;
    }
    const identities = new Identities(tree, (name) => cache.instances.has(name));
    let bootstrapKey: string | undefined;
    try {
      await identities.load();
      if (authOn) bootstrapKey = await identities.bootstrap(options.auth?.bootstrapKeyFile ?? join(options.dataDir, 'admin.key'));
    } catch (e) {
      await audit.close();
      await cache.close();
      await sync.close();
      await tree.close();
      throw e;
    }
    // Opened once the server is bound: until then nothing may consume events.
    const streams = new EventStreams(tree, sync.catalog, options.events);
    const changes = new ChangeStream(tree, sync.catalog, changeOptions);
    const auth = new CallAuth(authOn, identities, sync.catalog, nodes, options.tls ? (options.tls.clientCaFile ? 'mtls' : 'tls') : 'plaintext');
    const gate = new AccessGate(tree, sync.catalog, cache.groups, auth);
    gate.onDenied = (d) => audit.record({
      requestId: newRequestId(), principal: d.principal ?? 'anonymous', sourceIp: d.address, plane: 'data', action: d.op, resource: d.source ?? '-',
      params: { ino: d.ino, rule: d.rule }, result: d.errno, latencyMs: 0,
    });
    server.addService(wharfProto().wharf.v1.Namespace.service, namespaceHandlers(namespace, metrics, gate));
    server.addService(wharfProto().wharf.v1.Admin.service, audited(authorized(adminHandlers(sync, nodes, cache, metrics, audit, auth, streams, changes), auth), audit, auth));
    let port: number;
    try {
      port = await new Promise<number>((resolve, reject) => {
        server.bindAsync(options.listen, credentials, (err, p) => (err ? reject(err) : resolve(p)));
      });
    } catch (e) {
      await cache.close();
      await sync.close();
      await tree.close();
      throw new WharfError('EBUSY', `cannot listen on ${options.listen}: ${(e as Error).message}`, e);
    }
    const host = options.listen.slice(0, options.listen.lastIndexOf(':'));
    const address = `${host}:${port}`;
    let http: MetricsEndpoint | undefined;
    let metricsAddress: string | undefined;
    if (options.metricsListen) {
      try {
        http = await serveMetrics(options.metricsListen, metrics.registry);
        metricsAddress = http.address;
      } catch (e) {
        server.forceShutdown();
        await cache.close();
        await sync.close();
        await tree.close();
        throw new WharfError('EBUSY', `cannot listen on ${options.metricsListen} for metrics: ${(e as Error).message}`, e);
      }
    }
    log.info({ address, dataDir: options.dataDir, metrics: metricsAddress, fsync: options.fsync ?? false, tls: options.tls ? (options.tls.clientCaFile ? 'mutual' : 'server') : 'off', auth: authOn, bootstrapKey }, 'master serving');
    await streams.open();
    await changes.open();
    return new Master(tree, sync, namespace, server, address, http, metricsAddress, nodes, cache, audit, streams, changes);
  }

  /** Graceful stop; idempotent. In-flight calls get `graceMs` to finish, then are cancelled. */
  stop(graceMs = 10_000): Promise<void> {
    this.stopping ??= (async () => {
      log.info({ graceMs }, 'stopping: no new calls accepted');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          log.warn('grace period over; cancelling the calls still running');
          this.server.forceShutdown();
          resolve();
        }, graceMs);
        this.server.tryShutdown(() => { clearTimeout(timer); resolve(); });
      });
      await this.http?.close();
      await this.streams.close(); // consumers leave their groups; uncommitted offsets replay at the next start
      await this.changes.close(); // unpublished changes stay in the outbox for the next start
      await this.audit.close();
      await this.cache.close();
      await this.sync.close();
      await this.tree.close();
      log.info('stopped; LevelDB closed');
    })();
    return this.stopping;
  }
}
