// Data sources, sync rules and sync jobs as the master keeps them in LevelDB
// (JSON values under the 'S', 'R' and 'J' key families; see src/meta/keys.ts).
// Every state is a readable name, as logs and `wharf status` show it.
import type { AccessRule, Grant, SecretHash } from '../access/index.js';
import type { SyncCountersSnapshot } from '../sync/index.js';

export const SOURCE_MODES = ['normal', 'synchronizing'] as const;
export type SourceMode = (typeof SOURCE_MODES)[number];

export interface SourceRecord {
  name: string;
  /** s3://bucket/prefix or file:///dir, as given (never with credentials). */
  uri: string;
  /** Where the source appears in the namespace. */
  at: string;
  /** Inode of the mount root (a directory at `at`). */
  rootIno: string;
  readOnly: boolean;
  endpoint?: string;
  region?: string;
  /** On-access sync interval in ms: -1 never after the first load, 0 always, N when older than N. */
  syncIntervalMs: number;
  /** Read owner, mode, time and symlinks from objects' s3fs/rclone metadata (a HEAD per new or changed object). */
  objectMetadata?: boolean;
  createdMs: number;
  mode: SourceMode;
  /** The generation the next job (or the open resynchronisation) stamps entries with. */
  gen: string;
  /** During `sync begin` … `sync end`: when begin was called, and the last time a listing refreshed anything. */
  resyncStartedMs?: number;
  lastRefreshMs?: number;
  lastSuccessMs?: number;
  /** The cache instance whose nodes cache its blocks; absent: the nodes in no instance. */
  instance?: string;
  /** Directories whose blocks are pinned (ttlMs 0) or expire ttlMs after first cached. */
  pins?: { directory: string; ttlMs: number }[];
  /** Its permission group, within its instance; absent: the instance's default group. */
  group?: string;
  /** Its stream of store events (src/events); absent: none. A SASL password is never stored: the master has it from its environment. */
  stream?: StreamRecord;
  /**
   * Invalidations from other clusters were lost (src/events InvalidationFeed) at this
   * time: every directory not listed since re-lists on its next access.
   */
  staleSinceMs?: number;
  staleReason?: string;
}

export interface StreamRecord {
  brokers: string[];
  topics: string[];
  group: string;
  bucket: string;
  deadLetterTopic?: string;
  fromBeginning: boolean;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string };
  /** true: TLS with the system CAs; a path: with that CA file. */
  tls?: true | string;
}

export const RULE_TYPES = ['manual', 'periodic'] as const;
export type RuleType = (typeof RULE_TYPES)[number];

/** Manual rules are always `normal`; periodic rules move through the rest. */
export const RULE_STATUSES = ['normal', 'disabled', 'enabling', 'enabled', 'disabling'] as const;
export type RuleStatus = (typeof RULE_STATUSES)[number];

export interface RuleRecord {
  source: string;
  name: string;
  description: string;
  type: RuleType;
  /** Directory inside the source, absolute ("/" is the whole source). */
  directory: string;
  status: RuleStatus;
  /** Periodic rules: minutes between job starts, 1..28,800. */
  intervalMinutes: number;
  /** Periodic rules: a cron expression (5 or 6 fields, UTC) that replaces the interval. */
  cron?: string;
  /** Cache rules only: what the rule does. */
  cache?: CacheRuleSpec;
  createdMs: number;
  /** The rule's most recent job, if any. */
  lastJobId?: string;
  lastRunMs?: number;
}

export const JOB_STATES = ['starting', 'executing', 'succeeded', 'failed', 'terminating', 'terminated', 'terminate_failed'] as const;
export type JobState = (typeof JOB_STATES)[number];
export const ACTIVE_JOB_STATES: readonly JobState[] = ['starting', 'executing', 'terminating'];

export const JOB_TRIGGERS = ['import', 'manual', 'periodic'] as const;
export type JobTrigger = (typeof JOB_TRIGGERS)[number];

export interface JobRecord {
  id: string;
  source: string;
  /** The rule that started it; absent for the initial scan of an import. */
  rule?: string;
  trigger: JobTrigger;
  directory: string;
  state: JobState;
  gen: string;
  startedMs: number;
  endedMs?: number;
  counters: SyncCountersSnapshot;
  /** Why it failed (or could not be terminated). */
  reason?: string;
  /** Entries per second over the job so far. */
  rate?: number;
}

export const CACHE_RULE_KINDS = ['warmup', 'evict'] as const;
export type CacheRuleKind = (typeof CACHE_RULE_KINDS)[number];

