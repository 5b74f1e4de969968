import assert from 'node:assert/strict';
import { createServer, type RequestListener } from 'node:http';
import { after, test } from 'node:test';
import { silentLogger } from '@imgport/runtime';
import { ApiClient, RemoteError, type JobDoc } from './remote-client.js';
import { parseServer } from './remote-context.js';
import { followJob, settle } from './remote-follow.js';
import { readEvents } from './remote-sse.js';

const servers: Array<{ close(): void }> = [];
after(() => servers.forEach((s) => s.close()));

/** A loopback server answering with `handler`; resolves with a client pointed at it. */
async function serve(handler: RequestListener): Promise<ApiClient> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return new ApiClient(parseServer(`http://127.0.0.1:${(server.address() as { port: number }).port}`), 'tok', silentLogger);
}

async function rejection(p: Promise<unknown>): Promise<RemoteError> {
  const err = await p.then(
    () => assert.fail('expected a rejection'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof RemoteError, String(err));
  return err;
}

const status = (state: JobDoc['state'], extra: Partial<JobDoc> = {}): JobDoc => ({
  id: 'imp-1',
  type: 'import',
  state,
  progress: { phase: 'stage', percent: 50, bytesDone: 5, bytesTotal: 10 },
  attempts: 1,
  createdAt: 't0',
  updatedAt: 't1',
  ...extra,
});

test('server-sent events: split chunks, CRLF, comments and multi-line data', async () => {
  async function* chunks() {
    for (const s of [': heartbeat\n\nevent: prog', 'ress\r\ndata: {"a"\ndata: :1}\r\n\r\n', 'data: plain\n\nevent: x\n\n']) {
      yield new TextEncoder().encode(s);
    }
  }
  const events = [];
  for await (const ev of readEvents(chunks())) events.push(ev);
  assert.deepEqual(events, [
    { event: 'progress', data: '{"a"\n:1}' },
    { event: 'message', data: 'plain' },
  ]);
});

test('API errors: 401 names IMGPORT_TOKEN, 400 exits 2, a server-side CONFIG_INVALID exits 1', async () => {
  const answers: Record<string, [number, string]> = {
    '/v1/a': [401, 'UNAUTHORIZED'],
    '/v1/b': [400, 'BAD_REQUEST'],
    '/v1/c': [500, 'CONFIG_INVALID'],
    '/v1/d': [409, 'SOMETHING_NEW'],
  };
  const client = await serve((req, res) => {
    const [code, name] = answers[req.url!]!;
    res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: name, message: `no (${req.headers.authorization})` } }));
  });
  const errors = await Promise.all(['a', 'b', 'c', 'd'].map((p) => rejection(client.json('GET', `/v1/${p}`))));
  assert.deepEqual(
    errors.map((e) => [e.code, e.exitCode, e.status]),
    [['UNAUTHORIZED', 1, 401], ['BAD_REQUEST', 2, 400], ['CONFIG_INVALID', 1, 500], ['CONFLICT', 1, 409]],
  );
  assert.equal(errors[0]!.message, `the server at ${client.server} refused the token (401 unauthorized: no (Bearer tok)); check IMGPORT_TOKEN`);
});

test('an answer that is not the API, and a refused connection', async () => {
  const client = await serve((_req, res) => res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>Bad Gateway</h1>'));
  const e = await rejection(client.json('GET', '/v1/jobs'));
  assert.equal(e.message, `GET /v1/jobs: the server at ${client.server} answered 502 Bad Gateway (is it an imgport API?)`);
  const closed = await serve(() => undefined);
  servers.pop()!.close();
  await new Promise((r) => setTimeout(r, 50));
  const refused = await rejection(closed.json('GET', '/v1/jobs'));
  assert.equal(refused.code, 'IO_ERROR');
  assert.match(refused.message, /^cannot talk to the imgport server at http:\/\/127\.0\.0\.1:\d+: connection refused/);
});

test('a broken event stream falls back to polling the job', async () => {
  let polls = 0;
  const client = await serve((req, res) => {
    if (req.url === '/v1/jobs/imp-1/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`event: progress\ndata: ${JSON.stringify(status('running'))}\n\n`);
      setTimeout(() => res.destroy(), 20);
      return;
    }
    polls++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(status(polls < 2 ? 'running' : 'succeeded', { result: { ok: 1 } })));
  });
  const seen: string[] = [];
  const end = await followJob(client, 'imp-1', { signal: new AbortController().signal, log: silentLogger, onStatus: (s) => seen.push(s.state) });
  assert.deepEqual(seen, ['running', 'running', 'succeeded']);
  assert.deepEqual(settle(end), { ok: 1 });
});

test('a failed or cancelled job ends the command with exit 1 and its code', () => {
  const cases: Array<[JobDoc, string, string]> = [
    [status('failed', { error: { code: 'BUNDLE_INVALID', message: 'gzip: unexpected end' } }), 'BUNDLE_INVALID', 'job imp-1 failed: gzip: unexpected end'],
    [status('failed', { error: { code: 'BAD_REQUEST', message: 'bad payload' } }), 'BAD_REQUEST', 'job imp-1 failed: bad payload'],
    [status('failed', { error: { code: 'NEW_CODE', message: 'what' } }), 'INTERNAL', 'job imp-1 failed: NEW_CODE: what'],
    [status('cancelled'), 'CANCELLED', 'job imp-1 was cancelled'],
  ];
  for (const [st, code, message] of cases) {
    assert.throws(
      () => settle(st),
      (e: RemoteError) => e.code === code && e.message === message && e.exitCode === 1,
    );
  }
});

test('server URLs: a path is kept, credentials and other schemes are refused', () => {
  assert.equal(parseServer('https://mgmt.example/imgport?x=1').href, 'https://mgmt.example/imgport/');
  assert.throws(() => parseServer('http://u:secret@mgmt'), (e: Error) => !e.message.includes('secret') && /IMGPORT_TOKEN/.test(e.message));
  assert.throws(() => parseServer('ftp://mgmt'), /http:\/\/ or https:\/\//);
  assert.throws(() => parseServer('mgmt:8080'), /must be an http/);
});
