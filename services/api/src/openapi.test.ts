import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import express from 'express';
import {
  acceptedSchema,
  errorDocument,
  exportBody,
  imageListSchema,
  imageSchema,
  importJson,
  importQuery,
  isValidImageName,
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
import { silentLogger } from '@imgport/runtime';
import { createApp, listRoutes } from './app.js';
import { NO_ROUTE } from './errors.js';
import { openapi } from './openapi.js';
import { publishBody } from './routes/publish.js';
import { addInstallImage, addNetbootImage, startApi, type Harness } from '../test/support/harness.js';

const toExpress = (p: string) => p.replace(/\{([^}]+)\}/g, ':$1');
const documented = () =>
  Object.entries(openapi.paths)
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${toExpress(path)}`))
    .sort();

describe('/openapi.json against the app', () => {
  let h: Harness;
  let registered: string[];
  before(async () => {
    h = await startApi();
    const app = createApp({ config: h.config, log: silentLogger, queue: h.queue, tables: h.tables, snapshots: h.snapshots });
    registered = listRoutes(app)
      .filter((r) => r.method !== 'HEAD')
      .map((r) => `${r.method} ${r.path}`)
      .sort();
  });
  after(() => h.close());

  test('is served as OpenAPI 3.1 with a bearer scheme', async () => {
    const res = await h.call('/openapi.json');
    assert.equal(res.status, 200);
    const doc = (await res.json()) as typeof openapi;
    assert.equal(doc.openapi, '3.1.0');
    assert.deepEqual(doc.components.securitySchemes, { bearer: { type: 'http', scheme: 'bearer' } });
    assert.deepEqual(JSON.parse(JSON.stringify(openapi)), doc);
  });

  test('every route the app registers is in the document, and nothing else', () => {
    assert.deepEqual(registered, documented());
  });

  test('every documented path and method reaches a route (never the unknown-route 404)', async () => {
    for (const [path, ops] of Object.entries(openapi.paths)) {
      for (const method of Object.keys(ops)) {
        const res = await h.call(path.replace(/\{[^}]+\}/g, 'x1'), { method: method.toUpperCase() });
        const text = await res.text();
        assert.ok(!(res.status === 404 && text.includes(NO_ROUTE)), `${method} ${path}: ${res.status} ${text}`);
      }
    }
  });

  test('every $ref resolves', () => {
    const refs = JSON.stringify(openapi).match(/#\/components\/schemas\/\w+/g) ?? [];
    for (const r of new Set(refs)) assert.ok(r.split('/').pop()! in openapi.components.schemas, r);
  });

  test('the served request schemas are the contract\'s, generated', async () => {
    const doc = (await (await h.call('/openapi.json')).json()) as typeof openapi;
    const generated = { Error: errorDocument, ImportJson: importJson, ExportRequest: exportBody, SnapshotRequest: snapshotBody, PublishRequest: publishBody };
    for (const [name, schema] of Object.entries(generated)) assert.deepEqual(doc.components.schemas[name as keyof typeof generated], jsonSchemaOf(schema), name);
    const params = (path: '/v1/imports' | '/v1/jobs', method: 'post' | 'get') =>
      ((doc.paths[path] as Record<string, { parameters: Array<{ name: string }> }>)[method]!.parameters).map((p) => p.name);
    assert.deepEqual(params('/v1/imports', 'post'), Object.keys(importQuery.shape));
    assert.deepEqual(params('/v1/jobs', 'get'), Object.keys(jobsQuery.shape));
  });

  test("the served response schemas are the contract's, generated", async () => {
    const doc = (await (await h.call('/openapi.json')).json()) as { components: { schemas: Record<string, unknown> } };
    const generated = {
      Accepted: acceptedSchema,
      JobProgress: jobProgressSchema,
      JobStatus: jobStatusSchema,
      JobList: jobListSchema,
      Snapshot: snapshotSchema,
      SnapshotList: snapshotListSchema,
      SnapshotDeleted: snapshotDeletedSchema,
      Image: imageSchema,
      ImageList: imageListSchema,
    };
    for (const [name, schema] of Object.entries(generated)) assert.deepEqual(doc.components.schemas[name], jsonSchemaOf(schema), name);
  });

  test('real answers of the API parse with the contract schemas the document is made of', async () => {
    const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await addInstallImage(h, 'doc-inst');
    await addNetbootImage(h, 'doc-nb', 'netboot', ['kernel']);
    const body = async (res: Response, status: number) => {
      assert.equal(res.status, status, `${res.url}: ${res.status}`);
      return res.json() as Promise<unknown>;
    };
    /** Parses the answer and checks nothing was stripped: a field the schema lacks is a drift too. */
    const exact = <T>(schema: { parse(v: unknown): T }) => ({
      parse(raw: unknown): T {
        const parsed = schema.parse(raw);
        assert.deepEqual(parsed, raw);
        return parsed;
      },
    });

    const images = exact(imageListSchema).parse(await body(await h.call('/v1/images'), 200));
    assert.deepEqual(images.images.map((i) => i.name).sort(), ['doc-inst', 'doc-nb']);
    exact(imageSchema).parse(await body(await h.call('/v1/images/doc-nb'), 200));

    const acc = exact(acceptedSchema).parse(await body(await h.call('/v1/exports', json({ image: 'doc-inst' })), 202));
    const status = exact(jobStatusSchema).parse(await body(await h.call(acc.status), 200));
    assert.equal(status.id, acc.id);
    h.fake.put({ id: 'doc-snap', type: 'snapshot', image: 'doc-inst', state: 'succeeded', children: [{ id: 'doc-snap-1', image: 'doc-inst', state: 'succeeded' }], result: { snapshots: [] } });
    const list = exact(jobListSchema).parse(await body(await h.call('/v1/jobs?limit=1'), 200));
    assert.equal(list.jobs.length, 1);
    assert.equal(typeof list.next, 'string');

    await h.snapshots.create('doc-inst', { label: 'doc' });
    const { snapshots } = exact(snapshotListSchema).parse(await body(await h.call('/v1/snapshots'), 200));
    assert.equal(snapshots.length, 1);
    exact(snapshotDeletedSchema).parse(await body(await h.call(`/v1/snapshots/${encodeURIComponent(snapshots[0]!.id)}`, { method: 'DELETE' }), 200));
  });

  test('a drift between an answer and its schema fails the parse', () => {
    const status = { id: 'j', type: 'export', state: 'queued', progress: { phase: 'plan', percent: 0, bytesDone: 0, bytesTotal: 0 }, attempts: 0, createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z' };
    assert.equal(jobStatusSchema.safeParse(status).success, true);
    assert.equal(jobStatusSchema.safeParse({ ...status, state: 'done' }).success, false);
    assert.equal(jobStatusSchema.safeParse({ ...status, progress: undefined }).success, false);
  });

  test('the documented image name pattern is the rule, "." and ".." included', () => {
    const { allOf } = (openapi.components.schemas.ExportRequest.properties as { image: { allOf: Array<{ pattern: string }> } }).image;
    const valid = (n: string) => allOf.every((p) => new RegExp(p.pattern).test(n));
    const names = ['rhels8-x86_64-netboot-compute', 'a.b+c', '.', '..', 'a/b', 'x'.repeat(129)];
    assert.deepEqual(names.map(valid), [true, true, false, false, false, false]);
    assert.deepEqual(names.map(isValidImageName), [true, true, false, false, false, false]);
  });

  test('listRoutes sees what an express app registers', () => {
    const app = express();
    app.get('/a/:id', (_q, s) => void s.end());
    app.post('/a', (_q, s) => void s.end());
    assert.deepEqual(listRoutes(app), [
      { method: 'GET', path: '/a/:id' },
      { method: 'POST', path: '/a' },
    ]);
  });
});
