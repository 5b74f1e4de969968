/**
 * The job catalog: the contract's payload schemas, one set of default BullMQ options per job
 * type, and the job ids. The API validates with these before it enqueues; the worker validates
 * again before it runs (a payload in Redis is only as trustworthy as Redis).
 */
import { createHash, randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import type { JobsOptions } from 'bullmq';
import { PAYLOAD_SCHEMAS, JOB_ID_PATTERN } from '@imgport/contract';
import type { z } from 'zod';
import { ImgportError } from '@imgport/runtime';
import type { ImportPayload, JobType, PayloadOf } from './types.js';

/** Validates a payload; BAD_REQUEST names every bad field. */
export function parsePayload<T extends JobType>(type: T, data: unknown): PayloadOf[T] {
  const schema = PAYLOAD_SCHEMAS[type] as z.ZodType<PayloadOf[T]> | undefined;
  if (!schema) throw new ImgportError('BAD_REQUEST', `unknown job type "${String(type)}"`);
  const parsed = schema.safeParse(data);
  if (parsed.success) return parsed.data;
  const bad = parsed.error.issues.map((i) => `${i.path.join('.') || 'payload'}: ${i.message}`).join('; ');
  throw new ImgportError('BAD_REQUEST', `invalid ${type} job: ${bad}`);
}

/** Redis keeps a day of finished jobs and a week of failed ones; our table keeps everything. */
const HISTORY: Pick<JobsOptions, 'removeOnComplete' | 'removeOnFail'> = {
  removeOnComplete: { age: 24 * 3600, count: 1000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 5000 },
};
const RETRIED: JobsOptions = { attempts: 3, backoff: { type: 'exponential', delay: 2000 }, ...HISTORY };

export const JOB_OPTIONS: Record<JobType, JobsOptions> = {
  import: RETRIED,
  export: RETRIED,
  'snapshot-image': RETRIED,
  // The push itself retries with backoff and skips blobs already sent; a job retry starts over.
  publish: RETRIED,
  // The parent only aggregates its children's outcomes: nothing to gain from retrying it.
  snapshot: { attempts: 1, ...HISTORY },
};

export function isValidJobId(id: string): boolean {
  // An all-digit id would collide with BullMQ's own counter.
  return JOB_ID_PATTERN.test(id) && !/^\d+$/.test(id);
}

export function assertJobId(id: string): string {
  if (!isValidJobId(id)) throw new ImgportError('BAD_REQUEST', `invalid job id "${id}": use 1-200 of A-Z a-z 0-9 . _ - and not only digits`);
  return id;
}

/** A random id for jobs that need no deduplication, e.g. `exp-5f0c…`. */
export function newJobId(prefix: string): string {
  return assertJobId(`${prefix}-${randomBytes(12).toString('hex')}`);
}

/** The i-th child of a bulk snapshot: the parent pairs its payload's images[i] with it. */
export function childJobId(parentId: string, index: number): string {
  return `${parentId}-${String(index).padStart(5, '0')}`;
}

/**
 * The same bundle with the same options gets the same id, so a resubmitted import (a client
 * retrying its POST) finds the first job instead of importing twice. A file on shared storage is
 * identified by path, size and mtime, so a replaced file is a new import.
 */
export function importJobId(payload: ImportPayload): string {
  const canonical = JSON.stringify({
    source: sourceIdentity(payload.source),
    name: payload.name ?? null,
    profile: payload.profile ?? null,
    force: payload.force === true,
    dryRun: payload.dryRun === true,
    fromRoot: payload.fromRoot ?? null,
  });
  return `imp-${createHash('sha256').update(canonical).digest('hex')}`;
}

function sourceIdentity(source: ImportPayload['source']): unknown[] {
  switch (source.kind) {
    case 'spool':
      return ['spool', source.sha256, source.size];
    case 'url':
      return ['url', source.url];
    case 'path': {
      try {
        const st = statSync(source.path);
        return ['path', source.path, st.size, st.mtimeMs];
      } catch {
        // Missing now: the job will fail with NOT_FOUND, and the file, once there, gets a new id.
        return ['path', source.path, null, null];
      }
    }
  }
}

export { PAYLOAD_SCHEMAS };
