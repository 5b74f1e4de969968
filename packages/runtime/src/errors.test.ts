import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImgportError, toImgportError } from '@imgport/runtime';

test('codes map to HTTP status, exit code and retry', () => {
  const e = new ImgportError('CHECKSUM_MISMATCH', 'kernel: sha256 mismatch', { where: 'kernel' });
  assert.deepEqual([e.httpStatus, e.exitCode, e.retryable, e.where], [422, 1, false, 'kernel']);
  assert.deepEqual(e.toJSON(), { code: 'CHECKSUM_MISMATCH', message: 'kernel: sha256 mismatch' });
  assert.equal(new ImgportError('DB_UNAVAILABLE', 'x').retryable, true);
});

test('system errors become IO_ERROR, others INTERNAL', () => {
  const sys = Object.assign(new Error('no space'), { code: 'ENOSPC', syscall: 'write' });
  assert.equal(toImgportError(sys).code, 'IO_ERROR');
  assert.equal(toImgportError(new Error('boom')).code, 'INTERNAL');
});
