/**
 * A job's status from its two sources. The record is authoritative once it is final (the worker
 * writes it before BullMQ completes the job, and Redis trims its history later); before that
 * BullMQ's live state is fresher (a stalled job back in the queue, progress since the last write).
 */
import type { Job, JobState as BullState } from 'bullmq';
import type { JobProgress } from '@imgport/engine';
import { isFinished } from '@imgport/contract';
import { ERROR_CODES } from '@imgport/runtime';
import type { JobError, JobRecord } from './records.js';
import type { JobState, JobStatus, JobType } from './types.js';

export interface LiveJob {
  state: JobState;
  type: JobType;
  data: unknown;
  progress?: JobProgress;
  attempts: number;
  result?: unknown;
  error?: JobError;
  createdAt: string;
}

export function fromBullState(state: BullState | 'unknown'): JobState | undefined {
  switch (state) {
    case 'active':
      return 'running';
    case 'completed':
      return 'succeeded';
    case 'failed':
      return 'failed';
    case 'unknown':
      return undefined;
    default:
      // waiting, delayed (a retry's backoff), prioritized, waiting-children (a bulk snapshot).
      return 'queued';
  }
}

/** Our processors fail jobs with `CODE: message`; anything else (a stalled job BullMQ gave up on) is INTERNAL. */
export function parseFailedReason(reason: string): JobError {
  const m = /^([A-Z_]+): ([\s\S]*)$/.exec(reason);
  if (m && m[1] && m[1] in ERROR_CODES) return { code: m[1], message: m[2] ?? '' };
  return { code: 'INTERNAL', message: reason || 'failed' };
}

function isProgress(p: unknown): p is JobProgress {
  return typeof p === 'object' && p !== null && typeof (p as JobProgress).percent === 'number';
}

/** The job as BullMQ has it; `again` reads it anew (the queue's getJob of its id). */
export async function liveOf(read: Job, again: () => Promise<Job | undefined>): Promise<LiveJob | undefined> {
  const state = fromBullState(await read.getState());
  if (!state) return undefined;
  // `read` was read before its state: a job that finished in between has no result (or failure)
  // in it. Taken as it was, a succeeded export lost its bundle: the records were reconciled to
  // "succeeded" without a result, and its download was a 404 from then on. It is read again.
  const stale = (state === 'succeeded' && read.returnvalue == null) || (state === 'failed' && !read.failedReason);
  const job = stale ? ((await again()) ?? read) : read;
  const live: LiveJob = {
    state,
    type: job.name as JobType,
    data: job.data,
    attempts: job.attemptsStarted,
    createdAt: new Date(job.timestamp).toISOString(),
  };
  if (isProgress(job.progress)) live.progress = job.progress;
  if (state === 'succeeded') live.result = job.returnvalue;
  if (state === 'failed') live.error = parseFailedReason(job.failedReason);
  return live;
}

function imageOf(data: unknown): string | undefined {
  const d = data as { image?: unknown; name?: unknown } | null;
  const image = d?.image ?? d?.name;
  return typeof image === 'string' ? image : undefined;
}

/** The merged status; undefined when neither source knows the job. */
export function mergeStatus(id: string, rec: JobRecord | undefined, live: LiveJob | undefined): JobStatus | undefined {
  if (!rec && !live) return undefined;
  const base: JobStatus = rec
    ? { id, type: rec.type, state: rec.state, progress: rec.progress, attempts: rec.attempts, createdAt: rec.createdAt, updatedAt: rec.updatedAt }
    : { id, type: live!.type, state: live!.state, progress: live!.progress ?? zero(), attempts: live!.attempts, createdAt: live!.createdAt, updatedAt: live!.createdAt };
  const image = rec?.image ?? imageOf(live?.data);
  if (image !== undefined) base.image = image;
  if (rec?.parentId !== undefined) base.parentId = rec.parentId;
  if (rec && isFinished(rec.state)) return withOutcome(base, rec.result, rec.error);
  if (!live) return withOutcome(base, rec?.result, rec?.error);
  base.state = live.state;
  if (live.progress) base.progress = live.progress;
  base.attempts = Math.max(base.attempts, live.attempts);
  return withOutcome(base, live.result, live.error);
}

function withOutcome(s: JobStatus, result: unknown, error: JobError | undefined): JobStatus {
  if (result !== undefined && result !== null) s.result = result;
  if (error) s.error = error;
  return s;
}

function zero(): JobProgress {
  return { phase: 'receive', percent: 0, bytesDone: 0, bytesTotal: 0 };
}

/** A bulk snapshot's progress before it finishes: the mean of its children's. */
export function parentProgress(children: JobRecord[]): JobProgress {
  const pct = children.map((c) => (isFinished(c.state) ? 100 : c.progress.percent));
  const percent = pct.length === 0 ? 0 : Math.floor(pct.reduce((a, b) => a + b, 0) / pct.length);
  const bytesDone = children.reduce((a, c) => a + c.progress.bytesDone, 0);
  return { phase: 'snapshot', percent, bytesDone, bytesTotal: 0 };
}
