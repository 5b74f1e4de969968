/**
 * One run of one job: the record moves to running, the handler runs with a signal wired to
 * cancel requests, and the outcome goes to the record and back to BullMQ. Errors: an ImgportError
 * that may not be retried (or a cancellation) becomes UnrecoverableError, so BullMQ fails the job
 * at once; a retryable one (DB_UNAVAILABLE, QUEUE_UNAVAILABLE, IO_ERROR, LOCKED) is thrown as is
 * and retried with backoff. Failure messages keep the code: `CHECKSUM_MISMATCH: kernel: …`.
 */
import { UnrecoverableError, type Job, type Processor } from 'bullmq';
import type { JobProgress } from '@imgport/engine';
import { cancelRequested, clearCancel, parsePayload, type CancelWatcher, type JobState, type JobType } from '@imgport/jobs';
import { ImgportError, toImgportError, type Logger } from '@imgport/runtime';
import { runKey, type Handlers, type JobContext, type JobHandler, type WorkerDeps } from './context.js';
import { ProgressReporter } from './progress.js';

const NOT_FINAL: JobState[] = ['queued', 'running'];
/** A job may run again after it failed or was cancelled: a manual retry (bull-board), say. */
const STARTABLE: JobState[] = ['queued', 'running', 'failed', 'cancelled'];

export function jobProcessor(deps: WorkerDeps, handlers: Handlers, watcher: CancelWatcher): Processor {
  return (job, _token, signal) => new JobRun(job, deps, handlers, watcher, signal).execute();
}

class JobRun {
  private readonly ctl = new AbortController();
  private readonly log: Logger;
  private readonly type: JobType;
  private readonly id: string;
  private readonly progress: ProgressReporter;
  private payload: unknown;

  constructor(
    private readonly job: Job,
    private readonly deps: WorkerDeps,
    private readonly handlers: Handlers,
    private readonly watcher: CancelWatcher,
    private readonly bullSignal?: AbortSignal,
  ) {
    this.id = String(job.id);
    this.type = job.name as JobType;
    this.log = deps.log.child({ jobId: this.id, type: this.type });
    this.progress = new ProgressReporter(
      (p) => this.writeProgress(p),
      (err) => this.log.debug({ err }, 'progress not saved'),
    );
  }

  async execute(): Promise<unknown> {
    const unwatch = this.watchCancel();
    try {
      const done = await this.start();
      if (done) return done.result;
      const handler = this.handlers[this.type] as JobHandler<JobType> | undefined;
      if (!handler) throw new ImgportError('INTERNAL', `no handler for job type ${this.type}`);
      this.payload = parsePayload(this.type, this.job.data);
      const result = await handler.run(this.payload as never, this.context());
      await this.succeed(result);
      return result;
    } catch (err) {
      throw await this.fail(err);
    } finally {
      unwatch();
      this.progress.stop();
    }
  }

  private context(): JobContext {
    return {
      job: this.job,
      deps: this.deps,
      log: this.log,
      signal: this.ctl.signal,
      abort: (reason) => this.ctl.abort(reason),
      progress: (p) => this.progress.report(p),
    };
  }

  /** Cancel requests from any process (key poll and pub/sub), and BullMQ's own cancelJob. */
  private watchCancel(): () => void {
    const cancel = () => this.ctl.abort(new ImgportError('CANCELLED', `job ${this.id} cancelled`));
    const unwatch = this.watcher.watch(this.id, cancel);
    this.bullSignal?.addEventListener('abort', cancel, { once: true });
    return () => {
      unwatch();
      this.bullSignal?.removeEventListener('abort', cancel);
    };
  }

  /**
   * Marks the record running. A job whose record already succeeded is a re-run of a finished job
   * (its worker died before telling BullMQ): it returns that result instead of running twice.
   */
  private async start(): Promise<{ result: unknown } | undefined> {
    if (await cancelRequested(this.deps.redis, this.deps.keys, this.id)) throw new ImgportError('CANCELLED', `job ${this.id} cancelled`);
    const rec = await this.deps.records.get(this.id);
    if (rec?.state === 'succeeded') {
      this.log.warn('job already succeeded (its worker stopped before completing it); returning its result');
      return { result: rec.result };
    }
    if (!rec) await this.deps.records.insert({ id: this.id, type: this.type, payload: this.job.data, ...(this.job.parent ? { parentId: this.job.parent.id } : {}) }, 'running');
    await this.deps.records.update(this.id, { state: 'running', attempts: this.job.attemptsStarted, error: null }, STARTABLE);
    this.log.info({ attempt: this.job.attemptsStarted }, 'job started');
    return undefined;
  }

  private async succeed(result: unknown): Promise<void> {
    const r = result as { bytes?: number; name?: unknown; image?: unknown } | null;
    const bytes = typeof r?.bytes === 'number' ? r.bytes : 0;
    const image = typeof r?.name === 'string' ? r.name : typeof r?.image === 'string' ? r.image : undefined;
    const progress: JobProgress = { phase: 'done', percent: 100, bytesDone: bytes, bytesTotal: bytes };
    // The work is done: a record that cannot be written now is reconciled from BullMQ later.
    await this.deps.records
      .update(this.id, { state: 'succeeded', result, progress, error: null, ...(image ? { image } : {}) }, NOT_FINAL)
      .catch((err: unknown) => this.log.error({ err }, 'job succeeded but its record was not updated'));
    this.log.info('job succeeded');
    await this.settle();
  }

  private async fail(err: unknown): Promise<Error> {
    const e = this.classify(err);
    const cancelled = e.code === 'CANCELLED';
    const final = cancelled || !e.retryable || this.job.attemptsMade + 1 >= (this.job.opts.attempts ?? 1);
    const error = { code: e.code, message: e.message };
    const patch = final ? { state: (cancelled ? 'cancelled' : 'failed') as JobState, error } : { state: 'queued' as JobState };
    await this.deps.records.update(this.id, patch, NOT_FINAL).catch((dbErr: unknown) => this.log.error({ err: dbErr }, 'job record not updated'));
    if (final) {
      this.log.error({ err: e, attempt: this.job.attemptsStarted }, cancelled ? 'job cancelled' : 'job failed');
      await this.settle();
    } else {
      this.log.warn({ err: e, attempt: this.job.attemptsStarted }, 'job failed; it will be retried');
    }
    const message = `${e.code}: ${e.message}`;
    return final && (cancelled || !e.retryable) ? new UnrecoverableError(message) : new Error(message);
  }

  /** A cancellation or a lost lock is what stopped the job, whatever the interrupted code threw. */
  private classify(err: unknown): ImgportError {
    const reason: unknown = this.ctl.signal.aborted ? this.ctl.signal.reason : undefined;
    return reason instanceof ImgportError ? reason : toImgportError(err);
  }

  private async settle(): Promise<void> {
    await clearCancel(this.deps.redis, this.deps.keys, this.id).catch(() => undefined);
    const handler = this.handlers[this.type] as JobHandler<JobType> | undefined;
    if (this.payload === undefined || !handler?.settled) return;
    await handler.settled(this.payload as never, { deps: this.deps, log: this.log, runKey: runKey(this.job) }).catch((err: unknown) => this.log.warn({ err }, 'cleanup failed'));
  }

  private async writeProgress(p: JobProgress): Promise<void> {
    await Promise.all([this.job.updateProgress(p), this.deps.records.update(this.id, { progress: p }, ['running'])]);
  }
}
