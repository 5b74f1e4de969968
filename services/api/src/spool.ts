/**
 * Uploads go to `<IMGPORT_DATA>/spool`: streamed to `<random>.part` while hashed and counted
 * (never held in memory), then renamed to `<sha256>.bundle`, so identical uploads share one
 * file and one deterministic job id. Any failure — the size limit, a disk error, the client
 * going away — removes the partial file.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, link, mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ImgportError } from '@imgport/runtime';

export interface Spooled {
  path: string;
  sha256: string;
  size: number;
  /** false when an identical upload was already in the spool. */
  created: boolean;
}

export function spoolDir(dataDir: string): string {
  return join(dataDir, 'spool');
}

export function tooLarge(limit: number): ImgportError {
  return new ImgportError('LIMIT_EXCEEDED', `bundle is larger than the limit of ${limit} bytes (IMGPORT_MAX_BUNDLE_BYTES)`);
}

/** Rejects a declared Content-Length over the limit before a byte of the body is read. */
export function checkDeclaredLength(header: string | undefined, limit: number): void {
  if (header !== undefined && Number(header) > limit) throw tooLarge(limit);
}

export async function spoolUpload(body: Readable, dir: string, limit: number, onBytes: (n: number) => void): Promise<Spooled> {
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const part = join(dir, `${randomUUID()}.part`);
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > limit) return done(tooLarge(limit));
      hash.update(chunk);
      onBytes(chunk.length);
      done(null, chunk);
    },
  });
  try {
    await pipeline(body, meter, createWriteStream(part, { flags: 'wx', mode: 0o640 }));
  } catch (err) {
    await rm(part, { force: true });
    // The client went away: not a server error, and nobody is left to read the answer.
    if (body.destroyed && (body as { complete?: boolean }).complete === false && !(err instanceof ImgportError)) {
      throw new ImgportError('BAD_REQUEST', `upload aborted by the client after ${size} bytes`, { cause: err });
    }
    throw err;
  }
  if (size === 0) {
    await rm(part, { force: true });
    throw new ImgportError('BAD_REQUEST', 'body: empty upload (send the bundle bytes)');
  }
  return keepOne(part, join(dir, `${hash.digest('hex')}.bundle`), size);
}

async function keepOne(part: string, final: string, size: number): Promise<Spooled> {
  const sha256 = final.slice(final.lastIndexOf('/') + 1, -'.bundle'.length);
  const existing = await stat(final).catch(() => undefined);
  if (existing?.isFile() && existing.size === size) {
    await rm(part, { force: true });
    return { path: final, sha256, size, created: false };
  }
  await rename(part, final);
  return { path: final, sha256, size, created: true };
}

/**
 * Puts a bundle the server already holds (a snapshot) into the spool as `<sha256>.bundle`: a
 * hard link (same filesystem under IMGPORT_DATA, no copy), or a copy across filesystems. The
 * worker removes spooled files when their job is done; that removes the link, not the snapshot.
 */
export async function spoolFile(src: string, dir: string, sha256: string, size: number): Promise<Spooled> {
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const final = join(dir, `${sha256}.bundle`);
  try {
    await link(src, final);
    return { path: final, sha256, size, created: true };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return { path: final, sha256, size, created: false };
    if (code !== 'EXDEV' && code !== 'EPERM') throw err;
  }
  const part = join(dir, `${randomUUID()}.part`);
  try {
    await copyFile(src, part);
  } catch (err) {
    await rm(part, { force: true });
    throw err;
  }
  return keepOne(part, final, size);
}
