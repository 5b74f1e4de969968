import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImgportError, isConnectionError, toImgportError } from '@imgport/runtime';

test('codes map to HTTP status, exit code and retry', () => {
  const e = new ImgportError('CHECKSUM_MISMATCH', 'kernel: sha256 mismatch', { where: 'kernel' });
  assert.deepEqual([e.httpStatus, e.exitCode, e.retryable, e.where], [422, 1, false, 'kernel']);
  assert.deepEqual(e.toJSON(), { code: 'CHECKSUM_MISMATCH', message: 'kernel: sha256 mismatch' });
  assert.equal(new ImgportError('DB_UNAVAILABLE', 'x').retryable, true);
});

test('system errors become IO_ERROR, a full disk DISK_FULL naming where, others INTERNAL', () => {
  const eio = Object.assign(new Error('i/o error'), { code: 'EIO', syscall: 'read' });
  assert.equal(toImgportError(eio).code, 'IO_ERROR');
  const full = toImgportError(Object.assign(new Error('no space'), { code: 'ENOSPC', syscall: 'write', path: '/install/.imgport/tx/x' }));
  assert.equal(full.code, 'DISK_FULL');
  assert.match(full.message, /^disk full at \/install\/\.imgport\/tx\/x/);
  assert.equal(full.retryable, false);
  assert.equal(toImgportError(new Error('boom')).code, 'INTERNAL');
});

test('connection errors are told apart from bugs', () => {
  assert.equal(isConnectionError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), true);
  assert.equal(isConnectionError(new Error('Connection is closed.')), true);
  assert.equal(isConnectionError(new Error('wrapped', { cause: Object.assign(new Error('lost'), { code: 'PROTOCOL_CONNECTION_LOST' }) })), true);
  assert.equal(isConnectionError(new TypeError('x is not a function')), false);
  assert.equal(isConnectionError(Object.assign(new Error('syntax'), { code: 'ER_PARSE_ERROR' })), false);
});
