/**
 * Uploads go to `<IMGPORT_DATA>/spool`: streamed to `<random>.part` while hashed and counted
 * (never held in memory), then renamed to `<random>.bundle`: one spool file per job, which the
 * worker removes when that job is over (identical uploads still get one deterministic job id
 * while that job is unfinished; the duplicate's file is dropped). Any failure — the size limit, a
 * disk error, the client going away — removes the partial file; `.part` files an API killed
 * mid-upload left are swept by sweepSpool.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, link, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
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
  // Not pipeline(body, ...): a refused upload must leave the request open, so that the answer
  // still reaches the client while what it sends on is drained (see errors.ts).
  const written = pipeline(meter, createWriteStream(part, { flags: 'wx', mode: 0o640 }));
  const gone = () => {
    if (!body.readableEnded) meter.destroy(new Error('the client closed the connection'));
  };
  const failed = (err: Error) => meter.destroy(err);
  body.once('close', gone).once('error', failed).pipe(meter);
  try {
    await written;
  } catch (err) {
    body.unpipe(meter);
    await rm(part, { force: true });
    // The client went away: not a server error, and nobody is left to read the answer.
    if (body.destroyed && (body as { complete?: boolean }).complete === false && !(err instanceof ImgportError)) {
      throw new ImgportError('BAD_REQUEST', `upload aborted by the client after ${size} bytes`, { cause: err });
    }
    throw err;
  } finally {
    body.off('close', gone).off('error', failed);
  }
  if (size === 0) {
    await rm(part, { force: true });
    throw new ImgportError('BAD_REQUEST', 'body: empty upload (send the bundle bytes)');
  }
  return keep(part, dir, hash.digest('hex'), size);
}

async function keep(part: string, dir: string, sha256: string, size: number): Promise<Spooled> {
  const final = join(dir, `${randomUUID()}.bundle`);
  await rename(part, final);
  return { path: final, sha256, size, created: true };
}

/** Removes `.part` files not written to for `maxAgeMs` (an API killed during an upload). */
export async function sweepSpool(dir: string, maxAgeMs: number, now = Date.now()): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.endsWith('.part')) continue;
    const p = join(dir, name);
    const st = await stat(p).catch(() => undefined);
    if (st && now - st.mtimeMs > maxAgeMs) {
      await rm(p, { force: true });
      removed.push(p);
    }
  }
  return removed;
}

/**
 * Puts a bundle the server already holds (a snapshot) into the spool as its job's own
 * `<random>.bundle`: a hard link (same filesystem under IMGPORT_DATA, no copy), or a copy across
 * filesystems. The worker removes it when the job is done; that removes the link, not the snapshot.
 */
export async function spoolFile(src: string, dir: string, sha256: string, size: number): Promise<Spooled> {
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const final = join(dir, `${randomUUID()}.bundle`);
  try {
    await link(src, final);
    return { path: final, sha256, size, created: true };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM') throw err;
  }
  const part = join(dir, `${randomUUID()}.part`);
  try {
    await copyFile(src, part);
  } catch (err) {
    await rm(part, { force: true });
    throw err;
  }
  return keep(part, dir, sha256, size);
}
