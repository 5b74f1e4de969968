/**
 * Objects: `<store>/objects/<2 hex>/<62 hex>` keyed by the SHA-256 of their content only (no
 * mode, owner or name goes into the key, so a chmod never duplicates content). An object is
 * stored raw (`<digest>`, reflinked from the source where the filesystem can) or deflated
 * (`<digest>.z`) when that saves at least a tenth. Every write goes to a temp name in the same
 * directory and is renamed into place, so an object is absent or complete; two writers of the
 * same object race harmlessly (same bytes). Objects are not fsynced as they are written: the
 * writer of a ref flushes them (`flush`) before the ref that names them is written — file by
 * file when they are few (an unchanged or nightly snapshot: a filesystem-wide sync would also
 * wait for every other writer's dirty data), the whole filesystem once when they are many.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { constants, closeSync, copyFileSync, createReadStream, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { ImgportError } from '@imgport/runtime';

const HEX64 = /^[0-9a-f]{64}$/;
const FSYNC_EACH_MAX = 256;

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function isDigest(s: unknown): s is string {
  return typeof s === 'string' && HEX64.test(s);
}

export interface PutResult {
  digest: string;
  /** Bytes this call added to the store (0 when the object was there). */
  added: number;
}

export class ObjectStore {
  readonly dir: string;
  /** Compress objects (default on); off keeps every object raw, reflinkable. */
  compress = true;
  /** Objects written since the last flush. */
  private unsynced: string[] = [];

  constructor(storeRoot: string) {
    this.dir = join(storeRoot, 'objects');
  }

  path(digest: string): string {
    if (!isDigest(digest)) throw new ImgportError('BAD_REQUEST', `not an object digest: ${JSON.stringify(String(digest).slice(0, 80))}`);
    return join(this.dir, digest.slice(0, 2), digest.slice(2));
  }

  /** The file holding the object and whether it is deflated, or undefined when absent. */
  locate(digest: string): { file: string; deflated: boolean } | undefined {
    const raw = this.path(digest);
    if (existsSync(raw)) return { file: raw, deflated: false };
    if (existsSync(`${raw}.z`)) return { file: `${raw}.z`, deflated: true };
    return undefined;
  }

  has(digest: string): boolean {
    return this.locate(digest) !== undefined;
  }

  /** Bytes on disk of one object (0 when absent). */
  diskBytes(digest: string): number {
    const at = this.locate(digest);
    return at ? statSync(at.file).size : 0;
  }

  /** The content; verified against its name when `verify`. */
  read(digest: string, verify = false): Buffer {
    const at = this.locate(digest);
    if (!at) throw new ImgportError('FILE_MISSING', `store object ${digest} is missing (run imgport store fsck)`, { where: digest });
    const raw = readFileSync(at.file);
    const data = at.deflated ? inflateRawSync(raw) : raw;
    if (verify && sha256(data) !== digest) {
      throw new ImgportError('CHECKSUM_MISMATCH', `store object ${digest} is corrupt (its content hashes to ${sha256(data)}; run imgport store fsck --repair)`, {
        where: at.file,
      });
    }
    return data;
  }

  /**
   * The content as a stream, checked against its name: a raw object is hashed as it streams and
   * the stream fails at its end when the content is not what the name says (a reader acts only
   * once the stream ended cleanly, as a revert commits only after its tree was read to the end).
   */
  openVerified(digest: string, what: string): Readable {
    const at = this.locate(digest);
    if (!at) throw new ImgportError('FILE_MISSING', `${what}: object ${digest} is missing (run imgport store fsck)`, { where: digest });
    if (at.deflated) return Readable.from([this.read(digest, true)]);
    const hash = createHash('sha256');
    const check = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        done(null, chunk);
      },
      flush(done) {
        const got = hash.digest('hex');
        done(got === digest ? null : new ImgportError('CHECKSUM_MISMATCH', `${what}: object ${digest} is corrupt (its content hashes to ${got}; run imgport store fsck --repair)`, { where: at.file }));
      },
    });
    const input = createReadStream(at.file, { highWaterMark: 256 * 1024 });
    input.on('error', (err) => check.destroy(err));
    check.on('close', () => input.destroy());
    return input.pipe(check);
  }

  /**
   * True when the object is there already. It is flushed with this writer's own objects: another
   * writer may have written it a moment ago and not flushed it yet (fsync of a clean file is cheap).
   */
  private reuse(digest: string): boolean {
    const at = this.locate(digest);
    if (at) this.unsynced.push(at.file);
    return at !== undefined;
  }

  /** Makes every object written so far durable (see the header). */
  flush(): void {
    const files = this.unsynced.splice(0);
    if (files.length > FSYNC_EACH_MAX) {
      syncStore(this.dir);
      return;
    }
    const dirs = new Set<string>();
    for (const f of files) {
      fsyncPath(f);
      dirs.add(dirname(f));
    }
    for (const d of dirs) fsyncPath(d);
  }

  /** Stores `data` (whose digest the caller may already know). */
  putBuffer(data: Buffer, digest = sha256(data)): PutResult {
    if (this.reuse(digest)) return { digest, added: 0 };
    const final = this.path(digest);
    mkdirSync(join(this.dir, digest.slice(0, 2)), { recursive: true });
    let body: Buffer = data;
    let name = final;
    if (this.compress && data.length >= 512) {
      const z = deflateRawSync(data, { level: 3 });
      if (z.length < data.length * 0.9) {
        body = z;
        name = `${final}.z`;
      }
    }
    const tmp = `${final}.${randomBytes(4).toString('hex')}.tmp`;
    const fd = openSync(tmp, 'wx', 0o444);
    try {
      writeSync(fd, body);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, name);
    this.unsynced.push(name);
    return { digest, added: body.length };
  }

  /**
   * Stores a whole file whose content hashes to `digest` (read by the caller just now). Raw,
   * incompressible content is reflinked (a plain copy where reflinks are not offered) and
   * hashed again, so a file changed in between never lands under the wrong name.
   */
  putFile(src: string, data: Buffer, digest: string): PutResult {
    if (this.reuse(digest)) return { digest, added: 0 };
    if (this.compress && data.length >= 512 && deflateRawSync(data.subarray(0, 65536), { level: 1 }).length < Math.min(data.length, 65536) * 0.9) {
      return this.putBuffer(data, digest);
    }
    const final = this.path(digest);
    mkdirSync(join(this.dir, digest.slice(0, 2)), { recursive: true });
    const tmp = `${final}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      copyFileSync(src, tmp, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL);
      const copied = readFileSync(tmp);
      if (sha256(copied) !== digest) {
        rmSync(tmp, { force: true });
        return this.putBuffer(data, digest);
      }
      renameSync(tmp, final);
      this.unsynced.push(final);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    return { digest, added: data.length };
  }
}


function fsyncPath(p: string): void {
  let fd: number;
  try {
    fd = openSync(p, 'r');
  } catch (err) {
    // Set aside by a running collection this instant: it moves a leased object back (store.ts).
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Flushes the filesystem holding `path` (syncfs, through coreutils' `sync -f`; no shell). */
export function syncStore(path: string): void {
  try {
    execFileSync('sync', ['-f', path], { stdio: 'ignore' });
  } catch {
    execFileSync('sync', [], { stdio: 'ignore' });
  }
}
