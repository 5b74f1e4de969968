/**
 * What the API answers (SPEC §8): job statuses and lists, images, snapshots, the accepted
 * document. The OpenAPI document's response components are generated from these (jsonSchemaOf),
 * the packages derive their types from them, and the API tests parse real answers with them.
 */
import { z } from 'zod';
import { JOB_STATES, JOB_TYPES } from './jobs.js';

const count = z.number().int().nonnegative();
const jobState = z.enum(JOB_STATES);

export const JOB_PHASES = ['receive', 'stage', 'verify', 'plan', 'snapshot', 'commit', 'collect', 'pack', 'write', 'done'] as const;

/** Progress as the worker and the CLI show it (SPEC §8.2 job progress). */
export const jobProgressSchema = z.object({
  phase: z.enum(JOB_PHASES),
  percent: z.number().min(0).max(100),
  bytesDone: count,
  bytesTotal: count,
});

/** What GET /v1/jobs/<id> returns, and what the durable record holds. */
export const jobStatusSchema = z.object({
  id: z.string(),
  type: z.enum(JOB_TYPES),
  state: jobState,
  /** The image the job touches, when there is one (locks and listings). */
  image: z.string().optional(),
  progress: jobProgressSchema,
  attempts: count,
  result: z.unknown().optional().describe('The import, export or snapshot result once succeeded'),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  /** Bulk snapshot: the children's ids and states. */
  children: z
    .array(z.object({ id: z.string(), image: z.string().optional(), state: jobState }))
    .optional()
    .describe('Bulk snapshot: one snapshot-image job per image'),
  parentId: z.string().optional(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});

export const jobListSchema = z.object({
  jobs: z.array(jobStatusSchema),
  total: count,
  limit: count,
  offset: count,
  next: z.string().nullable().describe('URL of the next page, null on the last'),
});

/** 202: the job was enqueued (or, resubmitted, already exists). */
export const acceptedSchema = z.object({ id: z.string(), status: z.string().describe('URL of the job status: /v1/jobs/<id>') });

const signer = z.object({ fingerprint: z.string(), key: z.string() });

export const snapshotSchema = z.object({
  id: z.string().describe('<image>@<UTC stamp>'),
  image: z.string(),
  /** UTC, e.g. 20261126T061502Z. */
  timestamp: z.string(),
  label: z.string().optional(),
  path: z.string(),
  bytes: count,
  sha256: z.string(),
  createdAt: z.string(),
  /** The key the snapshot bundle is signed with (IMGPORT_SIGNING_KEY), when one is configured. */
  signer: signer.optional(),
});
export const snapshotListSchema = z.object({ snapshots: z.array(snapshotSchema) });
export const snapshotDeletedSchema = z.object({ deleted: snapshotSchema });

const row = z.record(z.string(), z.string().nullable()).describe('A table row: column → text or null');

/** Where an imported image came from: the signature check its import recorded. */
export const provenanceSchema = z.looseObject({ image: z.string(), importedAt: z.string(), status: z.string(), policy: z.string(), signer: z.unknown() });

export const imageSchema = z.object({
  name: z.string(),
  osimage: row,
  linuximage: row.nullable(),
  litefile: z.array(row).optional().describe('Only in GET /v1/images/{name}'),
  signature: provenanceSchema.nullable().describe("The import's signature check, null when none was recorded"),
  ready: z.boolean().describe('The files nodeset needs are there'),
  missing: z.array(z.string()).describe('What is not there'),
});
export const imageListSchema = z.object({ images: z.array(imageSchema) });

export type JobPhase = (typeof JOB_PHASES)[number];
export type JobProgress = z.infer<typeof jobProgressSchema>;
export type JobStatus = z.infer<typeof jobStatusSchema>;
export type JobList = z.infer<typeof jobListSchema>;
export type Accepted = z.infer<typeof acceptedSchema>;
export type SnapshotSummary = z.infer<typeof snapshotSchema>;
export type ImageDocument = z.infer<typeof imageSchema>;

/** True when A and B are the same type; a compile-time check that a schema and an interface agree. */
export type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
