/**
 * The API description (OpenAPI 3.1), served at /openapi.json: the paths written as data, the
 * request schemas generated from the contract (openapi-schemas.ts). A test walks the express
 * router and this document both ways, so neither can gain a route the other lacks.
 */
import { catalogPaths } from './openapi-catalog.js';
import { importParameters, jobsParameters, schemas } from './openapi-schemas.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ 'application/json': { schema } });
const err = (description: string) => ({ description, content: json(ref('Error')) });
const ok = (description: string, schema: object) => ({ description, content: json(schema) });
const accepted = { description: 'Accepted: the job was enqueued (or, resubmitted, already exists)', headers: { Location: { schema: { type: 'string' } } }, content: json(ref('Accepted')) };
const common = { '400': err('Bad request: the message names the field'), '401': err('Missing or wrong bearer token'), '503': err('Redis or the database is down') };
const pathId = (description: string) => ({ name: 'id', in: 'path', required: true, description, schema: { type: 'string' } });
const jobId = pathId('Job id');
const snapshotId = pathId('Snapshot id, <image>@<UTC stamp>');
const query = (name: string, schema: object, description?: string) => ({ name, in: 'query', required: false, schema, ...(description ? { description } : {}) });
const bundleBody = { schema: { type: 'string', contentMediaType: 'application/octet-stream' } };

const imports = {
  post: {
    summary: 'Import a bundle: upload its bytes (options in the query) or name it in JSON',
    parameters: Object.entries(importParameters).map(([k, { description, ...schema }]) => query(k, schema, description)),
    requestBody: {
      required: true,
      content: { 'application/octet-stream': bundleBody, 'application/gzip': bundleBody, 'application/x-tar': bundleBody, 'application/json': { schema: ref('ImportJson') } },
    },
    responses: { '202': accepted, ...common, '413': err('The bundle is over IMGPORT_MAX_BUNDLE_BYTES') },
  },
};

