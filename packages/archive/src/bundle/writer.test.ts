import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeBundle, type BundleEntry } from './writer.js';

const dir = mkdtempSync(join(tmpdir(), 'imgport-writer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const text = 'line of a text file that compresses well\n'.repeat(2000);

async function write(name: string, entries: BundleEntry[], opts = {}): Promise<string> {
  const out = join(dir, name);
  await writeBundle(createWriteStream(out), entries, opts);
  return out;
}

test('members in order, SHA256SUMS last, verified by sha256sum -c', async () => {
  writeFileSync(join(dir, 'big'), text);
  const out = await write('a.tgz', [
    { name: 'manifest.cfg', source: { data: 'name x\n' } },
    { name: 'extra', source: { dir: true } },
    { name: 'extra/big', source: { file: join(dir, 'big') } },
  ]);
  assert.deepEqual(execFileSync('tar', ['tzf', out], { encoding: 'utf8' }).trim().split('\n'), ['manifest.cfg', 'extra', 'extra/big', 'SHA256SUMS']);
  const x = join(dir, 'x');
  mkdirSync(x);
  execFileSync('tar', ['xzf', out, '-C', x]);
  assert.match(execFileSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: x, encoding: 'utf8' }), /extra\/big: OK\nmanifest.cfg: OK/);
  assert.equal(readFileSync(join(x, 'extra/big'), 'utf8'), text);
});

test('text is deflated; with precompressed members the outer gzip only stores', async () => {
  const deflated = await write('b.tgz', [{ name: 'a', source: { data: text } }]);
  const stored = await write('c.tgz', [{ name: 'a', source: { data: text } }, { name: 'k', source: { data: 'k' }, precompressed: true }]);
  assert.ok(statSync(deflated).size < text.length / 10, 'deflated');
  assert.ok(statSync(stored).size > text.length, 'stored, not deflated again');
  execFileSync('gzip', ['-t', stored]);
});

test('a prefix puts every member, SHA256SUMS included, in one directory; none writes plain tar', async () => {
  const out = await write('d.tar', [{ name: 'manifest.xml', source: { data: '<xcatimage/>' } }], { prefix: 'img/', compression: 'none' });
  assert.deepEqual(execFileSync('tar', ['tf', out], { encoding: 'utf8' }).trim().split('\n'), ['img/manifest.xml', 'img/SHA256SUMS']);
});

test('a missing source file fails the write, and the output is let go when it does', async () => {
  const sink = createWriteStream(join(dir, 'e.tgz'));
  await assert.rejects(writeBundle(sink, [{ name: 'x', source: { data: 'x' } }, { name: 'gone', source: { file: join(dir, 'nope') } }]), /ENOENT/);
  // Nothing is still writing there (an open sink once raced the test's cleanup of the directory).
  assert.equal(sink.destroyed, true);
});
