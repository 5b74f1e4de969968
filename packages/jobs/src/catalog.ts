/**
 * The job catalog: one payload schema and one set of default BullMQ options per job type, and
 * the job ids. The API validates with these schemas before it enqueues; the worker validates
 * again before it runs (a payload in Redis is only as trustworthy as Redis).
 */
import { createHash, randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import type { JobsOptions } from 'bullmq';
import { z } from 'zod';
import { ImgportError } from '@imgport/runtime';
import type { ImportPayload, JobType, PayloadOf } from './types.js';

/** SPEC §3.1: 1–128 of [A-Za-z0-9._+-], not `.` or `..`. The engine checks it again. */
const imageName = z
  .string()
  .regex(/^[A-Za-z0-9._+-]{1,128}$/, 'must be 1-128 characters of A-Z a-z 0-9 . _ + -')
  .refine((s) => s !== '.' && s !== '..', 'must not be . or ..');

const absolutePath = z.string().min(1).max(4096).refine((p) => p.startsWith('/') && !p.includes('\0'), 'must be an absolute path');
const label = z.string().min(1).max(200);
const LIST_KINDS = ['pkglist', 'exlist', 'otherpkglist', 'postinstall', 'synclists'] as const;

const importSource = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('spool'), path: absolutePath, sha256: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int().nonnegative() }),
  z.strictObject({ kind: z.literal('path'), path: absolutePath }),
  z.strictObject({ kind: z.literal('url'), url: z.string().regex(/^(https?|oci):\/\/\S+$/i, 'must be an http(s) or oci:// URL') }),
]);

const importPayload = z.strictObject({
  source: importSource,
  name: imageName.optional(),
  profile: z.string().regex(/^[A-Za-z0-9._+-]{1,128}$/).optional(),
  force: z.boolean().optional(),
  dryRun: z.boolean().optional(),
  fromRoot: absolutePath.optional(),
});

const exportPayload = z.strictObject({
  image: imageName,
  extras: z.array(z.string().min(1).max(4096)).max(1000).optional(),
  format: z.enum(['native', 'xcat']).optional(),
  include: z.union([z.array(z.enum(LIST_KINDS)), z.literal('all')]).optional(),
});

const snapshotPayload = z.strictObject({ images: z.array(imageName).min(1).max(10_000), label: label.optional() });
const snapshotImagePayload = z.strictObject({ image: imageName, label: label.optional() });

const publishPayload = z.strictObject({
  image: imageName,
  snapshot: z.string().regex(/^[A-Za-z0-9._+-]{1,128}@[0-9TZ]{16}$/, 'must be a snapshot id <image>@<stamp>').optional(),
  destination: z.string().min(1).max(4096).regex(/^(oci:\/\/\S+|file:\/\/\/\S*|\/\S*)$/, 'must be oci://host/repo:tag or an absolute directory'),
});

export const PAYLOAD_SCHEMAS: { [T in JobType]: z.ZodType<PayloadOf[T]> } = {
  import: importPayload,
  export: exportPayload,
  snapshot: snapshotPayload,
  'snapshot-image': snapshotImagePayload,
  publish: publishPayload,
};

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

/** BullMQ builds Redis keys from ids: no `:`; and an all-digit id would collide with its counter. */
const JOB_ID = /^[A-Za-z0-9._-]{1,200}$/;

export function isValidJobId(id: string): boolean {
  return JOB_ID.test(id) && !/^\d+$/.test(id);
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