const paths = {
  '/healthz': { get: { summary: 'Liveness', security: [], responses: { '200': ok('The process answers', { type: 'object', properties: { status: { const: 'ok' } } }) } } },
  '/readyz': {
    get: {
      summary: 'Readiness: Redis, the database and spool space',
      security: [],
      responses: { '200': ok('Ready', ref('Readiness')), '503': ok('Not ready: the failing checks say why', ref('Readiness')) },
    },
  },
  '/metrics': { get: { summary: 'Prometheus metrics', responses: { '200': { description: 'Text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } }, '401': common['401'] } } },
  '/openapi.json': { get: { summary: 'This document', responses: { '200': ok('OpenAPI 3.1', { type: 'object' }), '401': common['401'] } } },
  '/v1/imports': imports,
  ...catalogPaths,
  '/v1/exports': {
    post: {
      summary: 'Export an osimage as a bundle',
      requestBody: { required: true, content: json(ref('ExportRequest')) },
      responses: { '202': accepted, ...common, '404': err('No such image') },
    },
  },
  '/v1/snapshots': {
    get: {
      summary: 'Snapshots, newest first',
      parameters: [query('image', { type: 'string' }, 'Only this image')],
      responses: { '200': ok('Snapshots', { type: 'object', properties: { snapshots: { type: 'array', items: ref('Snapshot') } } }), ...common },
    },
    post: {
      summary: 'Snapshot images: one parent job, one child per image',
      requestBody: { required: true, content: json(ref('SnapshotRequest')) },
      responses: { '202': accepted, ...common, '404': err('A named image does not exist, or nothing matches') },
    },
  },
  '/v1/snapshots/{id}': {
    delete: {
      summary: 'Delete a snapshot',
      parameters: [snapshotId],
      responses: { '200': ok('Deleted', { type: 'object', properties: { deleted: ref('Snapshot') } }), ...common, '404': err('No such snapshot') },
    },
  },
  '/v1/snapshots/{a}/diff/{b}': {
    get: {
      summary: 'What changed between two store snapshots, or from one to the live image (b = live): files and rows',
      parameters: [
        { name: 'a', in: 'path', required: true, schema: { type: 'string' }, description: 'A store snapshot id, <image>@<stamp>' },
        { name: 'b', in: 'path', required: true, schema: { type: 'string' }, description: 'Another snapshot id, or live' },
        query('path', { type: 'string' }, 'Only paths under this (relative to the rootimgdir, or absolute); repeatable'),
        query('stat', { type: 'boolean' }, 'Counts only'),
        query('limit', { type: 'integer', minimum: 0, default: 10000 }, 'List at most this many changes'),
      ],
      responses: { '200': ok('Diff', { type: 'object', properties: { from: { type: 'string' }, to: { type: 'string' }, stats: { type: 'object' }, changes: { type: 'array' }, truncated: { type: 'boolean' }, rows: { type: 'object' } } }), ...common, '404': err('No such snapshot') },
    },
  },
  '/v1/snapshots/{id}/revert': {
    post: { summary: 'Revert the image to a snapshot: an import of it with force', parameters: [snapshotId], responses: { '202': accepted, ...common, '404': err('No such snapshot') } },
  },
  '/v1/jobs': {
    get: {
      summary: 'Jobs, newest first, paginated',
      parameters: Object.entries(jobsParameters).map(([k, schema]) => query(k, schema)),
      responses: { '200': ok('A page of jobs', ref('JobList')), ...common },
    },
  },
  '/v1/jobs/{id}': {
    get: { summary: 'Job status', parameters: [jobId], responses: { '200': ok('The job', ref('JobStatus')), ...common, '404': err('No such job') } },
    delete: {
      summary: 'Cancel a queued or running job (a running import rolls back)',
      parameters: [jobId],
      responses: { '200': ok('The job, cancelled or being cancelled', ref('JobStatus')), ...common, '404': err('No such job'), '409': err('The job has finished') },
    },
  },
  '/v1/jobs/{id}/events': {
    get: {
      summary: 'Server-sent events: `progress` on every change, then `state` when finished',
      parameters: [jobId],
      responses: { '200': { description: 'An event stream; data is a JobStatus', content: { 'text/event-stream': { schema: { type: 'string' } } } }, ...common, '404': err('No such job') },
    },
  },
  '/v1/jobs/{id}/bundle': {
    get: {
      summary: "Download an export job's bundle",
      parameters: [jobId],
      responses: {
        '200': { description: 'The bundle (attachment <image>.tgz)', content: { 'application/gzip': bundleBody } },
        ...common,
        '404': err('No such job, not an export, or the file is gone'),
        '409': err('The export has not succeeded'),
      },
    },
  },
  '/v1/images': {
    get: {
      summary: 'osimage definitions (both rows) and readiness for nodeset',
      parameters: ['name', 'os', 'arch', 'method'].map((k) => query(k, { type: 'string' }, k === 'name' ? 'Glob: * and ?' : undefined)),
      responses: { '200': ok('Images', { type: 'object', properties: { images: { type: 'array', items: ref('Image') } } }), ...common },
    },
  },
  '/v1/images/{name}': {
    get: {
      summary: 'One osimage: both rows, litefile rows and readiness',
      parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
      responses: { '200': ok('The image', ref('Image')), ...common, '404': err('No such image') },
    },
  },
};

export const openapi = {
  openapi: '3.1.0',
  info: {
    title: 'imgport',
    version: '0.1.0',
    description:
      'Import, export and snapshot xCAT osimages as portable bundles. Every route but /healthz and /readyz needs `Authorization: Bearer <token>`. A read-only queue dashboard is served at /admin/queues when the API runs with a queue.',
  },
  servers: [{ url: '/' }],
  security: [{ bearer: [] }],
  paths,
  components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } }, schemas },
} as const;
