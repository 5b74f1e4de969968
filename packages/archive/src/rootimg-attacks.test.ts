/**
 * Hostile root images, one test per attack (in the manner of node-tar's test/ghsa-*.ts). Each
 * asserts the error code and that the destination is left as it was: absent, and nothing
 * written outside it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { createGzip, gzipSync } from 'node:zlib';
import { encodeCpioEntry } from '@imgport/format';
import { expandRootImage } from './rootimg.js';
import { cpioGz, cpioRaw, dir, file, listDir, rejectsWith, streamOf, symlink, tarRaw, tempDir } from '../test/support/helpers.js';
import type { CpioSpec } from '../test/support/helpers.js';
import type { Limits } from './types.js';

interface Setup {
  dest: string;
  outside: string;
}

function setup(t: { after(fn: () => void): void }): Setup {
  const base = tempDir(t);
  const outside = path.join(base, 'outside');
  fs.mkdirSync(outside);
  return { dest: path.join(base, 'dest', 'rootimg'), outside };
}

async function attack(s: Setup, archive: Buffer, code: string, re?: RegExp, limits?: Partial<Limits>): Promise<void> {
  await rejectsWith(expandRootImage(streamOf(archive), s.dest, { limits }), code, re);
  assert.equal(fs.existsSync(path.dirname(s.dest)), false, 'destination (and the parent it created) removed');
  assert.deepEqual(listDir(s.outside), [], 'nothing written outside');
}

const cpio = (...entries: CpioSpec[]): Buffer => cpioGz([dir('.'), ...entries]);

test('traversal: ../ member', async (t) => {
  const s = setup(t);
  await attack(s, cpio(file('ok', 'x'), file('../../outside/evil', 'pwned')), 'UNSAFE_PATH', /'\.\.' component/);
});

test('traversal: .. hidden inside a path', async (t) => {
  const s = setup(t);
  await attack(s, cpio(dir('a'), file('a/./../../../outside/evil', 'pwned')), 'UNSAFE_PATH');
});

test('absolute member name', async (t) => {
  const s = setup(t);
  await attack(s, cpio(file(path.join(s.outside, 'evil'), 'pwned')), 'UNSAFE_PATH', /absolute/);
});

test('absolute member name with a doubled slash', async (t) => {
  const s = setup(t);
  await attack(s, cpio(file(`/${path.join(s.outside, 'evil')}`, 'pwned')), 'UNSAFE_PATH', /absolute/);
});

test('symlink then write through it (cpio)', async (t) => {
  const s = setup(t);
  await attack(s, cpio(symlink('lnk', s.outside), file('lnk/evil', 'pwned')), 'UNSAFE_PATH', /parent "lnk" is a symlink/);
});

test('symlink then write through it (tar)', async (t) => {
  const s = setup(t);
  const tar = await tarRaw([
    { name: 'lnk', type: 'symlink', linkname: s.outside },
    { name: 'lnk/evil', data: 'pwned' },
  ]);
  await attack(s, gzipSync(tar), 'UNSAFE_PATH', /symlink/);
});

test('symlink then directory of the same name then write (tar)', async (t) => {
  const s = setup(t);
  const tar = await tarRaw([
    { name: 'lnk', type: 'symlink', linkname: s.outside },
    { name: 'lnk', type: 'directory', mode: 0o755 },
    { name: 'lnk/evil', data: 'pwned' },
  ]);
  await attack(s, tar, 'UNSAFE_PATH', /would replace a non-directory/);
});

test('symlink in a deeper parent (relative, pointing up and out)', async (t) => {
  const s = setup(t);
  await attack(s, cpio(dir('a'), symlink('a/b', '../../../outside'), file('a/b/c/evil', 'x')), 'UNSAFE_PATH', /parent "a\/b"/);
});

test('hardlink escape: target outside the tree (tar)', async (t) => {
  const s = setup(t);
  const tar = await tarRaw([{ name: 'h', type: 'link', linkname: '../outside/x' }]);
  await attack(s, gzipSync(tar), 'UNSAFE_PATH', /'\.\.'/);
});

test('hardlink escape: absolute target (tar)', async (t) => {
  const s = setup(t);
  fs.writeFileSync(path.join(s.outside, 'secret'), 's');
  const tar = await tarRaw([{ name: 'h', type: 'link', linkname: path.join(s.outside, 'secret') }]);
  await rejectsWith(expandRootImage(streamOf(tar), s.dest), 'UNSAFE_PATH', /absolute/);
  assert.equal(fs.statSync(path.join(s.outside, 'secret')).nlink, 1);
});

test('hardlink escape: target is not an earlier entry (tar)', async (t) => {
  const s = setup(t);
  const tar = await tarRaw([
    { name: 'h', type: 'link', linkname: 'later' },
    { name: 'later', data: 'x' },
  ]);
  await attack(s, tar, 'UNSAFE_PATH', /not an earlier regular file/);
});

test('hardlink escape: target is a symlink of the archive (tar)', async (t) => {
  const s = setup(t);
  const tar = await tarRaw([
    { name: 'f', data: 'x' },
    { name: 'f', type: 'symlink', linkname: s.outside },
    { name: 'h', type: 'link', linkname: 'f' },
  ]);
  await attack(s, tar, 'UNSAFE_PATH', /not an earlier regular file/);
});

test('cpio name escapes through the rootimg/ prefix', async (t) => {
  const s = setup(t);
  const archive = cpioGz([dir('rootimg'), file('rootimg/../../outside/evil', 'x')]);
  await rejectsWith(expandRootImage(streamOf(archive), s.dest, { stripPrefix: 'rootimg/' }), 'UNSAFE_PATH');
  assert.equal(fs.existsSync(path.dirname(s.dest)), false);
});

test('cpio member outside the rootimg/ prefix', async (t) => {
  const s = setup(t);
  const archive = cpioGz([dir('rootimg'), file('etc/evil', 'x')]);
  await rejectsWith(expandRootImage(streamOf(archive), s.dest, { stripPrefix: 'rootimg/' }), 'BUNDLE_INVALID', /not under rootimg\//);
});

test('NUL in a member name', async (t) => {
  const s = setup(t);
  await attack(s, cpio(file('etc/passwd\0.txt', 'x')), 'UNSAFE_PATH', /NUL/);
});

test('over-long path', async (t) => {
  const s = setup(t);
  await attack(s, cpio(file(`${'a/'.repeat(100)}f`, 'x')), 'LIMIT_EXCEEDED', /maxPathLength/, { maxPathLength: 150 });
});

test('too many entries', async (t) => {
  const s = setup(t);
  const many = Array.from({ length: 50 }, (_, i) => file(`f${i}`));
  await attack(s, cpio(...many), 'LIMIT_EXCEEDED', /maxEntries.*"f9"/, { maxEntries: 10 });
});

test('too many deferred cpio hardlinks', async (t) => {
  const s = setup(t);
  const links = Array.from({ length: 50 }, (_, i): CpioSpec => ({ name: `l${i}`, type: 'file', mode: 0o644, nlink: 99, ino: 7 }));
  await attack(s, cpio(...links), 'LIMIT_EXCEEDED', /deferred hardlinks/, { maxEntries: 10 });
});

test('expanded-size bomb: declared size stops it before any data is written', async (t) => {
  const s = setup(t);
  const big = Buffer.alloc(20 * 1024 * 1024);
  let maxOut = 0;
  const archive = cpio(file('small', 'x'), file('bomb', big));
  const p = expandRootImage(streamOf(archive), s.dest, { limits: { maxExpandedBytes: 1024 * 1024 }, onProgress: (pr) => (maxOut = Math.max(maxOut, pr.bytesOut)) });
  await rejectsWith(p, 'LIMIT_EXCEEDED', /maxExpandedBytes: expanding "bomb"/);
  assert.ok(maxOut <= 1, `wrote ${maxOut} bytes`);
  assert.equal(fs.existsSync(path.dirname(s.dest)), false);
});

test('expanded-size bomb: many files adding up', async (t) => {
  const s = setup(t);
  const files = Array.from({ length: 40 }, (_, i) => file(`f${i}`, Buffer.alloc(100_000)));
  await attack(s, cpio(...files), 'LIMIT_EXCEEDED', /maxExpandedBytes: expanding "f10"/, { maxExpandedBytes: 1_000_000 });
});

test('ratio bomb stops soon after 64 MiB', async (t) => {
  const s = setup(t);
  // 200 MiB of zeros in one file, compressed as it is generated
  const size = 200 * 1024 * 1024;
  const head = Buffer.concat([encodeCpioEntry(dir('.')), encodeCpioEntry({ name: 'zeros', type: 'file', mode: 0o644, size })]);
  const source = Readable.from(
    (function* () {
      yield head;
      const zero = Buffer.alloc(1024 * 1024);
      for (let i = 0; i < size / zero.length; i++) yield zero;
    })(),
    { objectMode: false },
  ).pipe(createGzip({ level: 1 }));
  let maxOut = 0;
  const p = expandRootImage(source, s.dest, { onProgress: (pr) => (maxOut = Math.max(maxOut, pr.bytesOut)) });
  await rejectsWith(p, 'LIMIT_EXCEEDED', /maxRatio/);
  assert.ok(maxOut < 80 * 1024 * 1024, `wrote ${maxOut} bytes`);
  assert.equal(fs.existsSync(path.dirname(s.dest)), false);
});

test('truncated gzip', async (t) => {
  const s = setup(t);
  const gz = cpio(file('a', Buffer.alloc(100_000, 'a')), file('b', 'b'));
  await attack(s, gz.subarray(0, gz.length - 30), 'BUNDLE_INVALID', /gzip|truncated/);
});

test('corrupt gzip', async (t) => {
  const s = setup(t);
  const gz = Buffer.from(cpio(file('a', Buffer.from('some text '.repeat(5000))), file('b', 'b')));
  for (let i = 20; i < 60; i++) gz[i] = gz[i]! ^ 0x5a;
  await attack(s, gz, 'BUNDLE_INVALID', /gzip/);
});

test('truncated cpio inside intact gzip', async (t) => {
  const s = setup(t);
  const raw = cpioRaw([dir('.'), file('a', Buffer.alloc(5000, 1))]);
  await attack(s, gzipSync(raw.subarray(0, 3000)), 'BUNDLE_INVALID', /truncated archive.*inside entry "a"/);
});

test('bad magic', async (t) => {
  const s = setup(t);
  const raw = cpioRaw([dir('.'), file('a', 'x'), file('b', 'y')]);
  raw.write('071701', raw.indexOf('070701', 10), 'latin1');
  await attack(s, gzipSync(raw), 'BUNDLE_INVALID', /bad magic/);
});

test('neither cpio nor tar', async (t) => {
  const s = setup(t);
  await attack(s, gzipSync(Buffer.alloc(4096, 'x')), 'BUNDLE_INVALID', /neither a cpio newc nor a tar/);
});

test('directory over a file of the archive', async (t) => {
  const s = setup(t);
  await attack(s, cpio(file('x', 'data'), dir('x')), 'UNSAFE_PATH', /would replace a non-directory/);
});

test('file over a directory of the archive', async (t) => {
  const s = setup(t);
  await attack(s, cpio(dir('x'), file('x/y', '1'), file('x', 'data')), 'UNSAFE_PATH', /would replace a directory/);
});

test('failure in a pre-existing empty destination leaves it empty', async (t) => {
  const s = setup(t);
  fs.mkdirSync(s.dest, { recursive: true });
  await rejectsWith(expandRootImage(streamOf(cpio(dir('a'), file('a/f', 'x'), file('../evil', 'x'))), s.dest), 'UNSAFE_PATH');
  assert.deepEqual(listDir(s.dest), []);
});
