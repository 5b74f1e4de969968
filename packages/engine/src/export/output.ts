/**
 * Where an export goes and how it gets there: the destination is resolved once, the bundle is
 * streamed to a temp name in the same directory (so the final step is a rename on one
 * filesystem), hashed and counted on the way, and the temp file is removed on any failure.
 */
import { randomBytes } from 'node:crypto';
import { fsync } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { basename, dirname, join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { NewFile, OffThreadSha256 } from '@imgport/archive';
import { ImgportError } from '@imgport/runtime';

export interface Destination {
  /** Absolute path of the finished bundle. */
  path: string;
  /** Its directory: temp files and packing space go here. */
  dir: string;
}

/** Temp names we leave beside a destination while working; a crash may leave them behind. */
const LEFTOVER = /^\.imgport-(?:part|pack)\./;

export function isExportLeftover(name: string): boolean {
  return LEFTOVER.test(name);
}

/** A name in `dir` no one else will pick: `.imgport-<kind>.<bundle name>.<random>`. */
export function tempName(dest: Destination, kind: 'part' | 'pack'): string {
  return join(dest.dir, `.imgport-${kind}.${basename(dest.path)}.${randomBytes(6).toString('hex')}`);
}

/**
 * A file name or an existing directory (then `<dir>/<image>.tgz`, where stock xCAT would
 * ignore the directory); the default is `<image>.tgz` in the current directory.
 */
export async function resolveDestination(image: string, destination?: string): Promise<Destination> {
  const fallback = `${image}.tgz`;
  if (destination === undefined || destination === '') {
    const path = resolve(fallback);
    return { path, dir: dirname(path) };
  }
  const target = resolve(destination);
  const st = await stat(target).catch(() => undefined);
  if (st?.isDirectory()) return { path: join(target, fallback), dir: target };
  if (destination.endsWith('/')) {
    throw new ImgportError('BAD_REQUEST', `destination directory ${destination} does not exist`, { where: destination });
  }
  const dir = dirname(target);
  const parent = await stat(dir).catch(() => undefined);
  if (!parent?.isDirectory()) {
    throw new ImgportError('BAD_REQUEST', `destination ${destination}: directory ${dir} does not exist`, { where: destination });
  }
  return { path: target, dir };
}

/**
 * A file sink that hashes and counts what it writes and makes it durable before 'finish'. The
 * bundle goes past the page cache (NewFile): it is read again only by whoever fetches it.
 * It never emits 'error': the first failure (a write error, or the abort signal) is recorded,
 * `failed` rejects with it, and later data is dropped. A writer whose sink errors can be left
 * waiting mid-member with a source file open; one fed a sink that keeps accepting runs to its
 * end and releases everything, while the caller has already given up through `failed`.
 */
export class HashedFile extends Writable {
  readonly hash = new OffThreadSha256();
  bytes = 0;
  failure: Error | undefined;
  readonly failed: Promise<never>;
  private reject: (err: Error) => void = () => undefined;
  private readonly onAbort = () => this.fail(abortReason(this.signal!));

  constructor(
    private readonly file: NewFile,
    private readonly signal?: AbortSignal,
  ) {
    super({ highWaterMark: 1024 * 1024 });
    this.failed = new Promise<never>((_, reject) => (this.reject = reject));
    this.failed.catch(() => undefined);
    signal?.addEventListener('abort', this.onAbort, { once: true });
    if (signal?.aborted) this.onAbort();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.failure) return cb();
    // Hashed on the hashing thread while this chunk is written (both wait for the slower).
    const hashed = this.hash.update(chunk);
    this.bytes += chunk.length;
    let landing: Promise<void> | undefined;
    try {
      landing = this.file.write(chunk);
    } catch (err) {
      this.fail(err as Error);
      return cb();
    }
    Promise.all([landing, hashed]).then(
      () => cb(),
      (err: Error) => {
        this.fail(err);
        cb();
      },
    );
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.signal?.removeEventListener('abort', this.onAbort);
    if (this.failure) return cb();
    this.file
      .end()
      .then(() => fsyncP(this.file.fd))
      .then(
        () => cb(),
        (err: Error) => {
          this.fail(err);
          cb();
        },
      );
  }

  /** Stops writing: later data is dropped. */
  abandon(err: Error): void {
    this.fail(err);
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.reject(err);
  }
}

const fsyncP = promisify(fsync);

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted');
}

export interface Written<T> {
  value: T;
  bytes: number;
  sha256: string;
}

/**
 * Runs `produce` against a temp file beside the destination and renames it into place once
 * `produce` has finished the stream. Any failure removes the temp file.
 */
export async function writeAtomically<T>(
  dest: Destination,
  produce: (out: HashedFile) => Promise<T>,
  signal?: AbortSignal,
): Promise<Written<T>> {
  const temp = tempName(dest, 'part');
  const file = NewFile.create(temp, 0o644, { size: Infinity, where: dest.dir, queued: true });
  const out = new HashedFile(file, signal);
  try {
    const produced = produce(out);
    // Once `failed` has won the race, a late rejection of the writer is of no interest.
    produced.catch(() => undefined);
    const value = await Promise.race([produced, out.failed]);
    if (out.failure) throw out.failure;
    if (!out.writableFinished) throw new ImgportError('INTERNAL', `bundle writer returned before finishing ${dest.path}`);
    await file.close();
    await rename(temp, dest.path);
    return { value, bytes: out.bytes, sha256: await out.hash.digest() };
  } catch (err) {
    // A writer still running drains into a sink that now drops everything; the file can close.
    out.abandon(err instanceof Error ? err : new Error(String(err)));
    out.hash.drop();
    await file.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw err;
  }
}
