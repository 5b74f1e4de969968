import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ImgportError } from '@imgport/runtime';
import { checkEntryPath } from './entry-path.js';
import { tempDir } from '../test/support/helpers.js';
import { treeListing } from './tree-listing.js';
import { prestartWriterThread, TreeWriter } from './tree-writer.js';
import type { TreeWriterOptions } from './tree-writer.js';
import type { TreeEntry } from './types.js';

const base = { mode: 0o644, uid: 0, gid: 0, mtime: 1_000_000, size: 0 };
const f = (p: string, data = '', extra: Partial<TreeEntry> = {}): [TreeEntry, string] => [{ ...base, path: p, type: 'file', size: Buffer.byteLength(data), ...extra }, data];
const d = (p: string, extra: Partial<TreeEntry> = {}): [TreeEntry, string] => [{ ...base, path: p, type: 'dir', mode: 0o755, ...extra }, ''];

async function run(dest: string, entries: Array<[TreeEntry, string]>, opts: TreeWriterOptions = {}): ReturnType<TreeWriter['finish']> {
  const w = new TreeWriter(dest, opts);
  try {
    for (const [e, data] of entries) {
      w.begin(e);
      if (data) w.write(Buffer.from(data));
      w.endEntry();
      await w.drain();
    }
    return await w.finish();
  } catch (err) {
    await w.abort();
    throw err;
  }
}

const code = (c: string, re?: RegExp) => (e: unknown) => e instanceof ImgportError && e.code === c && (!re || re.test(e.message));

test('path policy: normalises and refuses', () => {
  const p = { maxPathLength: 4096 };
  assert.equal(checkEntryPath('./usr//bin/', p), 'usr/bin');
  assert.equal(checkEntryPath('.', p), '');
  assert.equal(checkEntryPath('rootimg/etc', { ...p, stripPrefix: 'rootimg/' }), 'etc');
  assert.equal(checkEntryPath('rootimg', { ...p, stripPrefix: 'rootimg/' }), '');
  assert.equal(checkEntryPath('a..b/..c', p), 'a..b/..c');
  for (const bad of ['/etc', '..', 'a/../b', 'a/..', 'a\0b']) assert.throws(() => checkEntryPath(bad, p), code('UNSAFE_PATH'), bad);
  assert.throws(() => checkEntryPath('é'.repeat(60), { maxPathLength: 100 }), code('LIMIT_EXCEEDED', /maxPathLength/));
});

test('symlink parent pre-existing in the destination is never written through', async (t) => {
  const dir = tempDir(t);
  const dest = path.join(dir, 'dest');
  const outside = path.join(dir, 'outside');
  fs.mkdirSync(dest);
  fs.mkdirSync(outside);
  fs.symlinkSync(outside, path.join(dest, 'etc'));
  await assert.rejects(run(dest, [f('etc/passwd', 'x')]), code('UNSAFE_PATH', /parent "etc" is a symlink/));
  assert.deepEqual(fs.readdirSync(outside), []);
});

test('regular file is created with its final mode, owner and mtime; setuid kept', async (t) => {
  const dest = tempDir(t);
  await run(dest, [f('su', 'bin', { mode: 0o4755, uid: 12, gid: 34, mtime: 4_294_967_295 }), f('plain', 'x', { mode: 0o600 })]);
  const l = treeListing(dest, { root: false });
  assert.deepEqual(l.su, { type: 'file', mode: '4755', owner: '12:34', mtime: 4_294_967_295, size: 3, nlink: 1, sha256: l.su!.sha256 });
  assert.equal(l.plain!.mode, '600');
});

