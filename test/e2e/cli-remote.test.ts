/**
 * The commands' remote mode (--server / IMGPORT_SERVER) against the real API and one worker as
 * processes, on the real Redis and MariaDB: the built bin scripts, as an administrator runs them.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { openTableStore, type TableStore } from '@imgport/tables';
import { makeNativeBundle } from '../support/bundles.js';
import { json, run, start } from './helpers.js';
import { freePort, job, settled, startCluster, TOKEN, waitFor, type Cluster } from './services-helpers.js';

const exec = promisify(execFile);
let c: Cluster & { logs: string[] };
let tables: TableStore;
let env: NodeJS.ProcessEnv;

/** Only what the commands read in remote mode: no install root or database of their own. */
function clientEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: c.dir, IMGPORT_SERVER: c.base, IMGPORT_TOKEN: TOKEN, ...extra };
}

/** The one origin the API may fetch from (IMGPORT_URL_ALLOW): serve()'s port. */
let urlPort: number;

async function serve(file: string): Promise<{ server: Server; url: string }> {
  const body = readFileSync(file);
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': body.length }).end(body));
  await new Promise<void>((r) => server.listen(urlPort, '127.0.0.1', () => r()));
  return { server, url: `http://127.0.0.1:${urlPort}/bundles/remote-url.tgz` };
}

