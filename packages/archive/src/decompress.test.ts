import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ImgportError } from '@imgport/runtime';
import { decompressError, decompressed, igzip } from './decompress.js';

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
