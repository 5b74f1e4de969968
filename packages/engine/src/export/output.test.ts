import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImgportError } from '@imgport/runtime';
import { isExportLeftover, resolveDestination, tempName, writeAtomically, type HashedFile } from './output.js';

const MiB = Buffer.alloc(1 << 20, 7);

function write(out: HashedFile, chunk: Buffer): Promise<void> {
  return new Promise((resolve) => (out.write(chunk) ? resolve() : out.once('drain', resolve)));
}

describe('export output', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'imgport-output-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('destination: a file, an existing directory, the current directory; a missing parent is refused', async () => {
    assert.deepEqual(await resolveDestination('img', join(dir, 'x.tgz')), { path: join(dir, 'x.tgz'), dir });
    assert.deepEqual(await resolveDestination('img', dir), { path: join(dir, 'img.tgz'), dir });
    assert.deepEqual(await resolveDestination('img'), { path: join(process.cwd(), 'img.tgz'), dir: process.cwd() });
    await assert.rejects(resolveDestination('img', join(dir, 'no', 'x.tgz')), (e) => e instanceof ImgportError && e.code === 'BAD_REQUEST');
    await assert.rejects(resolveDestination('img', join(dir, 'nodir') + '/'), (e) => e instanceof ImgportError && e.code === 'BAD_REQUEST');
    assert.ok(isExportLeftover(tempName({ path: join(dir, 'x.tgz'), dir }, 'part').slice(dir.length + 1)));
  });

  test('complete: renamed into place, sha256 and size of what was written', async () => {
    const dest = { path: join(dir, 'ok.tgz'), dir };
    const res = await writeAtomically(dest, async (out) => {
      await write(out, MiB);
      out.end();
      await new Promise((r) => out.once('finish', r));
      return 'done';
    });
    assert.deepEqual(res, { value: 'done', bytes: MiB.length, sha256: createHash('sha256').update(MiB).digest('hex') });
    assert.deepEqual(await readFile(dest.path), MiB);
    assert.deepEqual((await readdir(dir)).filter(isExportLeftover), []);
  });

  test('aborted mid-stream while the writer keeps going: rejects at once, temp file removed', async () => {
    const sub = join(dir, 'abort');
    await mkdir(sub);
    const ac = new AbortController();
    let writerDone = false;
    const run = writeAtomically(
      { path: join(sub, 'a.tgz'), dir: sub },
      async (out) => {
        await write(out, MiB);
        ac.abort();
        // A writer that does not look at the signal: everything after the abort is dropped.
        for (let i = 0; i < 8; i++) await write(out, MiB);
        out.end();
        writerDone = true;
        return 'late';
      },
      ac.signal,
    );
    await assert.rejects(run, (e) => (e as Error).name === 'AbortError');
    assert.deepEqual(await readdir(sub), []);
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(writerDone, 'the writer drained into the sink instead of stalling');
  });

  test('a writer that fails: temp file removed, its error surfaces', async () => {
    const sub = join(dir, 'fail');
    await mkdir(sub);
    const boom = new Error('source vanished');
    await assert.rejects(
      writeAtomically({ path: join(sub, 'f.tgz'), dir: sub }, async (out) => {
        await write(out, MiB);
        throw boom;
      }),
      boom,
    );
    assert.deepEqual(await readdir(sub), []);
  });
});
