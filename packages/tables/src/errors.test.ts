import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImgportError } from '@imgport/runtime';
import { fromMysqlError, fromSqliteError } from './errors.js';

const err = (code: string, extra: object = {}) => Object.assign(new Error(`boom ${code}`), { code }, extra);
const ctx = { db: 'mysql://root@h:3306/xcatdb', table: 'osimage' };

test('MySQL: refused, lost, denied, busy are DB_UNAVAILABLE and retryable', () => {
  for (const c of ['ECONNREFUSED', 'PROTOCOL_CONNECTION_LOST', 'ER_ACCESS_DENIED_ERROR', 'ER_LOCK_DEADLOCK', 'ER_BAD_DB_ERROR']) {
    const e = fromMysqlError(err(c), ctx);
    assert.equal(e.code, 'DB_UNAVAILABLE', c);
    assert.equal(e.retryable, true);
    assert.match(e.message, /mysql:\/\/root@h:3306\/xcatdb/);
  }
  assert.equal(fromMysqlError(err('ER_SOMETHING', { fatal: true }), ctx).code, 'DB_UNAVAILABLE');
  const refused = new AggregateError([err('ECONNREFUSED')], '');
  assert.equal(fromMysqlError(refused, ctx).code, 'DB_UNAVAILABLE');
});

test('MySQL: duplicate key is BAD_REQUEST, anything else INTERNAL naming the table', () => {
  assert.equal(fromMysqlError(err('ER_DUP_ENTRY'), ctx).code, 'BAD_REQUEST');
  const e = fromMysqlError(err('ER_PARSE_ERROR'), ctx);
  assert.equal(e.code, 'INTERNAL');
  assert.match(e.message, /table osimage/);
  assert.equal(e.where, 'osimage');
});

test('SQLite: busy, locked, cannot open are DB_UNAVAILABLE; disk full IO_ERROR; constraint BAD_REQUEST', () => {
  const c = { db: 'sqlite:/d', table: 'litefile' };
  assert.equal(fromSqliteError(err('SQLITE_BUSY'), c).code, 'DB_UNAVAILABLE');
  assert.equal(fromSqliteError(err('SQLITE_LOCKED_SHAREDCACHE'), c).code, 'DB_UNAVAILABLE');
  assert.equal(fromSqliteError(err('SQLITE_CANTOPEN'), c).code, 'DB_UNAVAILABLE');
  assert.equal(fromSqliteError(err('EACCES'), c).code, 'DB_UNAVAILABLE');
  assert.equal(fromSqliteError(err('SQLITE_FULL'), c).code, 'IO_ERROR');
  assert.equal(fromSqliteError(err('SQLITE_CONSTRAINT_PRIMARYKEY'), c).code, 'BAD_REQUEST');
  assert.equal(fromSqliteError(err('SQLITE_ERROR'), c).code, 'INTERNAL');
});

test('ImgportErrors pass through unchanged', () => {
  const mine = new ImgportError('UNSUPPORTED', 'x');
  assert.equal(fromMysqlError(mine, ctx), mine);
  assert.equal(fromSqliteError(mine, ctx), mine);
});
