import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ImgportError } from '@imgport/runtime';
import { assertJobId, importJobId, isValidJobId, JOB_OPTIONS, newJobId, parsePayload, PAYLOAD_SCHEMAS } from './catalog.js';
import { JOB_TYPES, type ImportPayload } from './types.js';

const SHA = 'a'.repeat(64);
const spool = (extra: Partial<ImportPayload> = {}): ImportPayload => ({ source: { kind: 'spool', path: '/var/lib/imgport/spool/x', sha256: SHA, size: 10 }, ...extra });

function badRequest(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ImgportError);
    assert.equal(err.code, 'BAD_REQUEST');
    assert.match(err.message, pattern);
    return true;
  });
}

describe('payload schemas', () => {
  test('every job type has a schema and default options', () => {
    assert.deepEqual(Object.keys(PAYLOAD_SCHEMAS).sort(), [...JOB_TYPES].sort());
    assert.deepEqual(Object.keys(JOB_OPTIONS).sort(), [...JOB_TYPES].sort());
  });

  test('import, export and snapshot-image retry 3 times from 2 s; all trim Redis history', () => {
    for (const t of ['import', 'export', 'snapshot-image'] as const) {
      assert.equal(JOB_OPTIONS[t].attempts, 3);
      assert.deepEqual(JOB_OPTIONS[t].backoff, { type: 'exponential', delay: 2000 });
    }
    for (const t of JOB_TYPES) {
      assert.ok(JOB_OPTIONS[t].removeOnComplete && typeof JOB_OPTIONS[t].removeOnComplete === 'object');
      assert.ok(JOB_OPTIONS[t].removeOnFail && typeof JOB_OPTIONS[t].removeOnFail === 'object');
    }
  });

  test('valid payloads come back unchanged', () => {
    const imp = { source: { kind: 'url', url: 'https://example.org/b.tgz' }, name: 'img1', profile: 'compute', force: true, dryRun: false, fromRoot: '/install' };
    assert.deepEqual(parsePayload('import', imp), imp);
    assert.deepEqual(parsePayload('import', { source: { kind: 'path', path: '/srv/b.tgz' } }), { source: { kind: 'path', path: '/srv/b.tgz' } });
    const exp = { image: 'rhels8.5.0-x86_64-netboot-compute', extras: ['/install/postscripts/x'], format: 'xcat', include: 'all' };
    assert.deepEqual(parsePayload('export', exp), exp);
    assert.deepEqual(parsePayload('export', { image: 'a', include: ['pkglist', 'exlist'] }), { image: 'a', include: ['pkglist', 'exlist'] });
    assert.deepEqual(parsePayload('snapshot', { images: ['a', 'b'], label: 'nightly' }), { images: ['a', 'b'], label: 'nightly' });
    assert.deepEqual(parsePayload('snapshot-image', { image: 'a' }), { image: 'a' });
  });

  test('bad payloads are BAD_REQUEST naming the field', () => {
    badRequest(() => parsePayload('import', { source: { kind: 'ftp', url: 'x' } }), /invalid import job: source/);
    badRequest(() => parsePayload('import', { source: { kind: 'path', path: 'relative/b.tgz' } }), /source\.path: must be an absolute path/);
    badRequest(() => parsePayload('import', { ...spool(), name: '../etc' }), /name: must be 1-128/);
    badRequest(() => parsePayload('import', { ...spool(), name: '..' }), /name: must not be \. or \.\./);
    badRequest(() => parsePayload('import', { ...spool(), surprise: 1 }), /invalid import job/);
    badRequest(() => parsePayload('import', { source: { kind: 'spool', path: '/s', sha256: 'zz', size: 1 } }), /source\.sha256/);
    badRequest(() => parsePayload('export', { image: 'a b' }), /image: must be 1-128/);
    badRequest(() => parsePayload('export', { image: 'a', format: 'zip' }), /format/);
    badRequest(() => parsePayload('export', { image: 'a', include: ['kernel'] }), /include/);
    badRequest(() => parsePayload('snapshot', { images: [] }), /images/);
    badRequest(() => parsePayload('snapshot-image', {}), /image/);
  });
});

describe('job ids', () => {
  test('the same import gets the same id; other options or another bundle another', () => {
    const id = importJobId(spool());
    assert.match(id, /^imp-[0-9a-f]{64}$/);
    assert.equal(importJobId(spool()), id);
    // Explicit defaults are the same request as omitted ones.
    assert.equal(importJobId(spool({ force: false, dryRun: false })), id);
    const others = [
      spool({ force: true }),
      spool({ dryRun: true }),
      spool({ name: 'other' }),
      spool({ profile: 'login' }),
      spool({ fromRoot: '/opt/install' }),
      { source: { kind: 'spool' as const, path: '/var/lib/imgport/spool/x', sha256: 'b'.repeat(64), size: 10 } },
      { source: { kind: 'url' as const, url: 'https://example.org/b.tgz' } },
    ];
    const ids = new Set([id, ...others.map(importJobId)]);
    assert.equal(ids.size, others.length + 1);
  });

  test('a file on shared storage is identified by path, size and mtime', () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgport-ids-'));
    try {
      const file = join(dir, 'b.tgz');
      writeFileSync(file, 'one');
      const payload: ImportPayload = { source: { kind: 'path', path: file } };
      const first = importJobId(payload);
      assert.equal(importJobId(payload), first);
      utimesSync(file, 1_700_000_000, 1_700_000_000);
      const touched = importJobId(payload);
      assert.notEqual(touched, first);
      writeFileSync(file, 'longer');
      utimesSync(file, 1_700_000_000, 1_700_000_000);
      assert.notEqual(importJobId(payload), touched);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('ids never contain ":" and are never all digits', () => {
    for (let i = 0; i < 50; i++) {
      const id = newJobId('exp');
      assert.match(id, /^exp-[0-9a-f]{24}$/);
      assert.ok(isValidJobId(id));
    }
    assert.ok(!isValidJobId('12345'));
    assert.ok(!isValidJobId('a:b'));
    assert.ok(!isValidJobId(''));
    assert.ok(!isValidJobId('a/b'));
    assert.ok(isValidJobId('imp-123'));
    badRequest(() => assertJobId('42'), /invalid job id "42"/);
  });
});
