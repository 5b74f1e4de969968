/**
 * The BullMQ worker over every job type of the catalog. Startup fails when a type has no
 * handler. close() stops taking jobs and waits for the running ones to finish.
 */
import { Worker } from 'bullmq';
import { CancelWatcher, JOB_TYPES, parseFailedReason, QUEUE_NAME, type JobState } from '@imgport/jobs';
import { ImgportError } from '@imgport/runtime';
import type { Handlers, WorkerDeps } from './context.js';
import { HANDLERS } from './handlers/index.js';
import { jobProcessor } from './run-job.js';

export interface WorkerOptions {
  concurrency: number;
  handlers?: Handlers;
  /**
   * How long a job's BullMQ lock outlives a worker that stopped renewing it (killed, frozen)
   * before another worker may take the job over (default 10 s; renewed every half of it, which
   * needs a free event loop: the engine keeps big deletes and syncs off it).
   */
  lockDurationMs?: number;
  /** How often this worker looks for stalled jobs (default 5 s). */
  stalledIntervalMs?: number;
}

export interface RunningWorker {
  worker: Worker;
  close(): Promise<void>;
}

export function assertHandlers(handlers: Partial<Handlers>): void {
  const missing = JOB_TYPES.filter((t) => typeof handlers[t]?.run !== 'function');
  if (missing.length > 0) throw new ImgportError('INTERNAL', `no handler for job type ${missing.join(', ')}`);
}

export async function startWorker(deps: WorkerDeps, opts: WorkerOptions): Promise<RunningWorker> {
  const handlers = opts.handlers ?? HANDLERS;
  assertHandlers(handlers);
  const watcher = new CancelWatcher(deps.redis, deps.keys, { log: deps.log });
  await watcher.start();
  const lockDuration = opts.lockDurationMs ?? 10_000;
  const worker = new Worker(QUEUE_NAME, jobProcessor(deps, handlers, watcher), {
    connection: deps.redis,
    prefix: deps.keys.prefix,
    concurrency: opts.concurrency,
    lockDuration,
    stalledInterval: opts.stalledIntervalMs ?? 5_000,
    // One false stall (a frozen VM) is forgiven; the image lock keeps a second run from mixing.
    maxStalledCount: 2,
  });
  watchEvents(worker, deps);
  await worker.waitUntilReady();
  return {
    worker,
    close: async () => {
      await worker.close();
      await watcher.close();
    },
  };
}

const NOT_FINAL: JobState[] = ['queued', 'running'];

function watchEvents(worker: Worker, deps: WorkerDeps): void {
  const log = deps.log;
  worker.on('error', (err) => log.error({ err }, 'worker error'));
  worker.on('stalled', (jobId) => log.warn({ jobId }, 'job stalled (its worker stopped); it runs again'));
  // A job BullMQ failed without our processor (stalled too often) still gets its record updated.
  worker.on('failed', (job, err) => {
    if (!job?.id || job.finishedOn === undefined) return;
    void deps.records
      .update(job.id, { state: 'failed', error: parseFailedReason(err.message) }, NOT_FINAL)
      .catch((dbErr: unknown) => log.warn({ err: dbErr, jobId: job.id }, 'job record not updated'));
  });
}
