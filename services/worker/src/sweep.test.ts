import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sweepExports } from './sweep.js';

test('export results older than the TTL are removed; newer ones stay', async () => {
  const data = mkdtempSync(join(tmpdir(), 'imgport-sweep-'));
  try {
    const dir = join(data, 'exports');
    mkdirSync(dir);
    writeFileSync(join(dir, 'exp-old.tgz'), 'old');
    writeFileSync(join(dir, 'exp-new.tgz'), 'new');
    const old = new Date(Date.now() - 25 * 3600 * 1000);
    utimesSync(join(dir, 'exp-old.tgz'), old, old);
    assert.deepEqual(await sweepExports(data, 24 * 3600 * 1000), [join(dir, 'exp-old.tgz')]);
    assert.deepEqual(readdirSync(dir), ['exp-new.tgz']);
    assert.deepEqual(await sweepExports(join(data, 'missing'), 1), []);
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});
