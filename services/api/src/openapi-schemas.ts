/**
 * Component schemas of the OpenAPI document (JSON Schema 2020-12, as OpenAPI 3.1 uses). What a
 * client sends (requests, query strings) and the error document are generated from the
 * contract's zod schemas, so the document cannot drift from what the routes accept, and so
 * are the responses (the API tests parse real answers with the same schemas). Readiness is
 * written here: it is the API's own answer, nothing else shares it.
 */
import {
  acceptedSchema,
  errorDocument,
  exportBody,
  imageListSchema,
  imageSchema,
  importJson,
  importQuery,
  jobListSchema,
  jobProgressSchema,
  jobsQuery,
  jobStatusSchema,
  jsonSchemaOf,
  snapshotBody,
  snapshotDeletedSchema,
  snapshotListSchema,
  snapshotSchema,
} from '@imgport/contract';
import type { SnapshotInfo } from '@imgport/engine';
import { publishBody } from './routes/publish.js';
import type { Same, SnapshotSummary } from '@imgport/contract';

const str = { type: 'string' } as const;
const bool = { type: 'boolean' } as const;
const int = { type: 'integer', minimum: 0 } as const;
const propertiesOf = (schema: Parameters<typeof jsonSchemaOf>[0]) => jsonSchemaOf(schema).properties as Record<string, { description?: string }>;
/** The query parameters of POST /v1/imports and GET /v1/jobs. */
export const importParameters = propertiesOf(importQuery);
export const jobsParameters = propertiesOf(jobsQuery);

/** The engine declares its snapshot by hand (it does not depend on the contract): they must agree. */
const _snapshotAgrees: Same<SnapshotInfo, SnapshotSummary> = true;
void _snapshotAgrees;

export const schemas = {
  Error: jsonSchemaOf(errorDocument),
  Accepted: jsonSchemaOf(acceptedSchema),
  JobProgress: jsonSchemaOf(jobProgressSchema),
  JobStatus: jsonSchemaOf(jobStatusSchema),
  JobList: jsonSchemaOf(jobListSchema),
  ImportJson: jsonSchemaOf(importJson),
  ExportRequest: jsonSchemaOf(exportBody),
  SnapshotRequest: jsonSchemaOf(snapshotBody),
  PublishRequest: jsonSchemaOf(publishBody),
  Snapshot: jsonSchemaOf(snapshotSchema),
  SnapshotList: jsonSchemaOf(snapshotListSchema),
  SnapshotDeleted: jsonSchemaOf(snapshotDeletedSchema),
  Image: jsonSchemaOf(imageSchema),
  ImageList: jsonSchemaOf(imageListSchema),
  Readiness: {
    type: 'object',
    required: ['status', 'checks'],
    properties: {
      status: { enum: ['ready', 'unready', 'shutting down'] },
      checks: {
        type: 'object',
        properties: Object.fromEntries(
          ['redis', 'db', 'spool'].map((k) => [k, { type: 'object', required: ['ok'], properties: { ok: bool, message: str, freeBytes: int } }]),
        ),
      },
    },
  },
} as const;

