// Data sources, sync rules and sync jobs as the master keeps them in LevelDB
// (JSON values under the 'S', 'R' and 'J' key families; see src/meta/keys.ts).
// Every state is a readable name, as logs and `wharf status` show it.
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

export const MAX_RULES_PER_SOURCE = 20;
export const MIN_INTERVAL_MINUTES = 1;
export const MAX_INTERVAL_MINUTES = 28_800;
export const DEFAULT_INTERVAL_MINUTES = 5;
/** `sync end` refuses, without --force, to remove more than this share of a source's entries. */
export const RESYNC_REMOVAL_GUARD = 0.2;

export function encodeRecord(r: SourceRecord | RuleRecord | JobRecord): Buffer {
  return Buffer.from(JSON.stringify(r), 'utf8');
}

export function decodeRecord<T extends SourceRecord | RuleRecord | JobRecord>(b: Buffer): T {
  return JSON.parse(b.toString('utf8')) as T;
}
