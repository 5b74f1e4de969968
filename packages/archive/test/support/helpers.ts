/** Helpers for this package's tests: temp dirs, archives built in memory, expansion outcomes. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { encodeCpioArchive } from '@imgport/format';
import type { CpioWriteEntry } from '@imgport/format';
import { ImgportError } from '@imgport/runtime';
import tarStream from 'tar-stream';
import type { Header } from 'tar-stream';

/** A fresh temp dir, removed when the test ends. */
export function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imgport-archive-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export type CpioSpec = CpioWriteEntry & { data?: Buffer | string };

export function cpioGz(entries: CpioSpec[]): Buffer {
  return gzipSync(cpioRaw(entries));
}

export function cpioRaw(entries: CpioSpec[]): Buffer {
  return encodeCpioArchive(entries.map((e) => ({ ...e, data: typeof e.data === 'string' ? Buffer.from(e.data) : e.data })));
}

export type TarSpec = Partial<Header> & { name: string; pax?: Record<string, string>; data?: Buffer | string };

export async function tarRaw(entries: TarSpec[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const out: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) out.push(c as Buffer);
  })();
  for (const { data, ...h } of entries) {
    await new Promise<void>((resolve, reject) => pack.entry(h as Header, data ?? '', (err) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  await done;
  return Buffer.concat(out);
}

export function streamOf(buf: Buffer, chunk = 65536): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += chunk) parts.push(buf.subarray(i, i + chunk));
  return Readable.from(parts, { objectMode: false });
}

/** Asserts the promise rejects with ImgportError `code` (and a message matching `re`). */
export async function rejectsWith(p: Promise<unknown>, code: string, re?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ImgportError, `not an ImgportError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return true;
  });
}

export function listDir(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

export const dir = (name: string, mode = 0o755): CpioSpec => ({ name, type: 'dir', mode });
export const file = (name: string, data: string | Buffer = '', mode = 0o644): CpioSpec => ({ name, type: 'file', mode, data });
export const symlink = (name: string, target: string): CpioSpec => ({ name, type: 'symlink', mode: 0o777, linkname: target });

/** Bytes of `file` in the page cache, as fincore(1) (util-linux) counts them. */
export function cachedBytes(file: string): number {
  const r = spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout.trim());
}