test('directories get their mode and mtime after their contents, missing parents made and fixed', async (t) => {
  const dest = tempDir(t);
  const r = await run(dest, [f('deep/er/file', 'x'), d('ro', { mode: 0o555, mtime: 12345 }), f('ro/inside', 'y'), d('deep', { mode: 0o1777, mtime: 777 }), d('.', { mode: 0o700, mtime: 5 })]);
  const l = treeListing(dest);
  assert.deepEqual([l.ro!.mode, l.ro!.mtime, l.deep!.mode, l.deep!.mtime, l['deep/er']!.mode, l['.']!.mode, l['.']!.mtime], ['555', 12345, '1777', 777, '755', '700', 5]);
  assert.equal(r.dirs, 2); // the root itself is not counted
});

test('an existing non-directory is replaced; the replaced file is no hardlink target any more', async (t) => {
  const dest = tempDir(t);
  const y: TreeEntry = { ...base, path: 'y', type: 'symlink', linkname: '/etc' };
  await run(dest, [f('x', 'old'), f('x', 'new'), [y, ''], f('y', 'file now')]);
  assert.equal(fs.readFileSync(path.join(dest, 'x'), 'utf8'), 'new');
  assert.equal(fs.readFileSync(path.join(dest, 'y'), 'utf8'), 'file now');
  const link: TreeEntry = { ...base, path: 'h', type: 'hardlink', linkname: 'z' };
  const sym: TreeEntry = { ...base, path: 'z', type: 'symlink', linkname: 'x' };
  const dest2 = tempDir(t);
  await assert.rejects(run(dest2, [f('z', 'data'), [sym, ''], [link, '']]), code('UNSAFE_PATH', /not an earlier regular file/));
});

test('not root: ownership and device nodes are reported, FIFOs still made', async (t) => {
  const dest = tempDir(t);
  const dev: TreeEntry = { ...base, path: 'null', type: 'chardev', mode: 0o666, devmajor: 1, devminor: 3 };
  const fifo: TreeEntry = { ...base, path: 'fifo', type: 'fifo', mode: 0o600, uid: 5 };
  const r = await run(dest, [f('a', 'x', { uid: 1000, gid: 1000 }), f('b', 'y'), [dev, ''], [fifo, '']], { isRoot: false });
  assert.deepEqual(r.dropped, ['ownership not kept: not running as root (2 entries)', 'device nodes skipped: not running as root (1 entry)']);
  assert.deepEqual(fs.readdirSync(dest).sort(), ['a', 'b', 'fifo']);
  assert.equal(fs.statSync(path.join(dest, 'a')).uid, process.getuid!());
  assert.ok(fs.lstatSync(path.join(dest, 'fifo')).isFIFO());
  assert.equal([r.devices, r.fifos].join(), '0,1');
});

test('as root: device nodes made with mknod, owners kept', { skip: process.getuid?.() !== 0 }, async (t) => {
  const dest = tempDir(t);
  const dev: TreeEntry = { ...base, path: 'null', type: 'chardev', mode: 0o666, devmajor: 1, devminor: 3, uid: 7, gid: 8 };
  const blk: TreeEntry = { ...base, path: 'loop9', type: 'blockdev', mode: 0o660, devmajor: 7, devminor: 9 };
  const r = await run(dest, [[dev, ''], [blk, '']]);
  const l = treeListing(dest, { root: false });
  assert.deepEqual(l.null, { type: 'chardev', mode: '666', owner: '7:8', mtime: base.mtime, rdev: 259 });
  assert.equal(l.loop9!.type, 'blockdev');
  assert.deepEqual(r.dropped, []);
});

test('xattrs are set through the injected setter; without one they are reported', async (t) => {
  const dest = tempDir(t);
  const seen: string[] = [];
  const xattrs = { 'user.a': Buffer.from('1'), 'security.capability': Buffer.from([1, 0, 0, 2, 0x80]) };
  await run(dest, [f('x', 'data', { xattrs })], { xattr: () => (p, n, v) => seen.push(`${path.basename(p)} ${n} ${v.toString('hex')}`) });
  assert.deepEqual(seen, ['x user.a 31', 'x security.capability 0100000280']);
  const r = await run(tempDir(t), [f('x', 'data', { xattrs })]);
  assert.deepEqual(r.dropped, ['xattrs dropped: fs-xattr is not available (2 entries)']);
});

