/**
 * Job types, states and payloads (SPEC §8.2): the API validates a payload with these before it
 * enqueues, the worker again before it runs (a payload in Redis is only as trustworthy as Redis).
 */
import { z } from 'zod';
import { MAX_EXTRAS, MAX_LABEL_LENGTH, MAX_PATH_LENGTH, MAX_SNAPSHOT_IMAGES } from './limits.js';
import { LIST_KINDS } from './lists.js';
import { imageName } from './names.js';

export const JOB_TYPES = ['import', 'export', 'snapshot', 'snapshot-image', 'publish'] as const;
export type JobType = (typeof JOB_TYPES)[number];

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];

/** A job in one of these states has ended: it changes no more unless it is submitted again. */
export const FINISHED_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];
export const isFinished = (s: JobState): boolean => FINISHED_STATES.includes(s);

export const absolutePath = z
  .string()
  .min(1)
  .max(MAX_PATH_LENGTH)
  .refine((p) => p.startsWith('/') && !p.includes('\0'), 'must be an absolute path');
export const label = z.string().min(1).max(MAX_LABEL_LENGTH);
export const exportFormat = z.enum(['native', 'xcat']);
export const listInclude = z.union([z.literal('all'), z.array(z.enum(LIST_KINDS))]);
export const extras = z.array(z.string().min(1).max(MAX_PATH_LENGTH)).max(MAX_EXTRAS);

/** Where an import's bundle comes from: the API's spool, shared storage, or a URL the worker fetches (http(s), oci://, a catalog entry …/index.json#name). */
export const importSource = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('spool'), path: absolutePath, sha256: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int().nonnegative() }),
  z.strictObject({ kind: z.literal('path'), path: absolutePath }),
  z.strictObject({ kind: z.literal('url'), url: z.string().regex(/^(https?|oci):\/\/\S+$/i, 'must be an http(s) or oci:// URL') }),
]);

/** Options of an import, wherever they are given (query string, JSON body, job payload, CLI). */
export const importOptions = {
  name: imageName.optional().describe('Import under this osimage name'),
  profile: imageName.optional().describe('Re-profile (xCAT -f): the name becomes <os>-<arch>-<method>-<profile>'),
  force: z.boolean().optional().describe('Replace an existing image (a snapshot of it is taken first)'),
  dryRun: z.boolean().optional().describe('Validate and report the plan; write nothing'),
  fromRoot: absolutePath.optional().describe("The exporting node's install directory (default /install)"),
};

export const importPayload = z.strictObject({ source: importSource, ...importOptions });

export const exportPayload = z.strictObject({
  image: imageName,
  extras: extras.optional(),
  format: exportFormat.optional(),
  include: listInclude.optional(),
});

export const snapshotPayload = z.strictObject({ images: z.array(imageName).min(1).max(MAX_SNAPSHOT_IMAGES), label: label.optional() });
export const snapshotImagePayload = z.strictObject({ image: imageName, label: label.optional() });

/** Publish an image (or one of its snapshots) to an OCI registry or a catalog directory (issue 13). */
export const publishPayload = z.strictObject({
  image: imageName,
  /** A snapshot id `<image>@<stamp>` of that image instead of the live image. */
  snapshot: z.string().regex(/^[A-Za-z0-9._+-]{1,128}@[0-9TZ]{16}$/, 'must be a snapshot id <image>@<stamp>').optional(),
  /** `oci://host/repo:tag`, or an absolute directory holding a catalog. */
  destination: z.string().min(1).max(MAX_PATH_LENGTH).regex(/^(oci:\/\/\S+|file:\/\/\/\S*|\/\S*)$/, 'must be oci://host/repo:tag or an absolute directory'),
});

export type ImportSource = z.infer<typeof importSource>;
export type ImportPayload = z.infer<typeof importPayload>;
export type ExportPayload = z.infer<typeof exportPayload>;
/** The parent of a bulk snapshot: its children are one `snapshot-image` job per image. */
export type SnapshotPayload = z.infer<typeof snapshotPayload>;
export type SnapshotImagePayload = z.infer<typeof snapshotImagePayload>;
export type PublishPayload = z.infer<typeof publishPayload>;

export interface PayloadOf {
  import: ImportPayload;
  export: ExportPayload;
  snapshot: SnapshotPayload;
  'snapshot-image': SnapshotImagePayload;
  publish: PublishPayload;
}

export const PAYLOAD_SCHEMAS: { [T in JobType]: z.ZodType<PayloadOf[T]> } = {
  import: importPayload,
  export: exportPayload,
  snapshot: snapshotPayload,
  'snapshot-image': snapshotImagePayload,
  publish: publishPayload,
};
