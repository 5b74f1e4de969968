/**
 * The API's side of the queue: one BullMQ queue for every job type, a FlowProducer for bulk
 * snapshots, and the durable records. Redis failures surface as QUEUE_UNAVAILABLE, database
 * failures as DB_UNAVAILABLE (both 503 at the API).
 */
import { FlowProducer, Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { JobProgress } from '@imgport/engine';
import { FINISHED_STATES, isFinished } from '@imgport/contract';
import { ImgportError, type Logger } from '@imgport/runtime';
import { clearCancel, requestCancel } from './cancel.js';
import { assertJobId, childJobId, importJobId, JOB_OPTIONS, newJobId, parsePayload } from './catalog.js';
import { keyspace, type Keyspace } from './keys.js';
import { NO_PROGRESS, openJobRecords, type JobRecord, type JobRecords } from './records.js';
import { createRedis, redisReady, toQueueError } from './redis.js';
import { liveOf, mergeStatus, parentProgress, type LiveJob } from './status.js';
import { QUEUE_NAME, type JobListFilter, type JobQueuePort, type JobState, type JobStatus, type JobType, type PayloadOf, type SnapshotPayload } from './types.js';

export interface JobQueueOptions {
  connection: Redis;
  records: JobRecords;
  /** IMGPORT_QUEUE_PREFIX (default `imgport`); tests use their own to isolate themselves. */
  prefix?: string;
  log?: Logger;
  /** close() also closes the connection and the records (as openJobQueue's queue does). */
  owns?: boolean;
}

type Submittable = Exclude<JobType, 'snapshot' | 'snapshot-image'>;
const ID_PREFIX: Record<Submittable, string> = { import: 'imp', export: 'exp', publish: 'pub' };
const NOT_FINAL: JobState[] = ['queued', 'running'];
/**
 * Deduplication holds only while the job is unfinished: a finished one submitted again runs again
 * (a failed one is a new try; a succeeded import submitted again, e.g. with --force after a
 * revert, is meant to import again).
 */
const RERUNNABLE: JobState[] = [...FINISHED_STATES];
const CANCELLED_BEFORE_RUN = { code: 'CANCELLED', message: 'cancelled before it ran' };

export class JobQueue implements JobQueuePort {
  readonly queue: Queue;
  readonly keys: Keyspace;
  private readonly flows: FlowProducer;
  private readonly redis: Redis;
  private readonly records: JobRecords;

  constructor(private readonly opts: JobQueueOptions) {
    this.redis = opts.connection;
    this.records = opts.records;
    this.keys = keyspace(opts.prefix);
    const common = { connection: opts.connection, prefix: this.keys.prefix };
    this.queue = new Queue(QUEUE_NAME, common);
    this.flows = new FlowProducer(common);
    const onError = (err: Error) => opts.log?.warn({ err }, 'queue connection error');
    this.queue.on('error', onError);
    this.flows.on('error', onError);
  }

  async submit<T extends Submittable>(type: T, payload: PayloadOf[T], opts: { id?: string } = {}): Promise<{ id: string; existing: boolean }> {
    if (!(type in ID_PREFIX)) throw new ImgportError('BAD_REQUEST', `jobs of type ${type} cannot be submitted directly`);
    const data = parsePayload(type, payload);
    const id = opts.id !== undefined ? assertJobId(opts.id) : type === 'import' ? importJobId(data as PayloadOf['import']) : newJobId(ID_PREFIX[type]);
    // Both lookups at once: they are independent, and enqueue latency is a round trip each.
    const [rec, job] = await Promise.all([this.records.get(id), this.job(id)]);
    if (rec && !RERUNNABLE.includes(rec.state)) {
      // A record whose job never reached Redis (the API died in between, or Redis lost it) is repaired.
      if (!job && rec.state === 'queued') await this.add(type, id, rec.payload);
      return { id, existing: true };
    }
    if (!rec && job) {
      await this.records.insert({ id, type: job.name as JobType, payload: job.data, ...imageField(job.data) });
      return { id, existing: true };
    }
    if (job && !(await this.removeJob(id))) return { id, existing: true };
    const fresh = { payload: data, progress: initialProgress(type, data), ...imageField(data) };
    const claimed = rec
      ? await this.records.update(id, { ...fresh, state: 'queued', result: null, error: null, attempts: 0, createdAt: new Date().toISOString() }, RERUNNABLE)
      : await this.records.insert({ id, type, ...fresh });
    if (!claimed) return { id, existing: true };
    try {
      // A cancel request can only be left over from an earlier run of the same id.
      if (rec) await clearCancel(this.redis, this.keys, id);
      await this.add(type, id, data);
    } catch (err) {
      await this.records.remove(id).catch(() => undefined);
      throw toQueueError(err);
    }
    return { id, existing: false };
  }

  async submitSnapshots(payload: SnapshotPayload): Promise<{ id: string; existing: boolean }> {
    const data = parsePayload('snapshot', payload);
    const images = [...new Set(data.images)];
    const id = newJobId('snap');
    const label = data.label === undefined ? {} : { label: data.label };
    const children = images.map((image, i) => ({ id: childJobId(id, i), image }));
    await this.records.insert({ id, type: 'snapshot', payload: { ...data, images }, progress: { ...NO_PROGRESS, phase: 'snapshot' } });
    try {
      for (const c of children) {
        await this.records.insert({ id: c.id, type: 'snapshot-image', parentId: id, image: c.image, payload: { image: c.image, ...label }, progress: { ...NO_PROGRESS, phase: 'collect' } });
      }
      this.connected();
      await this.flows.add({
        name: 'snapshot',
        queueName: QUEUE_NAME,
        data: { ...data, images },
        opts: { ...JOB_OPTIONS.snapshot, jobId: id },
        // ignoreDependencyOnFailure: the parent still runs when a child fails, and reports it.
        children: children.map((c) => ({
          name: 'snapshot-image',
          queueName: QUEUE_NAME,
          data: { image: c.image, ...label },
          opts: { ...JOB_OPTIONS['snapshot-image'], jobId: c.id, ignoreDependencyOnFailure: true },
        })),
      });
    } catch (err) {
      for (const c of [...children, { id }]) await this.records.remove(c.id).catch(() => undefined);
      throw toQueueError(err);
    }
    return { id, existing: false };
  }

  async status(id: string): Promise<JobStatus | undefined> {
    const [rec, live] = await Promise.all([this.records.get(id), this.live(id)]);
    const status = mergeStatus(id, rec, live);
    if (!status) return undefined;
    if (rec && !isFinished(rec.state) && isFinished(status.state)) await this.reconcile(rec, status);
    if (status.type === 'snapshot') {
      const children = await this.records.children(id);
      status.children = children.map((c) => ({ id: c.id, state: c.state, ...(c.image ? { image: c.image } : {}) }));
      if (!isFinished(status.state)) status.progress = parentProgress(children);
    }
    return status;
  }

  async list(filter: JobListFilter = {}): Promise<{ jobs: JobStatus[]; total: number }> {
    const { records, total } = await this.records.list(filter);
    const jobs = await Promise.all(
      records.map(async (rec) => mergeStatus(rec.id, rec, isFinished(rec.state) ? undefined : await this.live(rec.id))!),
    );
    return { jobs, total };
  }

  async cancel(id: string): Promise<JobStatus> {
    const before = await this.status(id);
    if (!before) throw new ImgportError('NOT_FOUND', `job ${id} not found`);
    if (isFinished(before.state)) throw new ImgportError('CONFLICT', `job ${id} has already ${before.state === 'cancelled' ? 'been cancelled' : before.state}`);
    if (before.type === 'snapshot') await this.cancelFlow(id);
    else await this.cancelOne(id);
    return (await this.status(id)) ?? before;
  }

  counts(): Promise<Record<JobState, number>> {
    return this.records.counts();
  }

  async ping(): Promise<void> {
    try {
      await this.redis.ping();
    } catch (err) {
      throw toQueueError(err);
    }
    await this.records.ping();
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.queue.close(), this.flows.close()]);
    if (!this.opts.owns) return;
    this.redis.disconnect();
    await this.records.close();
  }

  /** A queued job is removed; one that is running (or just started) is asked to stop. */
  private async cancelOne(id: string): Promise<void> {
    const job = await this.job(id);
    if (!job || (await this.removeJob(id))) {
      await this.records.update(id, { state: 'cancelled', error: CANCELLED_BEFORE_RUN }, NOT_FINAL);
      return;
    }
    await requestCancel(this.redis, this.keys, id);
  }

  /**
   * The children first (queued ones removed, running ones asked to stop); then the parent, which
   * can be removed once no child holds a lock. Otherwise it runs when the last child ends, finds
   * its own cancel request and ends cancelled.
   */
  private async cancelFlow(id: string): Promise<void> {
    await requestCancel(this.redis, this.keys, id);
    for (const child of await this.records.children(id)) {
      if (!isFinished(child.state)) await this.cancelOne(child.id);
    }
    if (await this.removeJob(id)) await this.records.update(id, { state: 'cancelled', error: CANCELLED_BEFORE_RUN }, NOT_FINAL);
  }

  private async reconcile(rec: JobRecord, status: JobStatus): Promise<void> {
    const patch = { state: status.state, ...(status.error ? { error: status.error } : {}), ...(status.result !== undefined ? { result: status.result } : {}) };
    await this.records.update(rec.id, patch, NOT_FINAL).catch(() => undefined);
  }

  /**
   * BullMQ waits for a connection that never was ready instead of failing; the API must not, so
   * every BullMQ call is guarded here (our own commands fail fast through enableOfflineQueue).
   */
  private connected(): void {
    if (this.redis.status !== 'ready') throw new ImgportError('QUEUE_UNAVAILABLE', `queue unavailable: Redis connection is ${this.redis.status}`);
  }

  private async add(type: JobType, id: string, data: unknown): Promise<void> {
    this.connected();
    try {
      await this.queue.add(type, data, { ...JOB_OPTIONS[type], jobId: id });
    } catch (err) {
      throw toQueueError(err);
    }
  }

  private async job(id: string): Promise<Job | undefined> {
    this.connected();
    try {
      return (await this.queue.getJob(id)) ?? undefined;
    } catch (err) {
      throw toQueueError(err);
    }
  }

  private async live(id: string): Promise<LiveJob | undefined> {
    const job = await this.job(id);
    try {
      return job ? await liveOf(job, () => this.job(id)) : undefined;
    } catch (err) {
      throw toQueueError(err);
    }
  }

  /** False when the job is locked by a worker (running). */
  private async removeJob(id: string): Promise<boolean> {
    this.connected();
    try {
      return (await this.queue.remove(id)) === 1;
    } catch (err) {
      throw toQueueError(err);
    }
  }
}

/** The queue with its own fail-fast Redis connection and records; close() closes all of them. */
export async function openJobQueue(opts: { redisUrl: string; xcatDb: string; prefix?: string; log?: Logger }): Promise<JobQueue> {
  const records = await openJobRecords(opts.xcatDb);
  const connection = createRedis(opts.redisUrl, 'api', opts.log ? { log: opts.log } : {});
  // Start even while Redis is down: requests get 503 until it is back.
  await redisReady(connection).catch((err: unknown) => opts.log?.warn({ err }, 'Redis not reachable yet'));
  return new JobQueue({ connection, records, owns: true, ...(opts.prefix ? { prefix: opts.prefix } : {}), ...(opts.log ? { log: opts.log } : {}) });
}

function imageField(data: unknown): { image?: string } {
  const d = data as { image?: unknown; name?: unknown } | null;
  const image = d?.image ?? d?.name;
  return typeof image === 'string' ? { image } : {};
}

function initialProgress(type: JobType, data: unknown): JobProgress {
  if (type !== 'import') return { ...NO_PROGRESS, phase: 'collect' };
  const source = (data as PayloadOf['import']).source;
  return { ...NO_PROGRESS, bytesTotal: source.kind === 'spool' ? source.size : 0 };
}