test('short data is an invalid bundle', async (t) => {
  const dest = tempDir(t);
  const w = new TreeWriter(dest);
  w.begin({ ...base, path: 'x', type: 'file', size: 10 });
  w.write(Buffer.from('abc'));
  assert.throws(() => w.endEntry(), code('BUNDLE_INVALID', /3 bytes of data, header says 10/));
  await w.abort();
});

test('progress about every 256 entries', async (t) => {
  const dest = tempDir(t);
  const seen: number[] = [];
  await run(dest, Array.from({ length: 600 }, (_, i) => f(`f${i}`)), { onProgress: (p) => seen.push(p.entries) });
  assert.deepEqual(seen, [256, 512, 600]);
});

/** Threads of this process beyond `base`, once the count has held still for 100 ms (threads start and end on their own time). */
async function threadsSettled(base: number): Promise<number> {
  const count = (): number => fs.readdirSync('/proc/self/task').length - base;
  let last = count();
  for (let still = 0, i = 0; still < 4 && i < 200; i++) {
    await new Promise((r) => setTimeout(r, 25));
    const now = count();
    still = now === last ? still + 1 : 0;
    last = now;
  }
  return last;
}

test('a writer thread started ahead is the one the next writer takes (alone or as the first of two)', async (t) => {
  const base = fs.readdirSync('/proc/self/task').length;
  for (const threads of [1, 2] as const) {
    prestartWriterThread();
    prestartWriterThread(); // one waits at most
    const waiting = await threadsSettled(base);
    assert.ok(waiting > 0, 'a thread was started');
    const dest = tempDir(t);
    const r = await run(dest, [d('etc'), f('etc/hostname', 'node1\n'), f('etc/motd', 'hi')], { threads });
    assert.equal(r.files, 2);
    assert.equal(fs.readFileSync(path.join(dest, 'etc/hostname'), 'utf8'), 'node1\n');
    // Taken and ended with its writer: none left waiting.
    assert.equal(await threadsSettled(base), 0, `threads: ${threads}`);
  }
});

