/**
 * Request shapes. Objects are strict so a misspelt option is an error rather than ignored.
 * Payloads are validated once more by the job catalog; these give the caller a 400 at once.
 */
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { JOB_STATES, JOB_TYPES } from '@imgport/jobs';

// SPEC §3.1: osimage names (the same rule applies to profiles, which become path segments).
const TOKEN = /^(?!\.\.?$)[A-Za-z0-9._+-]{1,128}$/;
export const imageName = z.string().regex(TOKEN, 'must be 1-128 characters of A-Z a-z 0-9 . _ + - (not "." or "..")');
const absPath = z.string().refine((s) => isAbsolute(s) && !s.includes('\0'), 'must be an absolute path');

/** Query flags: `?force`, `?force=1|true|yes` are on; `0|false|no` off. */
const flag = z
  .enum(['', '1', 'true', 'yes', '0', 'false', 'no'])
  .transform((s) => !['0', 'false', 'no'].includes(s));

export const importQuery = z.strictObject({
  name: imageName.optional(),
  profile: imageName.optional(),
  force: flag.optional(),
  dryRun: flag.optional(),
  fromRoot: absPath.optional(),
});

export const importJson = z.strictObject({
  source: z.string().min(1).max(4096),
  name: imageName.optional(),
  profile: imageName.optional(),
  force: z.boolean().optional(),
  dryRun: z.boolean().optional(),
  fromRoot: absPath.optional(),
});

export const LIST_KINDS = ['pkglist', 'exlist', 'otherpkglist', 'postinstall', 'synclists'] as const;

export const exportBody = z.strictObject({
  image: imageName,
  extras: z.array(z.string().min(1).max(4096)).max(256).optional(),
  format: z.enum(['native', 'xcat']).optional(),
  include: z.union([z.literal('all'), z.array(z.enum(LIST_KINDS))]).optional(),
});

export const selector = z.strictObject({
  name: z.string().min(1).max(256).optional(),
  os: z.string().min(1).max(128).optional(),
  arch: z.string().min(1).max(128).optional(),
  method: z.string().min(1).max(128).optional(),
});

export const snapshotBody = z.strictObject({
  images: z.array(imageName).min(1).max(10_000).optional(),
  selector: selector.optional(),
  all: z.literal(true).optional(),
  label: z.string().max(256).optional(),
});

export const jobsQuery = z.strictObject({
  type: z.enum(JOB_TYPES).optional(),
  state: z.enum(JOB_STATES).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});

export const imagesQuery = selector;

export const snapshotsQuery = z.strictObject({ image: imageName.optional() });

/** BullMQ job ids (no `:`, see @imgport/jobs): anything else cannot name a job. */
export const jobId = z.string().regex(/^[A-Za-z0-9._-]{1,200}$/, 'not a job id');
