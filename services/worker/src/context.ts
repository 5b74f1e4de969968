/**
 * What a job handler gets: its payload, the engine's dependencies, a logger with the job id, an
 * AbortSignal that fires on cancellation (or a lost image lock), and a progress callback.
 */
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { EngineDeps, JobProgress } from '@imgport/engine';
import type { ImageLocks, JobRecords, Keyspace, JobType, PayloadOf, ResultOf } from '@imgport/jobs';
import type { Config, ImgportError, Logger } from '@imgport/runtime';
import type { TableStore } from '@imgport/tables';

export interface WorkerDeps {
  tables: TableStore;
  records: JobRecords;
  /** The worker-role connection (waits and reconnects). */
  redis: Redis;
  keys: Keyspace;
  locks: ImageLocks;
  installRoot: string;
  dataDir: string;
  allow: string[];
  /** Where `{"source": path}` imports may read from (IMGPORT_SOURCE_DIRS). */
  sourceDirs: string[];
  /** The URL prefixes `{"source": url}` imports may fetch from, redirects included (IMGPORT_URL_ALLOW). */
  urlAllow: string[];
  /** The exporting node's install directory assumed when a payload names none. */
  fromRoot: string;
  limits?: EngineDeps['limits'];
  /** IMGPORT_SIGNATURES and the trust store imports are checked against. */
  trust?: EngineDeps['trust'];
  /** IMGPORT_SIGNING_KEY: exports and snapshots are signed with it. */
  signingKey?: string;
  /** Registry credentials, plain-HTTP hosts and the catalog token for pull sources and publish jobs. */
  catalog?: Config['catalog'];
  log: Logger;
}

export interface JobContext {
  job: Job;
  deps: WorkerDeps;
  log: Logger;
  signal: AbortSignal;
  /** Stops the job with this error (a lost image lock, say). */
  abort(reason: ImgportError): void;
  /** Throttled to about once a second. */
  progress(p: JobProgress): void;
}

export interface JobHandler<T extends JobType> {
  run(payload: PayloadOf[T], ctx: JobContext): Promise<ResultOf[T]>;
  /** Called once the job will not run again: succeeded, failed for good, or cancelled. */
  settled?(payload: PayloadOf[T], ctx: { deps: WorkerDeps; log: Logger; runKey?: string }): Promise<void>;
}

export type Handlers = { [T in JobType]: JobHandler<T> };

/** One run of a job: its id and its creation time (a finished job submitted again is a new run). */
export function runKey(job: Pick<Job, 'id' | 'timestamp'>): string {
  return `${String(job.id)}@${job.timestamp}`;
}

export function engineDeps(deps: WorkerDeps, log: Logger): EngineDeps {
  return {
    tables: deps.tables,
    installRoot: deps.installRoot,
    dataDir: deps.dataDir,
    allow: deps.allow,
    log,
    ...(deps.limits ? { limits: deps.limits } : {}),
    ...(deps.trust ? { trust: deps.trust } : {}),
    ...(deps.signingKey ? { signingKey: deps.signingKey } : {}),
  };
}
