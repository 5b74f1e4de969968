import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import express from 'express';
import { silentLogger } from '@imgport/runtime';
import { createApp, listRoutes } from './app.js';
import { NO_ROUTE } from './errors.js';
import { openapi } from './openapi.js';
import { startApi, type Harness } from '../test/support/harness.js';

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
