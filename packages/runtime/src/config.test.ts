import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CONFIG_VARIABLES, ImgportError, loadConfig, redactUrl, urlAllowed } from '@imgport/runtime';

test('defaults follow SPEC §10', () => {
  const c = loadConfig({});
  assert.deepEqual(
    [c.installRoot, c.xcatDb, c.redisUrl, c.dataDir, c.port, c.workerConcurrency, c.logLevel, c.tokens],
    ['/install', 'sqlite:/etc/xcat', 'redis://127.0.0.1:6379', '/var/lib/imgport', 8080, 2, 'info', []],
  );
});

test('tokens come from the list and the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'imgport-cfg-'));
  const file = join(dir, 'tokens');
  writeFileSync(file, '# ops\nfile-token\n\n');
  const c = loadConfig({ IMGPORT_TOKENS: 'a, b', IMGPORT_TOKENS_FILE: file, IMGPORT_ALLOW: '/srv/x,/opt/y' });
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(c.tokens, ['a', 'b', 'file-token']);
  assert.deepEqual(c.allow, ['/srv/x', '/opt/y']);
});

test('every bad variable is named in one error', () => {
  assert.throws(
    () => loadConfig({ PORT: 'eighty', XCAT_DB: 'postgres://x', WORKER_CONCURRENCY: '0' }),
    (err: unknown) =>
      err instanceof ImgportError &&
      err.code === 'CONFIG_INVALID' &&
      /PORT/.test(err.message) &&
      /XCAT_DB/.test(err.message) &&
      /WORKER_CONCURRENCY/.test(err.message),
  );
});

test('the variable list includes the SPEC names', () => {
  for (const v of ['INSTALL_ROOT', 'XCAT_DB', 'REDIS_URL', 'IMGPORT_DATA', 'IMGPORT_TOKENS', 'PORT', 'WORKER_CONCURRENCY', 'LOG_LEVEL']) {
    assert.ok(CONFIG_VARIABLES.includes(v), v);
  }
});

test('passwords are removed from URLs', () => {
  assert.equal(redactUrl('mysql://root:s3cret@db:3306/xcatdb'), 'mysql://root:***@db:3306/xcatdb');
  assert.equal(redactUrl('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379');
});

test('empty optional variables count as unset; a bad server URL is named', () => {
  assert.equal(loadConfig({ IMGPORT_SERVER: '', IMGPORT_TOKENS_FILE: '' }).server, undefined);
  assert.equal(loadConfig({ IMGPORT_SERVER: 'http://mn1:8080' }).server, 'http://mn1:8080');
  assert.throws(() => loadConfig({ IMGPORT_SERVER: 'not a url' }), /IMGPORT_SERVER/);
  assert.throws(() => loadConfig({ IMGPORT_QUEUE_PREFIX: 'a:b' }), /IMGPORT_QUEUE_PREFIX/);
});

test('IMGPORT_URL_ALLOW: http(s) prefixes only, matched at a path boundary', () => {
  assert.deepEqual(loadConfig({}).urlAllow, []);
  const c = loadConfig({ IMGPORT_URL_ALLOW: 'http://repo:8080, https://Mirror.example/bundles/,https://h.example/b' });
  assert.deepEqual(c.urlAllow, ['http://repo:8080/', 'https://mirror.example/bundles/', 'https://h.example/b']);
  const ok = ['http://repo:8080/x.tgz', 'https://mirror.example/bundles/a/b.tgz', 'https://h.example/b', 'https://h.example/b/c.tgz', 'https://h.example/b?x=1'];
  const no = ['http://repo:8081/x.tgz', 'http://repo:8080.evil/x', 'https://mirror.example/bundles', 'https://h.example/bx.tgz', 'http://h.example/b/c.tgz', 'not a url'];
  for (const u of ok) assert.ok(urlAllowed(u, c.urlAllow), u);
  for (const u of no) assert.ok(!urlAllowed(u, c.urlAllow), u);
  for (const bad of ['file:///etc', 'ftp://x/', 'http://u:p@x/', 'nonsense']) {
    assert.throws(() => loadConfig({ IMGPORT_URL_ALLOW: bad }), (e: unknown) => e instanceof ImgportError && e.code === 'CONFIG_INVALID' && /IMGPORT_URL_ALLOW/.test(e.message), bad);
  }
});
