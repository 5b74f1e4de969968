import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImgportError } from '@imgport/runtime';
import { CpioParser, decodeCpioHeader, encodeCpioArchive, encodeCpioEntry, encodeCpioHeader, pad4 } from './index.js';
import type { CpioEntry, CpioWriteEntry } from './index.js';

interface Seen {
  name: string;
  type: string;
  mode: number;
  size: number;
  linkname?: string;
  data: string;
}

/** Parses `buf` pushed in pieces of `step` bytes; returns what the events delivered. */
function parse(buf: Buffer, step = buf.length): { entries: Seen[]; ended: boolean } {
  const entries: Seen[] = [];
  let cur: Seen | undefined;
  let ended = false;
  const p = new CpioParser({
    entry(e: CpioEntry) {
      cur = { name: e.name, type: e.type, mode: e.header.mode & 0o7777, size: e.header.filesize, data: '' };
      if (e.linkname !== undefined) cur.linkname = e.linkname;
      entries.push(cur);
    },
    data(chunk) {
      cur!.data += chunk.toString('latin1');
    },
    entryEnd() {},
    end() {
      ended = true;
    },
  });
  for (let i = 0; i < buf.length; i += step) p.push(buf.subarray(i, i + step));
  p.end();
  return { entries, ended };
}

const sample: Array<CpioWriteEntry & { data?: Buffer }> = [
  { name: '.', type: 'dir', mode: 0o755 },
  { name: 'bin', type: 'symlink', mode: 0o777, linkname: 'usr/bin' },
  { name: 'usr', type: 'dir', mode: 0o755 },
  { name: 'usr/a', type: 'file', mode: 0o4755, data: Buffer.from('hello') },
  { name: 'usr/empty', type: 'file', mode: 0o600 },
  { name: 'usr/ünï', type: 'file', mode: 0o644, data: Buffer.from('xyz1') },
  { name: 'dev/null', type: 'chardev', mode: 0o666, rdevmajor: 1, rdevminor: 3 },
];

function assertInvalid(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof ImgportError && e.code === 'BUNDLE_INVALID' && re.test(e.message));
}

test('header encode/decode round trip, uppercase hex like GNU cpio', () => {
  const fields = { ino: 0x20c0fe, mode: 0o100644, uid: 0, gid: 1000, nlink: 2, mtime: 0xffffffff, filesize: 3, devmajor: 253, devminor: 1, rdevmajor: 0, rdevminor: 0 };
  const buf = encodeCpioHeader(fields, 'a/f');
  assert.equal(buf.length % 4, 0);
  assert.equal(buf.subarray(0, 14).toString(), '0707010020C0FE');
  assert.deepEqual(decodeCpioHeader(buf), { ...fields, crc: false, namesize: 4, check: 0 });
  assert.equal(pad4(110 + 4), 2);
});

test('every entry and its data arrive whole for every chunk split', () => {
  const buf = encodeCpioArchive(sample);
  const whole = parse(buf);
  assert.equal(whole.ended, true);
  assert.deepEqual(
    whole.entries.map((e) => [e.name, e.type, e.mode, e.linkname ?? e.data]),
    [
      ['.', 'dir', 0o755, ''],
      ['bin', 'symlink', 0o777, 'usr/bin'],
      ['usr', 'dir', 0o755, ''],
      ['usr/a', 'file', 0o4755, 'hello'],
      ['usr/empty', 'file', 0o600, ''],
      ['usr/ünï', 'file', 0o644, 'xyz1'],
      ['dev/null', 'chardev', 0o666, ''],
    ],
  );
  for (const step of [1, 2, 3, 7, 64, 111]) assert.deepEqual(parse(buf, step), whole, `step ${step}`);
});

test('data is delivered as views of the pushed chunk, not copies', () => {
  const buf = encodeCpioArchive([{ name: 'f', type: 'file', mode: 0o644, data: Buffer.alloc(1000, 7) }]);
  const views: Buffer[] = [];
  const p = new CpioParser({ entry() {}, data: (c) => views.push(c), entryEnd() {}, end() {} });
  p.push(buf);
  p.end();
  assert.equal(views.length, 1);
  assert.equal(views[0]!.buffer, buf.buffer);
});

test('070702 crc variant: checksum verified', () => {
  const data = Buffer.from([0xff, 0x01, 0x80]);
  const good = Buffer.concat([
    encodeCpioHeader({ crc: true, check: 0x180, ino: 1, mode: 0o100644, uid: 0, gid: 0, nlink: 1, mtime: 0, filesize: 3, devmajor: 0, devminor: 0, rdevmajor: 0, rdevminor: 0 }, 'f'),
    data,
    Buffer.alloc(1),
    encodeCpioArchive([]),
  ]);
  assert.equal(parse(good).entries[0]!.data, data.toString('latin1'));
  const bad = Buffer.from(good);
  bad[110 + 2 + 2] = 0x00; // corrupt the first data byte (header 110 + name "f\0" + 2 pad)
  assertInvalid(() => parse(bad), /checksum/);
});

test('bad magic is rejected with its offset', () => {
  const buf = encodeCpioArchive(sample);
  const second = encodeCpioEntry(sample[0]!).length;
  buf.write('070707', second, 'latin1');
  assertInvalid(() => parse(buf), new RegExp(`bad magic "070707" at offset ${second}.*odc`));
});

test('non-hex field is rejected', () => {
  const buf = encodeCpioArchive(sample);
  buf.write('0000z000', 6 + 8 * 3, 'latin1'); // gid
  assertInvalid(() => parse(buf), /field gid is not hex at offset 30/);
});

test('absurd namesize is rejected before anything is buffered', () => {
  const buf = encodeCpioArchive(sample);
  buf.write('FFFFFFFF', 6 + 8 * 11, 'latin1');
  assertInvalid(() => parse(buf, 200), /namesize 4294967295 exceeds/);
});

test('name without NUL terminator is rejected', () => {
  const buf = encodeCpioArchive([{ name: 'abc', type: 'file', mode: 0o644 }]);
  buf[110 + 3] = 0x41;
  assertInvalid(() => parse(buf), /not NUL-terminated/);
});

test('truncation mid-header, mid-name and mid-data is reported at end()', () => {
  const buf = encodeCpioArchive([{ name: 'file', type: 'file', mode: 0o644, data: Buffer.alloc(100, 1) }]);
  for (const cut of [50, 112, 150, buf.length - 200]) {
    assertInvalid(() => parse(buf.subarray(0, cut)), /truncated archive/);
  }
  assertInvalid(() => parse(buf.subarray(0, 150)), /inside entry "file"/);
});

test('unknown file type and data on a directory are rejected', () => {
  assertInvalid(() => parse(encodeCpioArchive([{ name: 'x', type: 'dir', mode: 0o755, data: Buffer.from('zz') }])), /dir with 2 bytes/);
  const buf = encodeCpioArchive([{ name: 'x', type: 'file', mode: 0o644 }]);
  buf.write('0000F1A4', 6 + 8, 'latin1');
  assertInvalid(() => parse(buf), /unknown file type/);
});

test('bytes after the trailer (block padding) are ignored', () => {
  const buf = Buffer.concat([encodeCpioArchive(sample), Buffer.alloc(1024)]);
  assert.equal(parse(buf, 100).entries.length, sample.length);
});