test('a writer thread left waiting does not keep the process alive', () => {
  const here = new URL('./tree-writer.ts', import.meta.url).href;
  const code = `const m = await import(${JSON.stringify(here)}); m.prestartWriterThread(); setTimeout(() => console.log('end'), 300);`;
  const r = spawnSync(process.execPath, [...process.execArgv, '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.signal, null, 'the process ended by itself');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'end');
});

test('two writer threads: deep and wide directories, hardlinks and replacements across them', async (t) => {
  const dest = tempDir(t);
  const entries: Array<[TreeEntry, string]> = [];
  // Directories alternate between the two workers: a chain 12 deep, each level with files, and
  // missing parents made on the way (implicit directories).
  let chain = '';
  for (let i = 0; i < 12; i++) {
    chain = chain ? `${chain}/c${i}` : `c${i}`;
    entries.push(d(chain), f(`${chain}/file`, `level ${i}`), f(`wide${i}/deep/er/x`, `w${i}`));
  }
  // Hardlinks to files made by the other worker, a file replaced, then linked to.
  for (let i = 0; i < 12; i++) entries.push([{ ...base, path: `links/l${i}`, type: 'hardlink', linkname: `wide${i}/deep/er/x` }, '']);
  entries.push(f('wide3/deep/er/x', 'replaced'), [{ ...base, path: `links/after`, type: 'hardlink', linkname: 'wide3/deep/er/x' }, '']);
  const r = await run(dest, entries, { threads: 2 });
  assert.equal(r.hardlinks, 13);
  chain = '';
  for (let i = 0; i < 12; i++) {
    chain = chain ? `${chain}/c${i}` : `c${i}`;
    assert.equal(fs.readFileSync(path.join(dest, chain, 'file'), 'utf8'), `level ${i}`);
  }
  assert.equal(fs.readFileSync(path.join(dest, 'links/l5'), 'utf8'), 'w5');
  assert.equal(fs.statSync(path.join(dest, 'wide5/deep/er/x')).nlink, 2);
  // The old wide3 file lives on through its link; the new one has its own.
  assert.equal(fs.readFileSync(path.join(dest, 'links/l3'), 'utf8'), 'w3');
  assert.equal(fs.readFileSync(path.join(dest, 'links/after'), 'utf8'), 'replaced');
  assert.equal(fs.statSync(path.join(dest, 'wide3/deep/er/x')).nlink, 2);
  assert.equal(treeListing(dest, { root: false })['wide7/deep']!.mode, '755');
});

test('device nodes and FIFOs (as root): made by one program per batch, with their own modes, owners, times, odd names', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, async (t) => {
  const dest = tempDir(t);
  const node = (p: string, type: TreeEntry['type'], extra: Partial<TreeEntry> = {}): [TreeEntry, string] => [{ ...base, path: p, type, ...extra }, ''];
  const names = ['null', 'tty 1', 'new\nline', '-m', 'zero'];
  const entries: Array<[TreeEntry, string]> = [d('dev')];
  names.forEach((n, i) => entries.push(node(`dev/${n}`, 'chardev', { devmajor: 1, devminor: 3 + i, mode: 0o620 + i, uid: 5 + i, gid: 7, mtime: 2_000_000 + i })));
  entries.push(node('dev/sda', 'blockdev', { devmajor: 8, devminor: 0, mode: 0o660, gid: 6 }));
  entries.push(node('dev/initctl', 'fifo', { mode: 0o600, mtime: 3_000_000 }));
  entries.push(node('run/pipe', 'fifo', { mode: 0o4644 }));
  const r = await run(dest, entries);
  assert.deepEqual([r.devices, r.fifos], [names.length + 1, 2]);
  for (const [i, n] of names.entries()) {
    const st = fs.lstatSync(path.join(dest, 'dev', n));
    assert.ok(st.isCharacterDevice(), n);
    assert.deepEqual([st.mode & 0o7777, st.uid, st.gid, st.mtimeMs / 1000, st.rdev], [0o620 + i, 5 + i, 7, 2_000_000 + i, 256 + 3 + i], n);
  }
  const sda = fs.lstatSync(path.join(dest, 'dev/sda'));
  assert.ok(sda.isBlockDevice());
  assert.deepEqual([sda.mode & 0o7777, sda.gid, sda.rdev], [0o660, 6, 8 * 256]);
  const fifo = fs.lstatSync(path.join(dest, 'dev/initctl'));
  assert.ok(fifo.isFIFO());
  assert.deepEqual([fifo.mode & 0o7777, fifo.mtimeMs / 1000], [0o600, 3_000_000]);
  assert.equal(fs.lstatSync(path.join(dest, 'run/pipe')).mode & 0o7777, 0o4644);
});

test('a device node that cannot be made fails with what mknod said, and the others in its batch are made', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, async (t) => {
  const { NodeBatch } = await import('./tree-fs.js');
  const dir = tempDir(t);
  const batch = new NodeBatch();
  batch.add(path.join(dir, 'ok'), 'c', 0o600, 1, 3);
  batch.add(path.join(dir, 'missing', 'dev'), 'c', 0o600, 1, 3);
  batch.add(path.join(dir, 'fifo'), 'p', 0o644);
  await assert.rejects(batch.settle(), (e: NodeJS.ErrnoException) => e.code === 'EMKNOD' && e.message.includes(path.join(dir, 'missing', 'dev')));
  assert.ok(fs.lstatSync(path.join(dir, 'ok')).isCharacterDevice());
  assert.ok(fs.lstatSync(path.join(dir, 'fifo')).isFIFO());
  // Settled again with nothing added: nothing to wait for.
  await batch.settle();
});
