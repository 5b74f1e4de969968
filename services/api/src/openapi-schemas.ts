/**
 * Component schemas of the OpenAPI document (JSON Schema 2020-12, as OpenAPI 3.1 uses). What a
 * client sends (requests, query strings) and the error document are generated from the
 * contract's zod schemas, so the document cannot drift from what the routes accept; the
 * responses are written here.
 */
import { errorDocument, exportBody, importJson, importQuery, JOB_STATES, JOB_TYPES, jobsQuery, jsonSchemaOf, snapshotBody } from '@imgport/contract';

const str = { type: 'string' } as const;
const bool = { type: 'boolean' } as const;
const int = { type: 'integer', minimum: 0 } as const;
const row = { type: 'object', additionalProperties: { type: ['string', 'null'] }, description: 'A table row: column → text or null' } as const;
const states = [...JOB_STATES];
const types = [...JOB_TYPES];
const propertiesOf = (schema: Parameters<typeof jsonSchemaOf>[0]) => jsonSchemaOf(schema).properties as Record<string, { description?: string }>;
/** The query parameters of POST /v1/imports and GET /v1/jobs. */
export const importParameters = propertiesOf(importQuery);
export const jobsParameters = propertiesOf(jobsQuery);

export const schemas = {
  Error: jsonSchemaOf(errorDocument),
  Accepted: {
    type: 'object',
    required: ['id', 'status'],
    properties: { id: str, status: { ...str, description: 'URL of the job status: /v1/jobs/<id>' } },
  },
  JobProgress: {
    type: 'object',
    properties: {
      phase: { enum: ['receive', 'stage', 'verify', 'plan', 'snapshot', 'commit', 'collect', 'pack', 'write', 'done'] },
      percent: { type: 'number', minimum: 0, maximum: 100 },
      bytesDone: int,
      bytesTotal: int,
    },
  },
  JobStatus: {
    type: 'object',
    required: ['id', 'type', 'state', 'progress', 'attempts', 'createdAt', 'updatedAt'],
    properties: {
      id: str,
      type: { enum: types },
      state: { enum: states },
      image: str,
      progress: { $ref: '#/components/schemas/JobProgress' },
      attempts: int,
      result: { description: 'The import, export or snapshot result once succeeded' },
      error: { type: 'object', properties: { code: str, message: str } },
      children: {
        type: 'array',
        description: 'Bulk snapshot: one snapshot-image job per image',
        items: { type: 'object', properties: { id: str, image: str, state: { enum: states } } },
      },
      parentId: str,
      createdAt: { ...str, format: 'date-time' },
      updatedAt: { ...str, format: 'date-time' },
    },
  },
  JobList: {
    type: 'object',
    required: ['jobs', 'total', 'limit', 'offset', 'next'],
    properties: {
      jobs: { type: 'array', items: { $ref: '#/components/schemas/JobStatus' } },
      total: int,
      limit: int,
      offset: int,
      next: { type: ['string', 'null'], description: 'URL of the next page, null on the last' },
    },
  },
  ImportJson: jsonSchemaOf(importJson),
  ExportRequest: jsonSchemaOf(exportBody),
  SnapshotRequest: jsonSchemaOf(snapshotBody),
  Snapshot: {
    type: 'object',
    required: ['id', 'image', 'timestamp', 'path', 'bytes', 'sha256', 'createdAt'],
    properties: { id: { ...str, description: '<image>@<UTC stamp>' }, image: str, timestamp: str, label: str, path: str, bytes: int, sha256: str, createdAt: str },
  },
  Image: {
    type: 'object',
    required: ['name', 'osimage', 'linuximage', 'ready', 'missing'],
    properties: {
      name: str,
      osimage: row,
      linuximage: { oneOf: [row, { type: 'null' }] },
      litefile: { type: 'array', items: row, description: 'Only in GET /v1/images/{name}' },
      ready: { ...bool, description: 'The files nodeset needs are there' },
      missing: { type: 'array', items: str, description: 'What is not there' },
    },
  },
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

