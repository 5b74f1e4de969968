import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ImgportError, type ErrorCode } from '@imgport/runtime';
import { openBundle } from './open.js';
import { igzip } from '../decompress.js';
import { bundleOf, NETBOOT_CFG, netbootFiles, smallRootImage, sumsOf, tarOf } from '../../test/support/bundles.js';
import { cachedBytes } from '../../test/support/helpers.js';

const base = mkdtempSync(join(tmpdir(), 'imgport-open-'));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
const staging = () => join(base, `s${n++}`);

async function rejects(bundle: Buffer, code: ErrorCode, pattern: RegExp, limits = {}): Promise<void> {
  const dir = staging();
  await assert.rejects(openBundle(Readable.from([bundle]), dir, { limits }), (err: unknown) => {
    assert.ok(err instanceof ImgportError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  });
  assert.equal(existsSync(dir), false, 'a rejected bundle leaves no staging directory');
}

test('a native netboot bundle is staged, verified and its root image expanded in one pass', async () => {
  const dir = staging();
  const b = await openBundle(Readable.from([await bundleOf(netbootFiles())]), dir);
  assert.equal(b.manifest.name, 'demo-netboot');
  assert.deepEqual([b.prefix, b.manifestName, b.checksums, b.compression], ['', 'manifest.cfg', 'verified', 'gzip']);
  assert.deepEqual([...b.files.keys()].sort(), ['SHA256SUMS', 'initrd-stateless.gz', 'kernel', 'manifest.cfg', 'rootimg.cpio.gz']);
  assert.equal(b.rootimg?.member, 'rootimg.cpio.gz');
  assert.equal(readFileSync(join(b.rootimg!.dir, 'etc/hostname'), 'utf8'), 'node01\n');
  assert.equal(readlinkSync(join(b.rootimg!.dir, 'bin')), 'usr/bin');
  assert.equal(readFileSync(b.files.get('kernel')!.path, 'utf8'), 'kernel-bytes');
  assert.deepEqual(b.warnings, []);
});

test('plain tar and xz outer compression are recognised by magic bytes', async () => {
  const tar = await bundleOf(netbootFiles(), { gzip: false });
  const plain = await openBundle(Readable.from([tar]), staging());
  assert.equal(plain.compression, 'none');
  const xz = execFileSync('xz', ['-c'], { input: tar });
  const x = await openBundle(Readable.from([xz]), staging());
  assert.equal(x.compression, 'xz');
  assert.equal(x.rootimg?.report.files, 2);
});

test("xCAT's <imagename>/ layout without SHA256SUMS is accepted with a warning", async () => {
  const xml = `<?xml version="1.0"?>
<xcatimage>
  <kernel>/install/netboot/rhels8.5.0/x86_64/compute/kernel</kernel>
  <linuximage>
    <imagename>img1</imagename>
    <rootimgdir>/install/netboot/rhels8.5.0/x86_64/compute</rootimgdir>
  </linuximage>
  <osimage>
    <imagename>img1</imagename>
    <osarch>x86_64</osarch>
    <osvers>rhels8.5.0</osvers>
    <profile>compute</profile>
    <provmethod>netboot</provmethod>
  </osimage>
  <ramdisk>/install/netboot/rhels8.5.0/x86_64/compute/initrd-stateless.gz</ramdisk>
  <rootimg>/install/netboot/rhels8.5.0/x86_64/compute/rootimg.gz</rootimg>
</xcatimage>
`;
  const files = { 'manifest.xml': xml, kernel: 'k', 'initrd-stateless.gz': gzipSync('i'), 'rootimg.gz': smallRootImage() };
  const b = await openBundle(Readable.from([await bundleOf(files, { prefix: 'img1/' })]), staging());
  assert.deepEqual([b.prefix, b.manifestName, b.checksums, b.manifest.flavor], ['img1/', 'manifest.xml', 'absent', 'xcat']);
  assert.equal(b.rootimg?.member, 'rootimg.gz');
  assert.match(b.warnings.join('\n'), /no SHA256SUMS/);
});

test('a corrupt member that looks like the root image fails the bundle', async () => {
  const files = netbootFiles({
    'manifest.cfg': (netbootFiles()['manifest.cfg'] as string).replace('rootimg rootimg.cpio.gz', 'rootimg rootimg.gz'),
    'rootimg.cpio.gz': gzipSync('not a root image'),
    'rootimg.gz': smallRootImage(),
  });
  const order = ['manifest.cfg', 'kernel', 'initrd-stateless.gz', 'rootimg.cpio.gz', 'rootimg.gz', 'SHA256SUMS'];
  const tar = await tarOf(order.map((name) => ({ name, data: files[name]! })));
  // The first guess (rootimg.cpio.gz) is not what the manifest names, but a member that looks like
  // a root image and is corrupt makes the bundle broken either way.
  await rejects(gzipSync(tar), 'BUNDLE_INVALID', /cpio|magic|root image/i);
});

test('traversal in a member name is refused', async () => {
  await rejects(gzipSync(await tarOf([{ name: '../evil', data: 'x' }])), 'UNSAFE_PATH', /\.\./);
});

test('an absolute member name is refused', async () => {
  await rejects(gzipSync(await tarOf([{ name: '/etc/passwd', data: 'x' }])), 'UNSAFE_PATH', /absolute/);
});

test('a symlink member is refused', async () => {
  await rejects(gzipSync(await tarOf([{ name: 'link', type: 'symlink', linkname: '/etc' }])), 'BUNDLE_INVALID', /link.*symlink/);
});

test('a hardlink member is refused', async () => {
  const tar = await tarOf([{ name: 'a', data: 'x' }, { name: 'b', type: 'link', linkname: 'a' }]);
  await rejects(gzipSync(tar), 'BUNDLE_INVALID', /"b" is a link/);
});

test('a duplicate member is refused', async () => {
  await rejects(gzipSync(await tarOf([{ name: 'a', data: 'x' }, { name: './a', data: 'y' }])), 'BUNDLE_INVALID', /"a" appears twice/);
});

test('a GNU sparse member is refused', async () => {
  const tar = await tarOf([{ name: 'a', data: 'x', pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0' } }]);
  await rejects(gzipSync(tar), 'BUNDLE_INVALID', /sparse/);
});

test('a member name over the length limit is refused', async () => {
  await rejects(gzipSync(await tarOf([{ name: 'a'.repeat(300), data: 'x' }])), 'LIMIT_EXCEEDED', /300 bytes/, { maxPathLength: 255 });
});

test('too many members are refused', async () => {
  const members = Array.from({ length: 5 }, (_, i) => ({ name: `f${i}`, data: 'x' }));
  await rejects(gzipSync(await tarOf(members)), 'LIMIT_EXCEEDED', /more than 3 members/, { maxEntries: 3 });
});

test('a bundle over the size limit is refused', async () => {
  await rejects(await bundleOf(netbootFiles()), 'LIMIT_EXCEEDED', /larger than the limit of 100 bytes/, { maxBundleBytes: 100 });
});

test('a checksum mismatch fails before anything is used', async () => {
  const files = netbootFiles();
  files.kernel = Buffer.from('tampered');
  await rejects(await bundleOf(files), 'CHECKSUM_MISMATCH', /kernel: sha256 mismatch/);
});

test('a file listed in SHA256SUMS but missing fails', async () => {
  const files = netbootFiles();
  files.SHA256SUMS = `${files.SHA256SUMS as string}${'0'.repeat(64)}  ghost\n`;
  await rejects(await bundleOf(files), 'CHECKSUM_MISMATCH', /lists "ghost"/);
});

test('a file not listed in SHA256SUMS fails', async () => {
  const files = netbootFiles();
  await rejects(await bundleOf({ ...files, stowaway: 'x' }), 'CHECKSUM_MISMATCH', /"stowaway" is not listed/);
});

test('a file the manifest names but the bundle lacks fails', async () => {
  const files = netbootFiles();
  delete files.kernel;
  delete files.SHA256SUMS;
  await rejects(await bundleOf({ ...files, SHA256SUMS: sumsOf(files) }), 'BUNDLE_INVALID', /names "kernel"/);
});

test('a bundle without a manifest fails', async () => {
  await rejects(await bundleOf({ kernel: 'k' }), 'BUNDLE_INVALID', /no manifest/);
});

test('a truncated gzip bundle fails', async () => {
  const b = await bundleOf(netbootFiles());
  await rejects(b.subarray(0, b.length - 200), 'BUNDLE_INVALID', /gzip|truncated|unexpected end/i);
});

test('a corrupt gzip bundle fails', async () => {
  const b = Buffer.from(await bundleOf(netbootFiles()));
  for (let i = 40; i < 80; i++) b[i] = b[i]! ^ 0xff;
  await rejects(b, 'BUNDLE_INVALID', /gzip/i);
});

test('an unsafe root image fails the bundle and leaves no staging', async () => {
  const { encodeCpioArchive } = await import('@imgport/format');
  const evil = gzipSync(encodeCpioArchive([{ name: '../../escape', type: 'file', mode: 0o644, data: Buffer.from('x') }]));
  await rejects(await bundleOf(netbootFiles({ 'rootimg.cpio.gz': evil })), 'UNSAFE_PATH', /\.\./);
  assert.equal(existsSync(join(base, 'escape')), false);
});

test('when the manifest names another root image than the first guess, that one is expanded', async () => {
  const { encodeCpioArchive } = await import('@imgport/format');
  const tree = gzipSync(
    encodeCpioArchive([
      { name: 'rootimg', type: 'dir', mode: 0o755 },
      { name: 'rootimg/marker', type: 'file', mode: 0o644, data: Buffer.from('tree') },
    ]),
  );
  const base = netbootFiles();
  const files = netbootFiles({
    'manifest.cfg': (base['manifest.cfg'] as string).replace('rootimg rootimg.cpio.gz', 'rootimg rootimg.gz'),
    'rootimgtree.gz': tree,
    'rootimg.gz': smallRootImage(),
  });
  delete files['rootimg.cpio.gz'];
  delete files.SHA256SUMS;
  const order = ['manifest.cfg', 'kernel', 'initrd-stateless.gz', 'rootimgtree.gz', 'rootimg.gz'];
  const tar = await tarOf([...order.map((name) => ({ name, data: files[name]! })), { name: 'SHA256SUMS', data: sumsOf(files) }]);
  const b = await openBundle(Readable.from([gzipSync(tar)]), staging());
  assert.equal(b.rootimg?.member, 'rootimg.gz');
  assert.equal(existsSync(join(b.rootimg!.dir, 'marker')), false);
  assert.equal(readFileSync(join(b.rootimg!.dir, 'etc/hostname'), 'utf8'), 'node01\n');
});

test('staged files keep their permission bits, less setuid and group/other write', async () => {
  const files = netbootFiles({ 'extra/setup': '#!/bin/sh\n' });
  const cfg = `${files['manifest.cfg'] as string}extra extra/setup:postscripts\n`;
  const all: Record<string, Buffer | string> = { ...files, 'manifest.cfg': cfg };
  delete all.SHA256SUMS;
  const modes: Record<string, number> = { 'extra/setup': 0o4777, kernel: 0o644 };
  const members = Object.entries({ ...all, SHA256SUMS: sumsOf(all) }).map(([name, data]) => ({ name, data, mode: modes[name] ?? 0o600 }));
  const b = await openBundle(Readable.from([gzipSync(await tarOf(members))]), staging());
  const mode = (name: string) => statSync(b.files.get(name)!.path).mode & 0o7777;
  assert.deepEqual([mode('extra/setup'), mode('kernel'), mode('manifest.cfg')], [0o755, 0o644, 0o600]);
});

/** The files in a directory, packed as administrators do: GNU `tar czf b.tgz -C dir .`. */
function stockTgz(files: Record<string, Buffer | string>): string {
  const dir = join(base, `tree${n++}`);
  execFileSync('mkdir', ['-p', dir]);
  for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
  const out = join(base, `b${n++}.tgz`);
  execFileSync('tar', ['czf', out, '-C', dir, '.']);
  return out;
}

test('a local bundle file is read by its inflating program itself: the same members, hashes and tree as from the stream', { skip: igzip() ? false : 'igzip is not installed' }, async () => {
  const path = stockTgz(netbootFiles());
  // The stream is not read at all when the program reads the file.
  const unread = new Readable({ read: () => unread.destroy(new Error('the stream was read')) });
  const fromFile = await openBundle(unread, staging(), { file: path });
  const fromStream = await openBundle(Readable.from([readFileSync(path)]), staging());
  assert.equal(fromFile.compression, 'gzip');
  const digest = (b: typeof fromFile) => [...b.files].map(([name, f]) => `${name} ${f.sha256 ?? ''} ${f.size}`).sort();
  assert.deepEqual(digest(fromFile), digest(fromStream));
  assert.equal(fromFile.checksums, 'verified');
  assert.equal(readFileSync(join(fromFile.rootimg!.dir, 'etc/hostname'), 'utf8'), 'node01\n');
  assert.equal(fromFile.bytesIn, statSync(path).size);
});

test('a local bundle file that is truncated, corrupt or a compression bomb is refused and leaves no staging', async () => {
  const good = readFileSync(stockTgz(netbootFiles()));
  const cut = join(base, `cut${n++}.tgz`);
  writeFileSync(cut, good.subarray(0, good.length - 300));
  const flipped = Buffer.from(good);
  for (let i = 40; i < 80; i++) flipped[i] = flipped[i]! ^ 0xff;
  const corrupt = join(base, `corrupt${n++}.tgz`);
  writeFileSync(corrupt, flipped);
  const bomb = stockTgz({ ...netbootFiles(), zeros: Buffer.alloc(80 << 20) });
  for (const [path, code, pattern] of [
    [cut, 'BUNDLE_INVALID', /truncated|unexpected end/i],
    [corrupt, 'BUNDLE_INVALID', /gzip|tar/i],
    [bomb, 'LIMIT_EXCEEDED', /maxRatio/],
  ] as const) {
    const dir = staging();
    await assert.rejects(openBundle(createReadStream(path), dir, { file: path }), (err: unknown) => err instanceof ImgportError && err.code === code && pattern.test(err.message));
    assert.equal(existsSync(dir), false, `${path}: a rejected bundle leaves no staging directory`);
  }
});

test('large files of a GNU-made bundle (tar czf of a cpio | gzip root image) land byte for byte, past the page cache', async () => {
  // A tree with files on both sides of the direct-write threshold and the bounce buffer's size,
  // packed as packimage does (find | cpio -H newc -o | gzip) and bundled with GNU tar.
  const tree = join(base, `root${n++}`);
  const sizes = [10, 4096, 65535, 65536, 65537, 524287, 524288, 524289, 3 * 524288 + 4097];
  execFileSync('mkdir', ['-p', join(tree, 'usr/lib')]);
  const want = new Map<string, Buffer>();
  for (const [i, size] of sizes.entries()) {
    const data = randomBytes(size);
    want.set(`usr/lib/f${i}`, data);
    writeFileSync(join(tree, `usr/lib/f${i}`), data);
  }
  const cpio = execFileSync('sh', ['-c', 'find . | cpio -H newc -o --quiet | gzip -c'], { cwd: tree, maxBuffer: 64 << 20 });
  const kernel = randomBytes(3 << 20);
  const path = stockTgz(netbootFiles({ kernel, 'rootimg.cpio.gz': cpio }));
  for (const file of [path, undefined]) {
    const b = await openBundle(file ? Readable.from([]) : createReadStream(path), staging(), file ? { file } : {});
    for (const [name, data] of want) {
      const got = join(b.rootimg!.dir, name);
      assert.ok(readFileSync(got).equals(data), `${name} (${data.length} bytes)`);
    }
    assert.ok(readFileSync(b.files.get('kernel')!.path).equals(kernel));
    assert.ok(readFileSync(b.files.get('rootimg.cpio.gz')!.path).equals(cpio));
    // Read back above, so check the cache on a fresh open of the same bundle's biggest file.
    const again = await openBundle(createReadStream(path), staging());
    const big = join(again.rootimg!.dir, `usr/lib/f${sizes.length - 1}`);
    assert.ok(cachedBytes(big) <= 4096, `${big}: ${cachedBytes(big)} bytes in the page cache`);
  }
});

test('a tar root image of several MiB (GNU tar czf) lands byte for byte through the lent buffers', async () => {
  // tar-stream holds on to the chunks it is given, so lent ones reach it as copies. Whether a
  // missing copy shows here depends on timing; rootimg.test.ts checks it deterministically.
  const tree = join(base, `root${n++}`);
  execFileSync('mkdir', ['-p', join(tree, 'usr/lib')]);
  const want = new Map<string, Buffer>();
  for (let i = 0; i < 40; i++) {
    const data = randomBytes(1000 + ((i * 97_531) % 700_000));
    want.set(`usr/lib/f${i}`, data);
    writeFileSync(join(tree, `usr/lib/f${i}`), data);
  }
  const tgz = execFileSync('tar', ['czf', '-', '-C', tree, '.'], { maxBuffer: 64 << 20 });
  const { 'rootimg.cpio.gz': _cpio, SHA256SUMS: _sums, ...files } = netbootFiles({ 'manifest.cfg': NETBOOT_CFG.replace('rootimg.cpio.gz', 'rootimg.tar.gz'), 'rootimg.tar.gz': tgz });
  const path = stockTgz({ ...files, SHA256SUMS: sumsOf(files) });
  for (const file of [path, undefined]) {
    const b = await openBundle(file ? Readable.from([]) : createReadStream(path), staging(), file ? { file } : {});
    for (const [name, data] of want) assert.ok(readFileSync(join(b.rootimg!.dir, name)).equals(data), `${name} (${data.length} bytes)`);
  }
});

test('without a usable temporary directory the root image is read from igzip the ordinary way', { skip: igzip() ? false : 'igzip is not installed' }, async () => {
  const tree = join(base, `root${n++}`);
  execFileSync('mkdir', ['-p', join(tree, 'usr/lib')]);
  const data = randomBytes(3 << 20);
  writeFileSync(join(tree, 'usr/lib/big'), data);
  const cpio = execFileSync('sh', ['-c', 'find . | cpio -H newc -o --quiet | gzip -c'], { cwd: tree, maxBuffer: 64 << 20 });
  const path = stockTgz(netbootFiles({ 'rootimg.cpio.gz': cpio }));
  const saved = process.env.TMPDIR;
  try {
    process.env.TMPDIR = join(base, 'no-such-dir');
    const b = await openBundle(Readable.from([]), staging(), { file: path });
    assert.ok(readFileSync(join(b.rootimg!.dir, 'usr/lib/big')).equals(data));
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
});

test('a root image cut short or corrupt inside a sound bundle fails with what its inflater found, through igzip and through zlib, and leaves nothing', async () => {
  // Several MiB of compressible files, packed as packimage does: the failure comes mid-stream,
  // with the pipe to igzip (or the stream to zlib) still full behind it.
  const tree = join(base, `root${n++}`);
  execFileSync('mkdir', ['-p', join(tree, 'usr/share')]);
  for (let i = 0; i < 12; i++) writeFileSync(join(tree, `usr/share/f${i}`), randomBytes(600_000).toString('base64'));
  const cpio = execFileSync('sh', ['-c', 'find . | cpio -H newc -o --quiet | gzip -c'], { cwd: tree, maxBuffer: 64 << 20 });
  // A download cut off in the middle of the root image member: igzip is still reading then.
  const whole = await bundleOf(netbootFiles({ 'rootimg.cpio.gz': cpio }), { gzip: false });
  await rejects(gzipSync(whole.subarray(0, whole.length >> 1)), 'BUNDLE_INVALID', /truncated|unexpected end/i);
  // Killed by then; given a moment to be reaped, a leaked one would still be there.
  for (let i = 0; i < 40 && inflatersOf(process.pid).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(inflatersOf(process.pid), [], 'no inflating program is left running');
  const cut = cpio.subarray(0, cpio.length >> 1);
  const flipped = Buffer.from(cpio);
  for (let i = cpio.length >> 1; i < (cpio.length >> 1) + 64; i++) flipped[i] = flipped[i]! ^ 0x5a;
  const saved = process.env.IMGPORT_IGZIP;
  try {
    for (const inflater of igzip() ? ['igzip', 'zlib'] : ['zlib']) {
      if (inflater === 'zlib') process.env.IMGPORT_IGZIP = '0';
      for (const [image, pattern] of [
        [cut, /truncated|unexpected end/i],
        // Garbage may inflate and be caught by the cpio parser instead: either is a clear error.
        [flipped, /gzip|corrupt|invalid|check|cpio/i],
      ] as const) {
        // SHA256SUMS matches the broken member: the expansion, not the checksum, must catch it.
        await rejects(await bundleOf(netbootFiles({ 'rootimg.cpio.gz': image })), 'BUNDLE_INVALID', pattern);
      }
    }
  } finally {
    if (saved === undefined) delete process.env.IMGPORT_IGZIP;
    else process.env.IMGPORT_IGZIP = saved;
  }
});

test("the root image's igzip killed by someone else mid-expansion is IO_ERROR (try again) and leaves no staging", { skip: igzip() ? false : 'igzip is not installed' }, async () => {
  const tree = join(base, `root${n++}`);
  execFileSync('mkdir', ['-p', join(tree, 'usr/share')]);
  for (let i = 0; i < 12; i++) writeFileSync(join(tree, `usr/share/f${i}`), randomBytes(600_000).toString('base64'));
  const cpio = execFileSync('sh', ['-c', 'find . | cpio -H newc -o --quiet | gzip -c'], { cwd: tree, maxBuffer: 64 << 20 });
  // From a stream the bundle is inflated by zlib: the only igzip is the root image's.
  const bundle = await bundleOf(netbootFiles({ 'rootimg.cpio.gz': cpio }));
  const input = new Readable({ read: () => undefined });
  input.push(bundle.subarray(0, bundle.length >> 1));
  const dir = staging();
  const opened = openBundle(input, dir);
  let pid: number | undefined;
  for (let i = 0; i < 200 && pid === undefined; i++) {
    const line = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' }).split('\n').find((l) => l.trim().endsWith(' igzip'));
    if (line) pid = Number(line.trim().split(/\s+/)[0]);
    else await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(pid, 'the root image reached igzip');
  process.kill(pid, 'SIGKILL');
  input.push(bundle.subarray(bundle.length >> 1));
  input.push(null);
  await assert.rejects(opened, (e: unknown) => e instanceof ImgportError && e.code === 'IO_ERROR' && /igzip was killed \(SIGKILL\)/.test(e.message), 'the kill is reported as such, not as a broken bundle');
  assert.equal(existsSync(dir), false);
});

/** The inflating programs this process started that are still running (ps). */
function inflatersOf(pid: number): string[] {
  const names = execFileSync('ps', ['-o', 'comm=', '--ppid', String(pid)], { encoding: 'utf8' }).split('\n');
  return names.filter((c) => c === 'igzip' || c === 'xz');
}

test('staging leaves no pipe behind: only the members and the expanded tree', async () => {
  const dir = staging();
  await openBundle(Readable.from([await bundleOf(netbootFiles())]), dir);
  assert.deepEqual(readdirSync(dir).sort(), ['files', 'rootimg']);
});

test("the root image's pipes, made while the first members stage, are let go when no gzip root image takes them (xz, plain cpio, a bundle refused before its root image)", { skip: igzip() ? false : 'igzip is not installed' }, async () => {
  const pipes = (): string[] =>
    readdirSync('/proc/self/fd')
      .map((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`);
        } catch {
          return '';
        }
      })
      .filter((l) => l.startsWith('socket:') || l.startsWith('pipe:') || l.includes('.feed-'))
      .sort();
  const before = pipes();
  // Packed by GNU cpio, as packimage does.
  const tree = join(base, `root${n++}`);
  execFileSync('mkdir', ['-p', join(tree, 'etc')]);
  writeFileSync(join(tree, 'etc/hostname'), 'node01\n');
  const cpio = execFileSync('sh', ['-c', 'find . | cpio -H newc -o --quiet'], { cwd: tree });
  for (const [member, image] of [
    ['rootimg.cpio.xz', execFileSync('xz', ['-c'], { input: cpio })],
    ['rootimg.cpio', cpio],
  ] as const) {
    const { 'rootimg.cpio.gz': _gz, SHA256SUMS: _s, ...rest } = netbootFiles({ 'manifest.cfg': NETBOOT_CFG.replace('rootimg.cpio.gz', member), [member]: image });
    const b = await openBundle(Readable.from([await bundleOf({ ...rest, SHA256SUMS: sumsOf(rest) })]), staging());
    assert.equal(readFileSync(join(b.rootimg!.dir, 'etc/hostname'), 'utf8'), 'node01\n', member);
    assert.deepEqual(pipes(), before, `no pipe or socket is left open after a ${member} root image`);
  }
  // Refused at its second member, the pipes made for the root image still being opened.
  await rejects(await tarOf([{ name: 'manifest.cfg', data: NETBOOT_CFG }, { name: 'manifest.cfg', data: NETBOOT_CFG }]), 'BUNDLE_INVALID', /appears twice/);
  assert.deepEqual(pipes(), before, 'no pipe or socket is left open after a refused bundle');
  // And taken by a gzip root image, they go with its expansion.
  await openBundle(Readable.from([await bundleOf(netbootFiles())]), staging());
  assert.deepEqual(pipes(), before, 'no pipe or socket is left open after a gzip root image');
});

test('without mkfifo the root image is expanded the stream way, and the pipes made ahead leave nothing open', { skip: igzip() ? false : 'igzip is not installed' }, async () => {
  const fds = (): number => readdirSync('/proc/self/fd').length;
  const before = fds();
  const saved = process.env.PATH;
  try {
    // igzip was found already (its path is kept); mkfifo, looked up now, is not on this PATH.
    process.env.PATH = join(base, 'no-such-bin');
    const dir = staging();
    const b = await openBundle(Readable.from([await bundleOf(netbootFiles())]), dir);
    assert.equal(readFileSync(join(b.rootimg!.dir, 'etc/hostname'), 'utf8'), 'node01\n');
    assert.deepEqual(readdirSync(dir).sort(), ['files', 'rootimg']);
  } finally {
    process.env.PATH = saved;
  }
  assert.equal(fds(), before, 'no descriptor is left open');
});
