/**
 * Root image names that are not UTF-8: the parsers decode them with U+FFFD, so `caf\xe9` and
 * `caf\xe8` used to become one file and the other was silently lost. They are refused, naming
 * the entry, for cpio and tar, and through a whole import.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { expandRootImage } from '@imgport/archive';
import { encodeCpioArchive } from '@imgport/format';
import { hostileBundle, refused, site, tarHeader, tarPad } from './helpers.js';

/** A cpio whose names `cafX`/`cafY` are patched to the Latin-1 bytes 0xE9/0xE8 (not UTF-8). */
function latin1Cpio(): Buffer {
  const raw = encodeCpioArchive([
    { name: '.', type: 'dir', mode: 0o755 },
    { name: 'cafX', type: 'file', mode: 0o644, data: Buffer.from('first') },
    { name: 'cafY', type: 'file', mode: 0o644, data: Buffer.from('second') },
  ]);
  for (const [from, to] of [['cafX\0', 0xe9], ['cafY\0', 0xe8]] as const) {
    const at = raw.indexOf(from);
    assert.ok(at > 0);
    raw[at + 3] = to;
  }
  return raw;
}

function scratch(): { dir: string; dest: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'imgport-names-'));
  return { dir, dest: join(dir, 'dest/rootimg'), done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('non-UTF-8 names in a cpio root image are refused, never merged into one', async () => {
  const s = scratch();
  try {
    await refused(expandRootImage(Readable.from([gzipSync(latin1Cpio())]), s.dest), 'UNSAFE_PATH', /member "caf\uFFFD" is not valid UTF-8/);
    assert.equal(existsSync(join(s.dir, 'dest')), false);
  } finally {
    s.done();
  }
});

test('non-UTF-8 names in a tar root image are refused', async () => {
  const s = scratch();
  try {
    const name = Buffer.from('caf\xe9', 'latin1');
    const tar = Buffer.concat([tarHeader(name, 5), Buffer.from('first'), tarPad(5), Buffer.alloc(1024)]);
    await refused(expandRootImage(Readable.from([gzipSync(tar)]), s.dest), 'UNSAFE_PATH', /is not valid UTF-8/);
  } finally {
    s.done();
  }
});

test('a symlink target that is not UTF-8 is refused (it would point elsewhere once decoded)', async () => {
  const s = scratch();
  try {
    const raw = encodeCpioArchive([{ name: '.', type: 'dir', mode: 0o755 }, { name: 'lnk', type: 'symlink', mode: 0o777, linkname: 'tgtX' }]);
    raw[raw.indexOf('tgtX') + 3] = 0xff;
    await refused(expandRootImage(Readable.from([gzipSync(raw)]), s.dest), 'UNSAFE_PATH', /target of symlink "lnk" is not valid UTF-8/);
  } finally {
    s.done();
  }
});

test('an import whose root image has non-UTF-8 names fails clearly and writes nothing', async () => {
  const st = await site();
  try {
    mkdirSync(join(st.dir, 'b'));
    const bundle = await hostileBundle(join(st.dir, 'b'), { name: 'img-latin1', rootimg: gzipSync(latin1Cpio()) });
    await refused(st.service().run(bundle), 'UNSAFE_PATH', /not valid UTF-8/);
    assert.deepEqual(readdirSync(st.root), []);
    assert.equal((await st.tables.getImage('img-latin1')).osimage, undefined);
  } finally {
    await st.close();
  }
});
