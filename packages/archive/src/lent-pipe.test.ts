import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { chunksOf } from './decompress.js';
import { LentPipe } from './lent-pipe.js';
import { sniffContainer } from './rootimg-containers.js';

const base = mkdtempSync(join(tmpdir(), 'imgport-lent-'));
after(() => rmSync(base, { recursive: true, force: true }));

/** `cat file` writing into a lent pipe; the stream ends (lent.end) once cat exits 0. */
async function catInto(file: string): Promise<{ lent: LentPipe; child: ReturnType<typeof spawn> }> {
  const lent = await LentPipe.open();
  assert.ok(lent, 'a local socket can be made here');
  const child = spawn('cat', [file], { stdio: ['ignore', lent.out, 'ignore'] });
  lent.started();
  child.on('close', (code) => (code === 0 ? lent.end() : lent.stream.destroy(new Error(`cat exited ${code}`))));
  return { lent, child };
}

test('a program\'s output arrives whole and in order through a few buffers that are lent and given back', async () => {
  const data = randomBytes(24 << 20);
  const file = join(base, 'data');
  writeFileSync(file, data);
  const { lent } = await catInto(file);
  const hash = createHash('sha256');
  const buffers = new Set<ArrayBufferLike>();
  let bytes = 0;
  let chunks = 0;
  for await (const c of chunksOf(lent.stream, (c) => lent.give(c))) {
    hash.update(c);
    buffers.add(c.buffer);
    bytes += c.length;
    chunks++;
    // A slow consumer now and then: the reading stops and starts again.
    if (chunks % 16 === 0) await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(bytes, data.length);
  assert.equal(hash.digest('hex'), createHash('sha256').update(data).digest('hex'));
  assert.ok(buffers.size <= 8, `${buffers.size} distinct buffers for ${chunks} chunks`);
});

test('a consumer that holds its chunk holds the program: read-ahead is bounded', async () => {
  const file = join(base, 'big');
  writeFileSync(file, randomBytes(32 << 20));
  const { lent, child } = await catInto(file);
  const it = chunksOf(lent.stream, (c) => lent.give(c))[Symbol.asyncIterator]();
  await it.next();
  // Nothing is given back for a while: 32 MiB cannot all have been read into 2 MiB of buffers.
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(child.exitCode, null, 'cat is still waiting to write');
  let rest = 0;
  for (let r = await it.next(); !r.done; r = await it.next()) rest += r.value.length;
  assert.ok(rest > 30 << 20);
  assert.equal(child.exitCode, 0);
});

test('the data ends only once the program has exited successfully; a failure after its last byte is still one', async () => {
  const lent = (await LentPipe.open())!;
  const child = spawn('sh', ['-c', 'printf partial; exit 3'], { stdio: ['ignore', lent.out, 'ignore'] });
  lent.started();
  child.on('close', (code) => (code === 0 ? lent.end() : lent.stream.destroy(new Error(`exited ${code}`))));
  const got: string[] = [];
  await assert.rejects(
    (async () => {
      for await (const c of chunksOf(lent.stream, (c) => lent.give(c))) got.push(c.toString());
    })(),
    /exited 3/,
  );
  assert.deepEqual(got, ['partial']);
});

test('the meeting place goes at once; with no usable temporary directory there is no lent pipe (the caller reads the program otherwise)', async () => {
  const saved = process.env.TMPDIR;
  const tmp = mkdtempSync(join(base, 'tmp-'));
  try {
    process.env.TMPDIR = tmp;
    const lent = await LentPipe.open();
    assert.ok(lent);
    assert.deepEqual(readdirSync(tmp), [], 'no socket or directory is left behind');
    lent.started();
    lent.close();
    process.env.TMPDIR = join(base, 'missing');
    assert.equal(await LentPipe.open(), undefined);
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
});

test('the container is told from copies: a head built from lent chunks survives their reuse', async () => {
  // One buffer, overwritten for every chunk, as a lent pipe may do once a chunk is asked past.
  const cpio = Buffer.from(`070701${'0'.repeat(300)}`, 'latin1');
  const reused = Buffer.alloc(100);
  async function* lentChunks(): AsyncGenerator<Buffer> {
    for (let off = 0; off < cpio.length; off += 100) {
      const n = cpio.copy(reused, 0, off, off + 100);
      yield reused.subarray(0, n);
      reused.fill(0x78);
    }
  }
  const sniffed = await sniffContainer(lentChunks());
  assert.equal(sniffed.kind, 'cpio');
  const all: Buffer[] = [];
  for await (const c of sniffed.chunks) all.push(Buffer.from(c));
  assert.ok(Buffer.concat(all).equals(cpio));
});
