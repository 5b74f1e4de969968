import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PipeFeed } from './pipe-feed.js';

const dir = fs.mkdtempSync(join(tmpdir(), 'imgport-pipefeed-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const PIECE = 512 * 1024;

/** A program reading the feed's pipe as its stdin (the read end closed here once it runs). */
async function withReader(cmd: string, args: string[]): Promise<{ feed: PipeFeed; output: Promise<{ out: Buffer; code: number | null }> }> {
  const opened = await PipeFeed.open(dir);
  assert.ok(opened, 'a FIFO can be made in a temp directory');
  const child = spawn(cmd, args, { stdio: [opened.readFd, 'pipe', 'inherit'] });
  fs.closeSync(opened.readFd);
  const parts: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => parts.push(d));
  const output = new Promise<{ out: Buffer; code: number | null }>((resolve) => child.on('close', (code) => resolve({ out: Buffer.concat(parts), code })));
  return { feed: opened.feed, output };
}

async function feedAll(feed: PipeFeed, data: Buffer, chunks: number[]): Promise<void> {
  for (let off = 0, i = 0; off < data.length; i++) {
    const len = Math.min(chunks[i % chunks.length]!, data.length - off);
    const wait = feed.write(data.subarray(off, off + len));
    if (wait) await wait;
    off += len;
  }
  await feed.end();
}

test('every size around the buffer reaches the program whole and in order, and the program sees the end', async () => {
  for (const size of [0, 1, PIECE - 1, PIECE, PIECE + 1, 2 * PIECE, 5 * PIECE + 12345]) {
    const data = randomBytes(size);
    const { feed, output } = await withReader('sha256sum', []);
    await feedAll(feed, data, [65536, 7, 700000, 4096]);
    const { out, code } = await output;
    assert.equal(code, 0);
    assert.equal(out.toString().split(' ')[0], createHash('sha256').update(data).digest('hex'), `${size} bytes`);
    assert.equal(feed.fed, size, 'fed counts what the pipe took');
  }
});

test('the FIFO is gone from the directory once both ends are open', async () => {
  const { feed, output } = await withReader('cat', []);
  assert.deepEqual(fs.readdirSync(dir).filter((n) => n.startsWith('.feed-')), []);
  await feed.end();
  await output;
});

test('a program that stops reading makes the feed fail with EPIPE, and it still closes', async () => {
  const { feed, output } = await withReader('head', ['-c', '1000']);
  const data = randomBytes(8 * PIECE);
  await assert.rejects(feedAll(feed, data, [PIECE]), (err: NodeJS.ErrnoException) => err.code === 'EPIPE');
  // After the failure a late write is refused (EPIPE again, or EBADF once end() has closed), not sent.
  assert.throws(() => feed.write(Buffer.from('late')), (err: NodeJS.ErrnoException) => err.code === 'EBADF' || err.code === 'EPIPE');
  await feed.close();
  const { out } = await output;
  assert.equal(out.length, 1000);
  assert.ok(feed.fed < data.length, 'not everything was taken');
});

test('a write after close is refused (EBADF) instead of reaching whatever has the descriptor now', async () => {
  const { feed, output } = await withReader('cat', []);
  await feed.close();
  await output;
  assert.throws(() => feed.write(Buffer.from('late')), (err: NodeJS.ErrnoException) => err.code === 'EBADF');
  await feed.close(); // a second close does nothing
});

test('no FIFO where none can be made: undefined, so the caller feeds the program another way', async () => {
  assert.equal(await PipeFeed.open(join(dir, 'missing', 'deeper')), undefined);
});
