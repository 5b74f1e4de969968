/**
 * A new file written once, front to back, past the page cache when it is large (direct-io.ts).
 *
 * Bytes collect in a bounce buffer and go out whole blocks at a time; the last partial block
 * goes through a second, ordinary descriptor (a padded direct write would need the file cut
 * back, and cutting reads that block back from the device). Small files are written the
 * ordinary way. Durability is unchanged: the commit's sync covers both kinds of write.
 *
 * A direct write waits for the device. The writer threads may wait; the main thread hands its
 * blocks to libuv's pool instead (`queued`), filling a second buffer meanwhile, so its event
 * loop goes on (feeding the root image's inflate, say).
 */
import fs from 'node:fs';
import { BLOCK, BOUNCE, bounce, giveBack, O_DIRECT, refused } from './direct-io.js';

/** Files this large or larger are written directly (smaller ones cost a device round trip each). */
export const DIRECT_MIN = 64 * 1024;

const C = fs.constants;
const O_NEW = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;

export interface NewFileOptions {
  /** What will be written: direct or buffered is chosen by it. */
  size: number;
  /** Names the filesystem (a directory, a tree), so a refusal of O_DIRECT there is remembered. */
  where: string | number;
  /** Direct writes go to libuv's pool (write() may then return a promise to wait for). */
  queued?: boolean;
}

export class NewFile {
  /** The open descriptor, for metadata calls after end(); the caller closes it. */
  fd: number;
  private buf: Buffer | undefined;
  private fill = 0;
  /** File offset of the next write: of buf[0] while direct. */
  private pos = 0;
  /** A queued direct write in flight, and the buffer it writes. */
  private inFlight: Promise<void> | undefined;
  private flying: Buffer | undefined;
  private failure: unknown;
  private closed = false;

  private constructor(
    private readonly path: string,
    private readonly opts: NewFileOptions,
    fd: number,
    direct: boolean,
  ) {
    this.fd = fd;
    if (direct) this.buf = bounce();
  }

  /** Creates `path` with `mode`: exclusive, never through a symlink. */
  static create(path: string, mode: number, opts: NewFileOptions): NewFile {
    if (O_DIRECT === 0 || opts.size < DIRECT_MIN || refused.has(opts.where)) return new NewFile(path, opts, fs.openSync(path, O_NEW, mode), false);
    try {
      return new NewFile(path, opts, fs.openSync(path, O_NEW | O_DIRECT, mode), true);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
      refused.add(opts.where);
      // Linux refuses O_DIRECT after O_CREAT has made the file: the empty file just made goes,
      // and an ordinary one takes its place (reopening it could fail on its mode, as non-root).
      const st = fs.lstatSync(path, { throwIfNoEntry: false });
      if (st?.isFile() && st.size === 0 && st.nlink === 1) fs.unlinkSync(path);
      return new NewFile(path, opts, fs.openSync(path, O_NEW, mode), false);
    }
  }

  get direct(): boolean {
    return this.buf !== undefined;
  }

  /** Writes src[off, off + len); a queued file may return a promise: wait for it before the next call. */
  write(src: Uint8Array, off = 0, len = src.length - off): Promise<void> | undefined {
    this.open();
    while (this.buf && len > 0) {
      if (this.fill === BOUNCE) {
        // Full: hand it over before taking more.
        if (!this.opts.queued) this.flush(BOUNCE);
        else {
          const wait = this.queue();
          if (wait) return wait.then(() => this.write(src, off, len));
        }
        continue;
      }
      const n = Math.min(len, BOUNCE - this.fill);
      this.buf.set(src.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      len -= n;
    }
    if (len > 0) this.buffered(src, off, len);
    return undefined;
  }

  /** Writes what is held back: the file then has exactly the bytes written. */
  async end(): Promise<void> {
    await this.landed();
    this.endSync();
  }

  /** end() for a file that is not queued. */
  endSync(): void {
    this.open();
    const buf = this.buf;
    if (!buf) return;
    const whole = this.fill - (this.fill % BLOCK);
    const tail = this.fill - whole;
    if (whole > 0) {
      this.fill = whole;
      if (!this.flush(whole)) {
        // Gone buffered: the rest follows the same way.
        this.buffered(buf, whole, tail);
        return;
      }
    }
    if (tail > 0) {
      // The last partial block, through an ordinary descriptor; where the file's mode keeps us
      // from opening another one (not root, no write permission), padded and cut back.
      const ino = fs.fstatSync(this.fd).ino;
      let fd: number;
      try {
        fd = reopen(this.path, (st) => st.ino === ino);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EACCES' && code !== 'EPERM') throw err;
        buf.copyWithin(0, whole, whole + tail);
        buf.fill(0, tail, BLOCK);
        this.fill = tail;
        this.flush(BLOCK);
        fs.ftruncateSync(this.fd, this.pos - BLOCK + tail);
        return;
      }
      try {
        for (let done = 0; done < tail; ) done += fs.writeSync(fd, buf, whole + done, tail - done, this.pos + done);
      } finally {
        fs.closeSync(fd);
      }
      this.pos += tail;
    }
  }

  /** Closes the descriptor once no queued write can still reach it (also when abandoning the file). */
  async close(): Promise<void> {
    await this.landed().catch(() => undefined);
    this.closeSync();
  }

  /** close() for a file that is not queued. Later calls do nothing: the number may name another file by then. */
  closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    giveBack(this.buf);
    this.buf = undefined;
    fs.closeSync(this.fd);
  }

