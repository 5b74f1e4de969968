import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ImgportError } from '@imgport/runtime';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decompressError, decompressed, igzip, programFile } from './decompress.js';

// Both inflaters, one after the other: zlib, and igzip where installed (CI installs it).
const saved = process.env.IMGPORT_IGZIP;
after(() => (saved === undefined ? delete process.env.IMGPORT_IGZIP : (process.env.IMGPORT_IGZIP = saved)));
const backends: Array<[string, string]> = [['zlib', '0']];
if (igzip()) backends.push(['igzip', '1']);
else if (process.env.CI) throw new Error('igzip is not installed (apt-get install isal): CI tests both inflaters');

async function inflate(data: Buffer): Promise<{ out: Buffer; bytesIn: number }> {
  const counter = { bytesIn: 0 };
  const chunks: Buffer[] = [];
  try {
    for await (const c of decompressed(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), 'gzip', counter, undefined, { igzip: true })) chunks.push(c as Buffer);
  } catch (err) {
    throw decompressError(err);
  }
  return { out: Buffer.concat(chunks), bytesIn: counter.bytesIn };
}

const text = Buffer.from(Array.from({ length: 200_000 }, (_, i) => `line ${i % 977}\n`).join(''));
const noise = randomBytes(300_000);

for (const [name, env] of backends) {
  test(`${name}: inflates what gzip wrote, several members joined included, counting the bytes read`, async () => {
    process.env.IMGPORT_IGZIP = env;
    const one = await inflate(gzipSync(text));
    assert.ok(one.out.equals(text));
    assert.equal(one.bytesIn, gzipSync(text).length);
    const joined = Buffer.concat([gzipSync(text), gzipSync(noise)]);
    assert.ok((await inflate(joined)).out.equals(Buffer.concat([text, noise])));
  });

  test(`${name}: inflates what GNU gzip -9 (with a file name in its header) and pigz (blocks of its own) wrote`, async () => {
    process.env.IMGPORT_IGZIP = env;
    const data = Buffer.concat([text, noise, text]);
    for (const [cmd, args] of [['gzip', ['-9', '-c', '-N']], ['pigz', ['-c', '-b', '128', '-p', '2']]] as const) {
      const made = spawnSync(cmd, [...args], { input: data, maxBuffer: 64 << 20 });
      assert.equal(made.status, 0, `${cmd}: ${made.stderr}`);
      assert.ok((await inflate(made.stdout)).out.equals(data), cmd);
    }
  });

  if (name === 'igzip') {
    test('igzip killed by someone else while it inflates is IO_ERROR (try again), not a broken bundle', async () => {
      process.env.IMGPORT_IGZIP = env;
      // The first part goes in, then the input waits: igzip is running when it is killed.
      const input = new Readable({ read: () => undefined });
      input.push(gzipSync(Buffer.concat([noise, noise])).subarray(0, 100_000));
      const stream = decompressed(input, 'gzip', { bytesIn: 0 }, undefined, { igzip: true });
      const read = (async () => {
        for await (const chunk of stream) assert.ok((chunk as Buffer).length > 0);
      })();
      const pid = await childNamed('igzip');
      process.kill(pid, 'SIGKILL');
      await assert.rejects(read, (e: unknown) => e instanceof ImgportError && e.code === 'IO_ERROR' && /igzip was killed \(SIGKILL\)/.test(e.message));
      input.destroy();
    });
  }

  test(`${name}: truncated or corrupt data is BUNDLE_INVALID saying which`, async () => {
    process.env.IMGPORT_IGZIP = env;
    const gz = gzipSync(noise);
    await assert.rejects(inflate(gz.subarray(0, gz.length - 100)), (e: unknown) => e instanceof ImgportError && e.code === 'BUNDLE_INVALID' && /^gzip: truncated data/.test(e.message));
    const flipped = Buffer.from(gz);
    flipped[flipped.length >> 1]! ^= 0xff;
    await assert.rejects(inflate(flipped), (e: unknown) => e instanceof ImgportError && e.code === 'BUNDLE_INVALID' && /^gzip: /.test(e.message));
    const badCrc = Buffer.from(gz);
    badCrc[badCrc.length - 6]! ^= 0xff;
    await assert.rejects(inflate(badCrc), (e: unknown) => e instanceof ImgportError && e.code === 'BUNDLE_INVALID');
  });
}

