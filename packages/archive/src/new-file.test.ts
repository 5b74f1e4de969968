import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { BOUNCE, seams } from './direct-io.js';
import { DIRECT_MIN, NewFile } from './new-file.js';
import { cachedBytes } from '../test/support/helpers.js';

const dir = fs.mkdtempSync(join(tmpdir(), 'imgport-newfile-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const isRoot = process.getuid?.() === 0;
let n = 0;

/** Writes `data` in chunks of the given sizes (cycled), the way the callers do. */
async function writeFile(path: string, data: Buffer, chunks: number[], queued: boolean, where: string | number = dir): Promise<NewFile> {
  const f = NewFile.create(path, 0o640, { size: data.length, where, queued });
  for (let off = 0, i = 0; off < data.length; i++) {
    const len = Math.min(chunks[i % chunks.length]!, data.length - off);
    const landing = f.write(data, off, len);
    if (landing) await landing;
    off += len;
  }
  if (queued) await f.end();
  else f.endSync();
  return f;
}

const SIZES = [0, 1, 4095, 4096, 4097, DIRECT_MIN - 1, DIRECT_MIN, DIRECT_MIN + 1, BOUNCE - 1, BOUNCE, BOUNCE + 1, 2 * BOUNCE + 4096, 6 * BOUNCE + 12345];

for (const queued of [false, true]) {
  test(`${queued ? 'queued' : 'synchronous'}: every size around the block, the threshold and the buffer is written exactly`, async () => {
    for (const size of SIZES) {
      const data = randomBytes(size);
      const path = join(dir, `f${n++}`);
      const f = await writeFile(path, data, [65536, 7, 300000, 4096], queued);
      assert.equal(f.direct, size >= DIRECT_MIN, `direct for ${size} bytes`);
      if (queued) await f.close();
      else f.closeSync();
      assert.ok(fs.readFileSync(path).equals(data), `contents of ${size} bytes`);
      assert.equal(fs.statSync(path).mode & 0o777, 0o640 & ~process.umask());
    }
  });
}

test('a large file goes past the page cache: only its last partial block is cached', async () => {
  const data = randomBytes(4 * (1 << 20) + 100);
  const path = join(dir, `f${n++}`);
  const f = await writeFile(path, data, [65536], true);
  await f.close();
  assert.ok(cachedBytes(path) <= 4096, `cached ${cachedBytes(path)} bytes`);
  // The same bytes written the ordinary way stay in the cache.
  const plain = join(dir, `f${n++}`);
  fs.writeFileSync(plain, data);
  assert.ok(cachedBytes(plain) >= data.length - 4096);
});

test('the path must be new and is never followed', () => {
  const path = join(dir, `f${n++}`);
  fs.writeFileSync(path, 'old');
  assert.throws(() => NewFile.create(path, 0o644, { size: 1 << 20, where: dir }), { code: 'EEXIST' });
  const target = join(dir, `f${n++}`);
  const link = join(dir, `f${n++}`);
  fs.symlinkSync(target, link);
  assert.throws(() => NewFile.create(link, 0o644, { size: 1 << 20, where: dir }), { code: 'EEXIST' });
  assert.equal(fs.existsSync(target), false);
  assert.equal(fs.readFileSync(path, 'utf8'), 'old');
});

test('abandoned with a queued write in flight: close waits for it, the descriptor is not closed under it', async () => {
  const path = join(dir, `f${n++}`);
  const data = randomBytes(5 << 20);
  const f = NewFile.create(path, 0o644, { size: data.length, where: dir, queued: true });
  for (let off = 0; off < 3 << 20; off += 65536) {
    const landing = f.write(data, off, 65536);
    if (landing) await landing;
  }
  await f.close();
  // The blocks that were handed over landed whole; nothing was written after close.
  const got = fs.readFileSync(path);
  assert.ok(got.length >= 1 << 20 && got.length <= 3 << 20, `${got.length} bytes`);
  assert.ok(got.equals(data.subarray(0, got.length)));
  assert.throws(() => fs.fstatSync(f.fd), { code: 'EBADF' });
});

for (const queued of [false, true]) {
  test(`${queued ? 'queued' : 'synchronous'}: direct writes refused after the open (misaligned memory) go on the ordinary way`, async () => {
    seams.misalign = 512 + 8;
    try {
      for (const size of [DIRECT_MIN, (1 << 20) + 5, 3 << 20]) {
        const data = randomBytes(size);
        const path = join(dir, `f${n++}`);
        const where = `misaligned-${n}`;
        const f = await writeFile(path, data, [65536, 1000], queued, where);
        assert.equal(f.direct, false);
        if (queued) await f.close();
        else f.closeSync();
        assert.ok(fs.readFileSync(path).equals(data), `contents of ${size} bytes`);
        // Remembered: the next large file there does not try.
        const next = NewFile.create(join(dir, `f${n++}`), 0o644, { size, where });
        assert.equal(next.direct, false);
        next.closeSync();
      }
    } finally {
      seams.misalign = 0;
    }
  });
}

test('a filesystem that refuses O_DIRECT (ramfs) gets ordinary writes', { skip: !isRoot && 'mounting ramfs needs root' }, async (t) => {
  const mnt = fs.mkdtempSync(join(dir, 'ramfs-'));
  const m = spawnSync('mount', ['-t', 'ramfs', 'none', mnt], { encoding: 'utf8' });
  if (m.status !== 0) return t.skip(`cannot mount ramfs here: ${m.stderr.trim()}`);
  try {
    const data = randomBytes(2 << 20);
    for (let i = 0; i < 2; i++) {
      const path = join(mnt, `f${i}`);
      const f = await writeFile(path, data, [65536], true, mnt);
      assert.equal(f.direct, false);
      await f.close();
      assert.ok(fs.readFileSync(path).equals(data));
    }
  } finally {
    spawnSync('umount', [mnt]);
  }
});

/** Runs `script` (an ES module, TypeScript through tsx) as nobody when we are root, else as we are. */
function notRoot(script: string): string {
  const tsx = ['--import', 'tsx', '--input-type=module', '-e', script];
  const r =
    process.getuid?.() === 0
      ? spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ...tsx], { encoding: 'utf8' })
      : spawnSync(process.execPath, tsx, { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n').pop()!;
}

test('not root: a large file whose mode forbids writing (0444) is written whole, direct or not, also where O_DIRECT is refused', async () => {
  // The last partial block cannot go through a second descriptor then, nor can a refusal of
  // O_DIRECT at the open be answered by reopening the file.
  const work = fs.mkdtempSync(join(tmpdir(), 'imgport-nobody-'));
  fs.chmodSync(work, 0o777);
  const dirs = [work];
  let ramfs: string | undefined;
  if (process.getuid?.() === 0) {
    ramfs = fs.mkdtempSync(join(tmpdir(), 'imgport-nobody-ramfs-'));
    if (spawnSync('mount', ['-t', 'ramfs', 'none', ramfs]).status === 0) {
      fs.chmodSync(ramfs, 0o777);
      dirs.push(ramfs);
    }
  }
  try {
    const sizes = [DIRECT_MIN + 5, 3 * BOUNCE + 100, 2 * BOUNCE];
    for (const at of dirs) {
      const script = `
        import fs from 'node:fs';
        import { NewFile } from ${JSON.stringify(new URL('./new-file.ts', import.meta.url).href)};
        const out = [];
        for (const [i, size] of ${JSON.stringify(sizes)}.entries()) {
          const data = Buffer.alloc(size, i + 1);
          const path = ${JSON.stringify(at)} + '/f' + i;
          const f = NewFile.create(path, 0o444, { size, where: 'w' + i, queued: i === 1 });
          const landing = f.write(data);
          if (landing) await landing;
          if (i === 1) { await f.end(); await f.close(); } else { f.endSync(); f.closeSync(); }
          out.push([fs.readFileSync(path).equals(data), fs.statSync(path).mode & 0o777]);
        }
        console.log(JSON.stringify({ uid: process.getuid(), out }));`;
      const got = JSON.parse(notRoot(script)) as { uid: number; out: Array<[boolean, number]> };
      assert.notEqual(got.uid, 0);
      for (const [i, [same, mode]] of got.out.entries()) {
        assert.ok(same, `${at} file ${i}: contents`);
        assert.equal(mode & 0o222, 0, `${at} file ${i}: mode ${mode.toString(8)}`);
      }
    }
  } finally {
    if (ramfs) {
      spawnSync('umount', [ramfs]);
      fs.rmSync(ramfs, { recursive: true, force: true });
    }
    fs.rmSync(work, { recursive: true, force: true });
  }
});

test('after close nothing more is written, not even to the file that now has its descriptor number', () => {
  const path = join(dir, `f${n++}`);
  const f = NewFile.create(path, 0o644, { size: 1 << 20, where: dir });
  f.write(randomBytes(5000));
  f.closeSync();
  const other = join(dir, `f${n++}`);
  fs.writeFileSync(other, 'other');
  const fd = fs.openSync(other, 'r+');
  try {
    assert.throws(() => f.write(randomBytes(BOUNCE + 1)), { code: 'EBADF' });
    assert.throws(() => f.endSync(), { code: 'EBADF' });
    f.closeSync();
    assert.equal(fs.readFileSync(other, 'utf8'), 'other');
  } finally {
    fs.closeSync(fd);
  }
});

test('a full disk fails direct writes with ENOSPC, queued or not, and the file still closes', { skip: process.getuid?.() !== 0 && 'a loop mount needs root' }, async (t) => {
  const img = join(dir, `small${n++}.ext4`);
  const mnt = fs.mkdtempSync(join(dir, 'full-'));
  const ok = [
    ['truncate', ['-s', '8M', img]],
    ['mkfs.ext4', ['-q', '-F', img]],
    ['mount', ['-o', 'loop', img, mnt]],
  ].every(([cmd, args]) => spawnSync(cmd as string, args as string[]).status === 0);
  if (!ok) return t.skip('no loop-mounted filesystem here');
  try {
    const data = randomBytes(16 << 20);
    for (const queued of [false, true]) {
      const f = NewFile.create(join(mnt, `f${queued}`), 0o644, { size: data.length, where: mnt, queued });
      assert.equal(f.direct, true);
      await assert.rejects(
        (async () => {
          for (let off = 0; off < data.length; off += 65536) {
            const landing = f.write(data, off, 65536);
            if (landing) await landing;
          }
          if (queued) await f.end();
          else f.endSync();
        })(),
        { code: 'ENOSPC' },
      );
      if (queued) await f.close();
      else f.closeSync();
      fs.rmSync(join(mnt, `f${queued}`));
    }
  } finally {
    spawnSync('umount', [mnt]);
  }
});
