// What a sync did, as a job records and `wharf status` shows it.
export const MAX_KEPT_MESSAGES = 20;

export class SyncCounters {
  listed = 0;
  created = 0;
  updated = 0;
  deleted = 0;
  unchanged = 0;
  skipped = 0;
  errors = 0;
  /** The first warnings (skipped keys and why), for operators. */
  readonly warnings: string[] = [];
  warningCount = 0;
  /** The first errors. */
  readonly errorMessages: string[] = [];

  warn(message: string): void {
    this.warningCount++;
    if (this.warnings.length < MAX_KEPT_MESSAGES) this.warnings.push(message);
  }

  error(message: string): void {
    this.errors++;
    if (this.errorMessages.length < MAX_KEPT_MESSAGES) this.errorMessages.push(message);
  }

  snapshot(): SyncCountersSnapshot {
    return {
      listed: this.listed, created: this.created, updated: this.updated, deleted: this.deleted, unchanged: this.unchanged,
      skipped: this.skipped, errors: this.errors, warnings: [...this.warnings], warningCount: this.warningCount, errorMessages: [...this.errorMessages],
    };
  }
}

export interface SyncCountersSnapshot {
  listed: number;
  created: number;
  updated: number;
  deleted: number;
  unchanged: number;
  skipped: number;
  errors: number;
  warnings: string[];
  warningCount: number;
  errorMessages: string[];
}