describe('xcatimport / xcatexport / imgport --server', () => {
  before(async () => {
    urlPort = await freePort();
    c = await startCluster(1, { IMGPORT_URL_ALLOW: `http://127.0.0.1:${urlPort}/bundles/` });
    tables = await openTableStore(c.dbUrl, { create: true });
    env = clientEnv();
  });
  after(async () => {
    await tables?.close();
    await c?.stop();
  });

  test('upload import: exit 0, the job result as --json, rows in MariaDB, no token in the output', async () => {
    const bundle = await makeNativeBundle(c.dir, { name: 'remote-up', profile: 'up' });
    const r = await run('xcatimport', [bundle, '--json', '-v'], env);
    assert.equal(r.code, 0, r.stderr);
    const res = json(r);
    assert.deepEqual([res.name, res.method, res.dryRun], ['remote-up', 'netboot', false]);
    assert.ok(res.paths.includes(join(c.installRoot, 'netboot/rhels8.5.0/x86_64/up/rootimg')), res.paths.join('\n'));
    const rec = await tables.getImage('remote-up');
    assert.equal(rec.osimage?.profile, 'up');
    assert.equal(rec.linuximage?.rootimgdir, join(c.installRoot, 'netboot/rhels8.5.0/x86_64/up'));
    assert.doesNotMatch(r.stdout + r.stderr, new RegExp(TOKEN));
  });

  test('the human summary names the image and the job; --server on the command line works too', async () => {
    const bundle = await makeNativeBundle(c.dir, { name: 'remote-flag', profile: 'flag' });
    const r = await run('xcatimport', [bundle, '--server', c.base, '--name', 'remote-flag2'], clientEnv({ IMGPORT_SERVER: '' }));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Imported remote-flag2 \(netboot\)/);
    assert.match(r.stdout, new RegExp(`job imp-\\S+ on ${c.base}`));
    assert.ok((await tables.getImage('remote-flag2')).osimage);
  });

  test('an http URL is fetched by the server', async () => {
    const { server, url } = await serve(await makeNativeBundle(c.dir, { name: 'remote-url', profile: 'url' }));
    try {
      const r = await run('xcatimport', [url, '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(json(r).name, 'remote-url');
      assert.ok((await tables.getImage('remote-url')).linuximage);
    } finally {
      server.close();
    }
  });

  test('a corrupt bundle: exit 1 naming the code, nothing written', async () => {
    const buf = readFileSync(await makeNativeBundle(c.dir, { name: 'remote-bad', profile: 'bad' }));
    const broken = join(c.dir, 'remote-broken.tgz');
    writeFileSync(broken, buf.subarray(0, buf.length - 300));
    const r = await run('xcatimport', [broken], env);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^xcatimport: job imp-\S+ failed: .*\[BUNDLE_INVALID\]$/m);
    const doc = json(await run('xcatimport', [broken, '--json'], env));
    assert.equal(doc.error.code, 'BUNDLE_INVALID');
    assert.deepEqual(await tables.getImage('remote-bad'), { litefile: [] });
  });

  test('export and download into a directory: tar xzf and sha256sum -c verify it', async () => {
    const out = mkdtempSync(join(c.dir, 'dl-'));
    const r = await run('xcatexport', ['remote-up', out, '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const res = json(r);
    const file = join(out, 'remote-up.tgz');
    assert.deepEqual([res.image, res.path, res.bundle], ['remote-up', file, undefined]);
    assert.deepEqual(readdirSync(out), ['remote-up.tgz'], 'no temp file left beside it');
    const unpacked = join(out, 'x');
    mkdirSync(unpacked);
    await exec('tar', ['xzf', file, '-C', unpacked]);
    const { stdout } = await exec('sha256sum', ['-c', 'SHA256SUMS'], { cwd: unpacked });
    const lines = stdout.trim().split('\n');
    assert.ok(lines.length >= 4 && lines.every((l) => l.endsWith(': OK')), stdout);
    assert.ok(lines.includes('rootimg.cpio.gz: OK'), stdout);
  });

  test('export of an unknown image: exit 1 with the API error, no file', async () => {
    const out = mkdtempSync(join(c.dir, 'dl-'));
    const r = await run('xcatexport', ['no-such-image', join(out, 'x.tgz')], env);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /image no-such-image not found .*\[IMAGE_NOT_FOUND\]/);
    assert.deepEqual(readdirSync(out), []);
  });

  test('imgport jobs lists the jobs; imgport job shows one', async () => {
    const list = await run('imgport', ['jobs', '--type', 'import', '--state', 'succeeded', '--json'], env);
    assert.equal(list.code, 0, list.stderr);
    const jobs = json(list).jobs as Array<{ id: string; type: string; state: string; image?: string }>;
    assert.ok(jobs.length >= 3 && jobs.every((j) => j.type === 'import' && j.state === 'succeeded'), JSON.stringify(jobs));
    const id = jobs.find((j) => j.image === 'remote-up')!.id;
    const table = await run('imgport', ['jobs'], env);
    assert.match(table.stdout, /^ID\s+TYPE\s+STATE\s+IMAGE/);
    assert.match(table.stdout, new RegExp(`^${id}\\s+import\\s+succeeded\\s+remote-up`, 'm'));
    const one = await run('imgport', ['job', id], env);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, new RegExp(`^${id}  import  succeeded  remote-up\\n`));
    assert.match(one.stdout, /Imported remote-up \(netboot\)/);
    const missing = await run('imgport', ['job', 'imp-nosuchjob'], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /job imp-nosuchjob not found \[NOT_FOUND\]/);
  });

  test('a bad request (400) exits 2', async () => {
    const bundle = await makeNativeBundle(c.dir, { name: 'remote-400', profile: 'p400' });
    const r = await run('xcatimport', [bundle, '--from-root', 'relative/dir'], env);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /fromRoot: must be an absolute path \[BAD_REQUEST\]/);
  });

  test('a wrong token: exit 1 saying 401 unauthorized, and the token is not shown', async () => {
    const bundle = await makeNativeBundle(c.dir, { name: 'remote-401', profile: 'p401' });
    const r = await run('xcatimport', [bundle, '-v'], clientEnv({ IMGPORT_TOKEN: 'not-the-token-1234' }));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /refused the token \(401 unauthorized: invalid token\); check IMGPORT_TOKEN \[UNAUTHORIZED\]/);
    assert.doesNotMatch(r.stdout + r.stderr, /not-the-token-1234/);
    assert.deepEqual(await tables.getImage('remote-401'), { litefile: [] });
  });

  test('no token: exit 2 naming IMGPORT_TOKEN', async () => {
    const r = await run('xcatexport', ['remote-up', '--json'], clientEnv({ IMGPORT_TOKEN: undefined }));
    assert.equal(r.code, 2, r.stderr);
    assert.equal(json(r).error.code, 'BAD_REQUEST');
    assert.match(r.stderr, /needs an API token: set IMGPORT_TOKEN/);
  });

  test('the server is down: exit 1 with a clear message', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const r = await run('imgport', ['jobs'], clientEnv({ IMGPORT_SERVER: closed }));
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, `imgport: cannot talk to the imgport server at ${closed}: connection refused (check --server / IMGPORT_SERVER and that the API is running) [IO_ERROR]\n`);
  });

  test('Ctrl-C asks the server to cancel the job and exits 1', async () => {
    const bundle = await makeNativeBundle(c.dir, { name: 'remote-int', profile: 'int', rootFiles: 4000 });
    // --name: a queued upload's job knows its image only from the options.
    const { child, done } = start('xcatimport', [bundle, '--name', 'remote-int'], env);
    let id = '';
    await waitFor(
      async () => {
        const list = (await (await fetch(`${c.base}/v1/jobs?type=import`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as any;
        id = list.jobs.find((j: { image?: string }) => j.image === 'remote-int')?.id ?? '';
        return id !== '' && (await job(c, id)).state === 'running';
      },
      30_000,
      'the import to run',
      c.logs,
    );
    child.kill('SIGINT');
    const r = await done;
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`interrupted; asked the server to cancel job ${id}: .*\\[CANCELLED\\]`));
    const end = await settled(c, id);
    if (end.state === 'cancelled') assert.deepEqual(await tables.getImage('remote-int'), { litefile: [] });
    else assert.equal(end.state, 'succeeded', 'only a job that finished first escapes the cancel');
  });
});
