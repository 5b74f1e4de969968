import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDbUrl } from './url.js';

test('sqlite:<dir>, with or without //', () => {
  assert.deepEqual(parseDbUrl('sqlite:/etc/xcat'), { kind: 'sqlite', dir: '/etc/xcat' });
  assert.deepEqual(parseDbUrl('sqlite:///etc/xcat'), { kind: 'sqlite', dir: '/etc/xcat' });
});

test('mysql URL: decoded credentials, default port, description without the password', () => {
  assert.deepEqual(parseDbUrl('mysql://xcatadmin:p%40ss@db.example:3307/xcatdb'), {
    kind: 'mysql',
    host: 'db.example',
    port: 3307,
    user: 'xcatadmin',
    password: 'p@ss',
    database: 'xcatdb',
    description: 'mysql://xcatadmin@db.example:3307/xcatdb',
  });
  const t = parseDbUrl('mysql://root@127.0.0.1/xcatdb');
  assert.equal(t.kind === 'mysql' && t.port, 3306);
  assert.equal(t.kind === 'mysql' && t.description, 'mysql://root@127.0.0.1:3306/xcatdb');
});

test('bad URLs are CONFIG_INVALID', () => {
  for (const url of ['sqlite:', 'postgres://u@h/db', 'mysql://h/xcatdb', 'mysql://u@h/', 'mysql://u@h/x`y', 'nonsense']) {
    assert.throws(() => parseDbUrl(url), (err: { code?: string }) => err.code === 'CONFIG_INVALID', url);
  }
});