export interface CacheRuleSpec {
  kind: CacheRuleKind;
  /** Globs over paths relative to the rule's directory (minimatch); none: everything. */
  include: string[];
  exclude: string[];
  /** Warmup: sync the names only, fetch no bytes. */
  metadataOnly: boolean;
  /** Warmup: blocks already on their owner are not fetched again (default true). */
  skipCached: boolean;
  /** Warmup: bytes per second the job may take from the store, over all its nodes; 0: no limit. */
  bandwidthBytesPerSec: number;
  /** Warmup: the block size the mounts read with (their --block-size; default 4 MiB). */
  blockSize: number;
}

/** A cache instance: a named pool of cache nodes with a capacity, to which data sources are bound. */
export interface InstanceRecord {
  name: string;
  description: string;
  /** Bytes of blocks the instance may hold, shared among its nodes by their capacity. */
  capacityBytes: number;
  /** A node evicts (LRU) from highWatermark × its share down to lowWatermark × its share. */
  highWatermark: number;
  lowWatermark: number;
  createdMs: number;
}

export interface CacheFailure {
  path: string;
  reason: string;
}

/** A cache job's progress, as structured data. Totals are absent while the listing runs. */
export interface CacheProgress {
  phase: 'listing' | 'caching' | 'evicting' | 'done';
  filesTotal?: number;
  bytesTotal?: number;
  filesDone: number;
  bytesDone: number;
  filesFailed: number;
  /** Blocks fetched from the store, and blocks found already cached on their owner. */
  blocksFetched: number;
  blocksPresent: number;
  /** Eviction: blocks and bytes freed on the nodes. */
  blocksEvicted: number;
  bytesEvicted: number;
  /** Nodes the job works on (owners for a warmup, every node for an eviction). */
  nodes: number;
  /** The first MAX_LISTED_FAILURES failures. */
  failures: CacheFailure[];
  /** Bytes per second over the job so far. */
  bytesPerSec: number;
}

export interface CacheJobRecord {
  id: string;
  source: string;
  rule: string;
  kind: CacheRuleKind;
  trigger: JobTrigger;
  directory: string;
  state: JobState;
  startedMs: number;
  endedMs?: number;
  progress: CacheProgress;
  /** Names synced before caching (warmup). */
  counters: SyncCountersSnapshot;
  reason?: string;
  /** Succeeded with failures below the thresholds. */
  warnings?: string;
}

export const MAX_LISTED_FAILURES = 50;
/** Alluxio's thresholds: a cache job fails when more than this share, or this many, of its files fail. */
export const FAILED_FILES_SHARE = 0.1;
export const FAILED_FILES_MAX = 100;
export const MAX_INSTANCES = 100;
export const DEFAULT_HIGH_WATERMARK = 0.95;
export const DEFAULT_LOW_WATERMARK = 0.85;

export const MAX_RULES_PER_SOURCE = 20;
export const MIN_INTERVAL_MINUTES = 1;
export const MAX_INTERVAL_MINUTES = 28_800;
export const DEFAULT_INTERVAL_MINUTES = 5;
/** `sync end` refuses, without --force, to remove more than this share of a source's entries. */
export const RESYNC_REMOVAL_GUARD = 0.2;

/** A permission group of a cache instance ('' the nodes in none, which also governs paths outside every source). */
export interface GroupRecord {
  instance: string;
  name: string;
  description: string;
  rules: AccessRule[];
  createdMs: number;
}

export const DEFAULT_GROUP = 'default';
export const MAX_GROUPS_PER_INSTANCE = 20;
export const MAX_RULES_PER_GROUP = 500;

/** An IAM user: a name with grants. Keys belong to a user; disabling the user disables them all. */
export interface UserRecord {
  name: string;
  grants: Grant[];
  disabled: boolean;
  createdMs: number;
  description: string;
}

/** An access key: the secret only as its scrypt hash. */
export interface KeyRecord {
  id: string;
  user: string;
  secret: SecretHash;
  description: string;
  createdMs: number;
  /** 0: never. */
  expiresMs: number;
  disabled: boolean;
}

type AnyRecord = SourceRecord | RuleRecord | JobRecord | InstanceRecord | CacheJobRecord | GroupRecord | UserRecord | KeyRecord;

export function encodeRecord(r: AnyRecord): Buffer {
  return Buffer.from(JSON.stringify(r), 'utf8');
}

export function decodeRecord<T extends AnyRecord>(b: Buffer): T {
  return JSON.parse(b.toString('utf8')) as T;
}