/** A file with `data`, removed when the test ends. */
function fileOf(t: { after(fn: () => void): void }, name: string, data: Buffer): string {
  const dir = mkdtempSync(join(tmpdir(), 'program-file-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, name), data);
  return join(dir, name);
}

async function drain(f: NonNullable<ReturnType<typeof programFile>>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of f.stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test('a local gzip or xz file is inflated by the program reading it, its progress read off the descriptor', { skip: igzip() ? false : 'igzip is not installed' }, async (t) => {
  process.env.IMGPORT_IGZIP = '1';
  const data = Buffer.concat([text, noise, text, noise]);
  const gz = spawnSync('gzip', ['-6', '-c'], { input: data, maxBuffer: 64 << 20 }).stdout;
  const xz = spawnSync('xz', ['-1', '-c'], { input: data, maxBuffer: 64 << 20 }).stdout;
  for (const [name, bytes, compression] of [['b.tgz', gz, 'gzip'], ['b.txz', xz, 'xz']] as const) {
    const f = programFile(fileOf(t, name, bytes), 1 << 30, 'the bundle');
    assert.ok(f, name);
    assert.equal(f.compression, compression);
    assert.ok((await drain(f)).equals(data), name);
    // The program read it all; what it has inflated is never said to be more than that.
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(f.read(), bytes.length, name);
    assert.ok(f.consumed() <= f.read() && f.consumed() >= bytes.length - (1 << 21), name);
  }
});

test('a local file: plain tar, IMGPORT_IGZIP=0 and an oversized file are not for the program; damage is BUNDLE_INVALID', { skip: igzip() ? false : 'igzip is not installed' }, async (t) => {
  process.env.IMGPORT_IGZIP = '1';
  assert.equal(programFile(fileOf(t, 'plain.tar', text), 1 << 30, 'the bundle'), undefined);
  // A FIFO where a file was expected: refused at once, not waited on for a writer.
  const fifo = `${fileOf(t, 'x', Buffer.alloc(0))}.fifo`;
  spawnSync('mkfifo', [fifo]);
  assert.equal(programFile(fifo, 1 << 30, 'the bundle'), undefined);
  const gz = gzipSync(noise);
  process.env.IMGPORT_IGZIP = '0';
  assert.equal(programFile(fileOf(t, 'zlib.tgz', gz), 1 << 30, 'the bundle'), undefined);
  process.env.IMGPORT_IGZIP = '1';
  assert.throws(() => programFile(fileOf(t, 'big.tgz', gz), 1000, 'the bundle'), (e: unknown) => e instanceof ImgportError && e.code === 'LIMIT_EXCEEDED' && /the bundle is larger than the limit of 1000 bytes/.test(e.message));
  const cut = programFile(fileOf(t, 'cut.tgz', gz.subarray(0, gz.length - 100)), 1 << 30, 'the bundle');
  await assert.rejects(drain(cut!), (e: unknown) => e instanceof ImgportError && e.code === 'BUNDLE_INVALID' && /^gzip: truncated data/.test(e.message));
});

test('a local file given up on stops its program at once', { skip: igzip() ? false : 'igzip is not installed' }, async (t) => {
  process.env.IMGPORT_IGZIP = '1';
  const path = fileOf(t, 'zeros.gz', gzipSync(Buffer.alloc(256 << 20, 7)));
  const f = programFile(path, 1 << 30, 'the bundle')!;
  assert.deepEqual(holders(path).length, 2, 'this process and the program hold it while it runs');
  for await (const c of f.stream) {
    assert.ok((c as Buffer).length > 0);
    break;
  }
  // Ended early: the program is killed and the descriptor closed, long before 256 MiB are out.
  for (let i = 0; i < 100 && holders(path).length > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(holders(path), []);
});

/** The processes with `path` open (from /proc). */
function holders(path: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === path) found.push(pid);
      } catch {
        // Gone meanwhile.
      }
    }
  }
  return found;
}

/** The pid of this process's child running `comm`, once it is there. */
async function childNamed(comm: string): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const out = spawnSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' }).stdout;
    const line = out.split('\n').find((l) => l.trim().endsWith(` ${comm}`));
    if (line) return Number(line.trim().split(/\s+/)[0]);
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no ${comm} child appeared`);
}
