import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { BOUNCE, seams } from './direct-io.js';
import { directReadStream } from './direct-read.js';
import { DIRECT_MIN, NewFile } from './new-file.js';
import { cachedBytes } from '../test/support/helpers.js';

const dir = fs.mkdtempSync(join(tmpdir(), 'imgport-directread-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** A file of `data` that is not in the page cache (written past it). */
function uncached(data: Buffer, at = dir): string {
  const path = join(at, `f${n++}`);
  const f = NewFile.create(path, 0o644, { size: data.length, where: at });
  f.write(data);
  f.endSync();
  f.closeSync();
  return path;
}

async function readAll(path: string, where?: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of directReadStream(path, where === undefined ? {} : { where })) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test('every size around the block, the threshold and the buffer reads back exactly', async () => {
  for (const size of [0, 1, 4095, 4096, DIRECT_MIN - 1, DIRECT_MIN, BOUNCE - 1, BOUNCE, BOUNCE + 1, 6 * BOUNCE + 777]) {
    const data = randomBytes(size);
    assert.ok((await readAll(uncached(data))).equals(data), `${size} bytes`);
  }
});

test('a large file is read past the page cache, and chunks stay valid after the next read', async () => {
  const data = randomBytes(5 * (1 << 20) + 3);
  const path = uncached(data);
  const before = cachedBytes(path);
  // Chunks are kept, not copied: each must be a buffer of its own, not a view of the bounce buffer.
  const got = await readAll(path);
  assert.ok(got.equals(data));
  assert.ok(cachedBytes(path) <= before, `${cachedBytes(path)} bytes cached after the read, ${before} before`);
});

test('a missing file throws at once; destroying mid-file closes the descriptor after the read in flight', async () => {
  assert.throws(() => directReadStream(join(dir, 'absent')), { code: 'ENOENT' });
  const path = uncached(randomBytes(4 << 20));
  const fds = () => fs.readdirSync('/proc/self/fd').length;
  const open = fds();
  const s = directReadStream(path);
  await new Promise<void>((resolve) => s.once('data', () => resolve()));
  s.destroy();
  await new Promise((r) => s.once('close', r));
  assert.equal(fds(), open, 'no descriptor left open');
});

test('direct reads refused after the open (misaligned memory) go on the ordinary way', async () => {
  const data = randomBytes(3 * (1 << 20) + 5);
  const path = uncached(data);
  seams.misalign = 512 + 8;
  try {
    assert.ok((await readAll(path, 'misaligned-read')).equals(data));
  } finally {
    seams.misalign = 0;
  }
});

test('a filesystem that refuses O_DIRECT (ramfs) is read the ordinary way', { skip: process.getuid?.() !== 0 && 'mounting ramfs needs root' }, async (t) => {
  const mnt = fs.mkdtempSync(join(dir, 'ramfs-'));
  const m = spawnSync('mount', ['-t', 'ramfs', 'none', mnt], { encoding: 'utf8' });
  if (m.status !== 0) return t.skip(`cannot mount ramfs here: ${m.stderr.trim()}`);
  try {
    const data = randomBytes(2 << 20);
    const path = join(mnt, 'f');
    fs.writeFileSync(path, data);
    assert.ok((await readAll(path)).equals(data));
  } finally {
    spawnSync('umount', [mnt]);
  }
});