  /** A write after close (a writer racing its own abandonment) must not reach whatever has the number now. */
  private open(): void {
    if (this.closed) throw Object.assign(new Error(`${this.path} was closed while it was being written`), { code: 'EBADF', syscall: 'write', path: this.path });
  }

  private buffered(src: Uint8Array, off: number, len: number): void {
    for (let done = 0; done < len; ) done += fs.writeSync(this.fd, src, off + done, len - done, this.pos + done);
    this.pos += len;
  }

  /** Writes buf[0, n) at pos, whole blocks; false when it fell back to buffered writes (which wrote them). */
  private flush(n: number): boolean {
    const buf = this.buf!;
    let done = 0;
    try {
      while (done < n) done += fs.writeSync(this.fd, buf, done, n - done, this.pos + done);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
      this.toBuffered();
      this.buffered(buf, done, n - done);
      giveBack(buf);
      return false;
    }
    this.pos += n;
    this.fill = 0;
    return true;
  }

  /** Sends the full buffer to the pool and fills another; a promise when the previous write is still landing. */
  private queue(): Promise<void> | undefined {
    if (this.inFlight) return this.landed();
    const buf = this.buf!;
    const at = this.pos;
    this.flying = buf;
    this.buf = bounce();
    this.fill = 0;
    this.pos += BOUNCE;
    this.inFlight = writeAll(this.fd, buf, BOUNCE, at).then(
      () => undefined,
      (err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== 'EINVAL') {
          this.failure = err;
          return;
        }
        // Refused after all: this block and everything after it go the ordinary way.
        const held = this.buf!;
        const fill = this.fill;
        this.toBuffered();
        this.pos = at;
        this.buffered(buf, 0, BOUNCE);
        this.buffered(held, 0, fill);
        giveBack(held);
      },
    );
    return undefined;
  }

  /** Waits for the queued write; throws its error. */
  private async landed(): Promise<void> {
    if (!this.inFlight) return;
    await this.inFlight;
    this.inFlight = undefined;
    if (this.flying) giveBack(this.flying);
    this.flying = undefined;
    if (this.failure) throw this.failure;
  }

  /** The filesystem took the open but not a write (other alignment, or no direct I/O after all). */
  private toBuffered(): void {
    refused.add(this.opts.where);
    const ino = fs.fstatSync(this.fd).ino;
    const fd = reopen(this.path, (st) => st.ino === ino);
    fs.closeSync(this.fd);
    this.fd = fd;
    this.buf = undefined;
    this.fill = 0;
  }
}

/** buf[0, n) written whole from libuv's pool, at `pos` (null: at the descriptor's own offset, for a pipe). */
export function writeAll(fd: number, buf: Buffer, n: number, pos: number | null): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (done: number): void => {
      if (done >= n) return resolve();
      fs.write(fd, buf, done, n - done, pos === null ? null : pos + done, (err, wrote) => (err ? reject(err) : step(done + wrote)));
    };
    step(0);
  });
}

/** Opens for writing the file this thread made at `path` (a regular file, one link, as `ours` expects). */
function reopen(path: string, ours: (st: fs.Stats) => boolean): number {
  const fd = fs.openSync(path, C.O_WRONLY | C.O_NOFOLLOW);
  const st = fs.fstatSync(fd);
  if (!st.isFile() || st.nlink !== 1 || !ours(st)) {
    fs.closeSync(fd);
    throw Object.assign(new Error(`${path} is no longer the file being written`), { code: 'EEXIST', syscall: 'open', path });
  }
  return fd;
}
