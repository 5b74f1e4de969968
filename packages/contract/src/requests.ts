/**
 * HTTP request shapes (SPEC §8.1). Objects are strict so a misspelt option is an error rather
 * than ignored; the job payloads they become are checked again by PAYLOAD_SCHEMAS.
 */
import { z } from 'zod';
import { MAX_EXTRAS, MAX_PATH_LENGTH, MAX_SNAPSHOT_IMAGES } from './limits.js';
import { exportFormat, importOptions, JOB_STATES, JOB_TYPES, label, listInclude } from './jobs.js';
import { imageName } from './names.js';

/** Query flags: `?force`, `?force=1|true|yes` are on; `0|false|no` off. */
export const FLAG_VALUES = ['', '1', 'true', 'yes', '0', 'false', 'no'] as const;
const flag = z.enum(FLAG_VALUES).transform((s) => !['0', 'false', 'no'].includes(s));

export const importQuery = z.strictObject({
  ...importOptions,
  force: flag.optional().describe(importOptions.force.description!),
  dryRun: flag.optional().describe(importOptions.dryRun.description!),
});

export const importJson = z.strictObject({
  source: z.string().min(1).max(MAX_PATH_LENGTH).describe('An absolute path inside IMGPORT_SOURCE_DIRS, or an http(s):// URL the worker fetches'),
  ...importOptions,
});

export const exportBody = z.strictObject({
  image: imageName,
  extras: z
    .array(z.string().min(1).max(MAX_PATH_LENGTH).describe('SRC[:DESTDIR] (xCAT -e), inside the install root'))
    .max(MAX_EXTRAS)
    .optional(),
  format: exportFormat.optional(),
  include: listInclude.optional(),
});

export const selector = z.strictObject({
  name: z.string().min(1).max(256).optional().describe('Glob: * and ?'),
  os: z.string().min(1).max(128).optional(),
  arch: z.string().min(1).max(128).optional(),
  method: z.string().min(1).max(128).optional(),
});

export const snapshotBody = z
  .strictObject({
    images: z.array(imageName).min(1).max(MAX_SNAPSHOT_IMAGES).optional(),
    selector: selector.optional(),
    all: z.literal(true).optional(),
    label: label.optional(),
  })
  .describe('Exactly one of images, selector or all');

export const jobsQuery = z.strictObject({
  type: z.enum(JOB_TYPES).optional(),
  state: z.enum(JOB_STATES).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});

export const imagesQuery = selector;

export const snapshotsQuery = z.strictObject({ image: imageName.optional() });

