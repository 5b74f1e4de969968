/**
 * Attacks on the outer bundle itself: compression bombs, one budget shared by the bundle and its
 * root image, truncation, members that cannot be staged, odd tar types. Each hostile stream is
 * made here, fed to the real ImportService, and must fail early with a clear message.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { expandRootImage } from '@imgport/archive';
import { hostileBundle, refused, site, tarHeader, tarPad, type Site } from './helpers.js';

const MiB = 1024 * 1024;

async function tarOf(members: Array<{ name: string; data?: string; type?: 'file' | 'directory' }>): Promise<Buffer> {
  const p = pack();
  for (const m of members) p.entry({ name: m.name, type: m.type ?? 'file' }, m.data ?? '');
  p.finalize();
  const parts: Buffer[] = [];
  for await (const c of p) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe('bundle attacks', () => {
  let s: Site;
  beforeEach(async () => {
    s = await site();
  });
  afterEach(async () => {
    await s.close();
  });

  test('outer bundle bomb (4 GiB of zeros in a 4 MB bundle) stops at the ratio limit, early', async () => {
    // gzip members concatenate into one valid gzip stream: a tar header, then 4096 × 1 MiB of zeros.
    const zeros = gzipSync(Buffer.alloc(MiB), { level: 9 });
    const parts = [gzipSync(tarHeader('kernel', 4096 * MiB))];
    for (let i = 0; i < 4096; i++) parts.push(zeros);
    const bundle = Buffer.concat(parts);
    assert.ok(bundle.length < 5 * MiB, `the bomb is ${bundle.length} bytes`);
    const err = await refused(s.service().run(Readable.from([bundle])), 'LIMIT_EXCEEDED', /maxRatio: the bundle expands \d+-fold/);
    const written = Number(/\((\d+) bytes written/.exec(err.message)?.[1]);
    assert.ok(written < 100 * MiB, `stopped after ${written} bytes`);
    assert.deepEqual(readdirSync(s.root), []);
  });

  test('a bundle and its root image share one expanded-bytes budget', async () => {
    const blob = randomBytes(1.5 * MiB).toString('latin1');
    const spec = {
      name: 'img-big',
      tree: (t: string) => {
        mkdirSync(join(t, 'opt'));
        writeFileSync(join(t, 'opt/blob'), randomBytes(2.5 * MiB));
      },
      extras: [{ file: 'blob', content: blob, dest: '/install/postscripts' }],
    };
    const bundle = await hostileBundle(s.dir, spec);
    // Members alone (about 4 MiB) and the expansion alone (2.5 MiB) are each under 5 MiB; together not.
    await refused(s.service({ limits: { maxExpandedBytes: 5 * MiB } }).run(bundle), 'LIMIT_EXCEEDED', /maxExpandedBytes: the bundle would write more than 5242880 bytes in all/);
    assert.deepEqual(readdirSync(s.root), []);
    const r = await s.service({ limits: { maxExpandedBytes: 8 * MiB } }).run(bundle);
    assert.equal(r.name, 'img-big');
  });

  test('truncated huge member is a clear BUNDLE_INVALID, not "Unexpected end of data"', async () => {
    const bundle = gzipSync(Buffer.concat([tarHeader('kernel', 1024 * MiB), Buffer.alloc(MiB, 1)]));
    await refused(s.service().run(Readable.from([bundle])), 'BUNDLE_INVALID', /the bundle ends in member "kernel": it is truncated/);
    assert.deepEqual(readdirSync(s.root), []);
  });

  test('truncated tar root image is a clear BUNDLE_INVALID naming the entry, not "[INTERNAL] Unexpected end of data"', async () => {
    const dest = join(s.dir, 'x/rootimg');
    const tar = gzipSync(Buffer.concat([tarHeader('usr/lib/big.so', 1024 * MiB), Buffer.alloc(MiB, 1)]));
    await refused(expandRootImage(Readable.from([tar]), dest), 'BUNDLE_INVALID', /tar root image: ends in entry "usr\/lib\/big\.so": it is truncated/);
  });

  test('bundle member file x then x/y is refused naming both, not "mkdir failed: EEXIST"', async () => {
    const bundle = gzipSync(await tarOf([{ name: 'x', data: 'a file' }, { name: 'x/y', data: 'below it' }]));
    await refused(s.service().run(Readable.from([bundle])), 'BUNDLE_INVALID', /"x\/y" lies below "x", which is a file/);
  });

  test('bundle member directory contents then a file of the same name is refused', async () => {
    const bundle = gzipSync(await tarOf([{ name: 'x/y', data: 'below' }, { name: 'x', data: 'a file' }]));
    await refused(s.service().run(Readable.from([bundle])), 'BUNDLE_INVALID', /"x" is a file, but earlier members are below it/);
  });

  test('bundle member of an unknown tar type is named clearly, not "is a unknown type"', async () => {
    const bundle = gzipSync(Buffer.concat([tarHeader('odd', 0, 'Z'), Buffer.alloc(1024)]));
    const err = await refused(s.service().run(Readable.from([bundle])), 'BUNDLE_INVALID', /"odd" is of a tar entry type imgport does not know/);
    assert.doesNotMatch(err.message, /a unknown/);
  });

  test('a device node as a bundle member is refused, naming its type', async () => {
    const bundle = gzipSync(Buffer.concat([tarHeader('dev', 0, '3'), tarPad(0), Buffer.alloc(1024)]));
    await refused(s.service().run(Readable.from([bundle])), 'BUNDLE_INVALID', /"dev" is a character device/);
  });
});
