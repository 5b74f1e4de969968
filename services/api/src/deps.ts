import type { Config, Logger } from '@imgport/runtime';
import type { JobQueuePort } from '@imgport/jobs';
import type { SnapshotService, StoreSnapshots } from '@imgport/engine';
import type { TableStore } from '@imgport/tables';
import type { Queue } from 'bullmq';
import type { SnapshotDiffPort } from './ui/diff.js';

/** Tunables that are not configuration a site sets: tests shorten them. */
export interface AppOptions {
  /** How often an event stream polls the job's status. */
  eventPollMs: number;
  /** Comment lines that keep idle proxies from closing an event stream. */
  heartbeatMs: number;
  /** /readyz fails when the spool's filesystem has less free space than this. */
  minSpoolFreeBytes: number;
  /** Each /readyz check gives up after this long. */
  readyTimeoutMs: number;
}

export const DEFAULT_OPTIONS: AppOptions = {
  eventPollMs: 250,
  heartbeatMs: 15_000,
  minSpoolFreeBytes: 1024 ** 3,
  readyTimeoutMs: 2000,
};

export interface AppDeps {
  config: Config;
  log: Logger;
  queue: JobQueuePort;
  tables: TableStore;
  /** Every snapshot: SnapshotCatalog (store and .tgz) in the services, a SnapshotService will do. */
  snapshots: Pick<SnapshotService, 'list' | 'get' | 'remove' | 'revertBundle'>;
  /** The deduplicated store, for diffs (default: one over config.dataDir). */
  store?: Pick<StoreSnapshots, 'diff'>;
  /** The API's own Redis connection, pinged by /readyz; without it /readyz pings the queue. */
  redis?: { ping(): Promise<unknown> };
  /** The BullMQ queue shown read-only at /admin/queues; no dashboard without it. */
  bullQueue?: Queue;
  /** Aborted at shutdown: open event streams end so the server can finish closing. */
  closing?: AbortSignal;
  options?: Partial<AppOptions>;
  /** Compares two snapshots for the console's diff view; without it the console says so. */
  snapshotDiff?: SnapshotDiffPort;
}
