import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { ImgportError } from '@imgport/runtime';
import { formatSha256Sums, parseSha256Sums } from './sha256sums.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function rejects(fn: () => unknown, code: string, ...fragments: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ImgportError);
    assert.equal(err.code, code);
    for (const f of fragments) assert.ok(err.message.includes(f), `${JSON.stringify(err.message)} lacks ${f}`);
    return true;
  });
}

test('parses text and binary mode lines, normalising names and lowercasing digests', () => {
  const text = `${A}  kernel\n${B.toUpperCase()} *./rootimg.cpio.gz\n# comment\n\n${A}  extra/my script\n`;
  assert.deepEqual(
    parseSha256Sums(text),
    new Map([
      ['kernel', A],
      ['rootimg.cpio.gz', B],
      ['extra/my script', A],
    ]),
  );
  assert.deepEqual(parseSha256Sums(''), new Map());
});

test('reads coreutils escaped names', () => {
  assert.deepEqual(parseSha256Sums(`\\${A}  a\\nb\n\\${B}  c\\\\d\\re\n`), new Map([['a\nb', A], ['c\\d\re', B]]));
});

test('a malformed line is BUNDLE_INVALID naming the line', () => {
  rejects(() => parseSha256Sums(`${A}  kernel\nnot a checksum line\n`), 'BUNDLE_INVALID', 'SHA256SUMS line 2:', '"not a checksum line"');
  rejects(() => parseSha256Sums(`${A.slice(1)}  kernel\n`), 'BUNDLE_INVALID', 'SHA256SUMS line 1:');
  rejects(() => parseSha256Sums(`${A} kernel\n`), 'BUNDLE_INVALID', 'SHA256SUMS line 1:');
  rejects(() => parseSha256Sums(`${A}  \n`), 'BUNDLE_INVALID', 'SHA256SUMS line 1:');
  rejects(() => parseSha256Sums(`\\${A}  a\\tb\n`), 'BUNDLE_INVALID', 'SHA256SUMS line 1:', 'unknown escape "\\t"');
});

test('a duplicate name is BUNDLE_INVALID naming the line and the name', () => {
  rejects(() => parseSha256Sums(`${A}  kernel\n${B}  ./kernel\n`), 'BUNDLE_INVALID', 'SHA256SUMS line 2:', '"kernel" is listed twice');
});

test('an unsafe name is UNSAFE_PATH naming the line and the name', () => {
  rejects(() => parseSha256Sums(`${A}  ok\n${A}  ../../etc/passwd\n`), 'UNSAFE_PATH', 'SHA256SUMS line 2:', '"../../etc/passwd"');
  rejects(() => parseSha256Sums(`${A}  /etc/passwd\n`), 'UNSAFE_PATH', 'SHA256SUMS line 1:', '"/etc/passwd"');
});

test('formats sorted by name, two spaces, trailing newline; round-trips', () => {
  const text = formatSha256Sums([
    ['rootimg.cpio.gz', B],
    ['kernel', A],
    ['Zeta', A],
    ['a\nb', B],
  ]);
  assert.equal(text, `${A}  Zeta\n\\${B}  a\\nb\n${A}  kernel\n${B}  rootimg.cpio.gz\n`);
  assert.deepEqual(
    parseSha256Sums(text),
    new Map([
      ['Zeta', A],
      ['a\nb', B],
      ['kernel', A],
      ['rootimg.cpio.gz', B],
    ]),
  );
  assert.equal(formatSha256Sums([]), '');
});

test('format refuses names that are not normalised members, bad digests and duplicates', () => {
  rejects(() => formatSha256Sums([['./kernel', A]]), 'INTERNAL', '"./kernel"');
  rejects(() => formatSha256Sums([['../x', A]]), 'UNSAFE_PATH', '"../x"');
  rejects(() => formatSha256Sums([['kernel', 'xyz']]), 'INTERNAL', '"xyz"');
  rejects(() => formatSha256Sums([['k', A], ['k', B]]), 'INTERNAL', '"k" given twice');
});

test('sha256sum -c verifies what formatSha256Sums writes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'imgport-sums-'));
  try {
    const files: Record<string, string> = { 'manifest.cfg': 'name x\n', 'extra/my script': '#!/bin/sh\n', 'odd\\name': 'z' };
    await mkdir(join(dir, 'extra'));
    for (const [name, body] of Object.entries(files)) await writeFile(join(dir, name), body);
    const sums = formatSha256Sums(Object.entries(files).map(([name, body]) => [name, sha(body)]));
    await writeFile(join(dir, 'SHA256SUMS'), sums);
    const { stdout } = await promisify(execFile)('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dir });
    assert.equal(stdout, 'extra/my script: OK\nmanifest.cfg: OK\nodd\\name: OK\n');
    await writeFile(join(dir, 'manifest.cfg'), 'tampered\n');
    await assert.rejects(promisify(execFile)('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dir }), (err: { stdout?: string }) => {
      assert.equal(err.stdout, 'extra/my script: OK\nmanifest.cfg: FAILED\nodd\\name: OK\n');
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
