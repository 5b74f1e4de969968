import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { packRootImage } from './pack-tree.js';
import { expandRootImage } from './rootimg.js';
import { rejectsWith, streamOf, tempDir } from '../test/support/helpers.js';
import { treeListing } from './tree-listing.js';

const isRoot = process.getuid?.() === 0;
const ODD_MTIMES = [0, 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 1_700_000_000];
const MODES = [0o644, 0o600, 0o755, 0o4755, 0o2755, 0o1755, 0o6711, 0o444, 0o000];

function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random tree with every kind of entry a root filesystem holds; returns nothing, fills `root`. */
function generateTree(root: string, seed: number): void {
  const rand = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const names = ['a', 'bin', 'lib64', 'ünïcödé', '日本語', 'x'.repeat(250), 'sp ace', 'dash-', '.hidden'];
  const dirs = [''];
  const files: string[] = [];
  const all: string[] = [];
  for (let i = 0; i < 60; i++) {
    const parent = pick(dirs);
    const name = `${pick(names)}${i}`;
    const rel = parent ? `${parent}/${name}` : name;
    const full = path.join(root, rel);
    const kind = rand();
    if (kind < 0.2) {
      fs.mkdirSync(full);
      dirs.push(rel);
    } else if (kind < 0.55) {
      const size = rand() < 0.2 ? 0 : Math.floor(rand() ** 3 * 200_000);
      fs.writeFileSync(full, Buffer.from(Array.from({ length: size }, (_, k) => (k * 31 + seed) & 0xff)));
      files.push(rel);
    } else if (kind < 0.7) {
      fs.symlinkSync(pick(['/usr/bin', '../../etc/passwd', 'dangling-target', pick(files.length ? files : ['x'])]), full);
    } else if (kind < 0.8 && files.length) {
      fs.linkSync(path.join(root, pick(files)), full);
    } else if (kind < 0.9) {
      execFileSync('mknod', [full, 'p']);
    } else if (isRoot) {
      execFileSync('mknod', [full, rand() < 0.5 ? 'c' : 'b', String(Math.floor(rand() * 300)), String(Math.floor(rand() * 3000))]);
    } else continue;
    all.push(rel);
  }
  // Metadata last, deepest first, so children do not disturb their directory's mtime.
  for (const rel of [...all, ...dirs].sort((a, b) => b.split('/').length - a.split('/').length)) {
    const full = rel ? path.join(root, rel) : root;
    const st = fs.lstatSync(full);
    if (isRoot) fs.lchownSync(full, Math.floor(rand() * 70000), Math.floor(rand() * 70000));
    if (!st.isSymbolicLink()) fs.chmodSync(full, st.isDirectory() ? pick([0o755, 0o1777, 0o2755, 0o700]) : pick(MODES));
    const t = pick(ODD_MTIMES);
    fs.lutimesSync(full, t, t);
  }
}

async function packToBuffer(src: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      parts.push(chunk);
      cb();
    },
  });
  await packRootImage(src, sink);
  return Buffer.concat(parts);
}

for (const seed of [1, 2, 3]) {
  test(`round trip (seed ${seed}): tree → our cpio and GNU tar → expanded trees equal the source`, async (t) => {
    const d = tempDir(t);
    const src = path.join(d, 'src');
    fs.mkdirSync(src);
    generateTree(src, seed);
    const cpio = await packToBuffer(src);
    const tar = execFileSync('tar', ['--format=pax', '--numeric-owner', '-C', src, '-cf', '-', '.'], { maxBuffer: 1 << 28 });
    await expandRootImage(streamOf(cpio), path.join(d, 'from-cpio'));
    await expandRootImage(streamOf(tar), path.join(d, 'from-tar'));
    const want = treeListing(src);
    assert.deepStrictEqual(treeListing(path.join(d, 'from-cpio')), want);
    assert.deepStrictEqual(treeListing(path.join(d, 'from-tar')), want);
  });
}

test('GNU cpio -idmu reads what packRootImage writes (names like find . | cpio)', async (t) => {
  const d = tempDir(t);
  const src = path.join(d, 'src');
  fs.mkdirSync(src);
  generateTree(src, 7);
  const raw = gunzipSync(await packToBuffer(src));
  const names = execFileSync('cpio', ['-it', '--quiet'], { input: raw }).toString().split('\n');
  assert.equal(names[0], '.');
  assert.ok(names.slice(1).every((n) => n === '' || !n.startsWith('./')));
  fs.mkdirSync(path.join(d, 'gnu'));
  execFileSync('cpio', ['-idmu', '--quiet'], { input: raw, cwd: path.join(d, 'gnu') });
  // GNU cpio restores neither directory nor symlink mtimes
  const strip = (l: ReturnType<typeof treeListing>) =>
    Object.fromEntries(Object.entries(l).filter(([k]) => k !== '.').map(([k, v]) => [k, v.type === 'dir' || v.type === 'symlink' ? { ...v, mtime: 0 } : v]));
  assert.deepStrictEqual(strip(treeListing(path.join(d, 'gnu'))), strip(treeListing(src)));
});

test('packing reports entries and data bytes, and honours abort', async (t) => {
  const d = tempDir(t);
  fs.mkdirSync(path.join(d, 'src/etc'), { recursive: true });
  fs.writeFileSync(path.join(d, 'src/etc/a'), 'hello');
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  assert.deepEqual(await packRootImage(path.join(d, 'src'), sink), { entries: 3, bytes: 5 });
  const sink2 = new Writable({ write: (_c, _e, cb) => cb() });
  await rejectsWith(packRootImage(path.join(d, 'src'), sink2, { signal: AbortSignal.abort() }), 'CANCELLED');
});
