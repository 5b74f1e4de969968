/**
 * A program's input fed through a pipe written from libuv's pool. The root image's inflate
 * (igzip) read it from a socket the main thread wrote into: about a tenth of that thread's
 * time went to those writes, the kernel copying each 64 KiB piece into the socket, while the
 * same thread parsed the bundle around them. Here the main thread only copies each chunk into
 * one of two buffers; a pool thread writes the full one into a FIFO the program reads, and may
 * wait there as long as the program is busy inflating, which the main thread never does.
 *
 * The FIFO is made in a private directory and unlinked once both ends are open. Only one write
 * is in flight at a time (two could interleave); the other buffer fills meanwhile, and write()
 * returns a promise when both are taken. If the program goes away, the write fails with EPIPE.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeAll } from './new-file.js';

const PIECE = 512 * 1024;
const C = fs.constants;

export class PipeFeed {
  private buf: Buffer = Buffer.allocUnsafeSlow(PIECE);
  private spare: Buffer | undefined = Buffer.allocUnsafeSlow(PIECE);
  private fill = 0;
  private inFlight: Promise<void> | undefined;
  private failure: unknown;
  private closed = false;
  /** Bytes the pipe has taken. */
  fed = 0;

  private constructor(private fd: number) {}

  /**
   * A FIFO in `dir` with both ends open: the feed on its write end, and `readFd`, the read end
   * for the program's stdin (close it here once the program has started). Undefined when no
   * FIFO can be made there (no mkfifo, a filesystem without them): feed the program otherwise.
   */
  static async open(dir: string): Promise<{ feed: PipeFeed; readFd: number } | undefined> {
    const path = join(dir, `.feed-${randomBytes(6).toString('hex')}`);
    const made = await new Promise<boolean>((resolve) => execFile('mkfifo', ['-m', '600', '--', path], (err) => resolve(!err)));
    if (!made) return undefined;
    let probe: number | undefined;
    let writeFd: number | undefined;
    try {
      // Opening either end of a FIFO waits for the other; a non-blocking read end held
      // meanwhile lets the write end open at once, and then the blocking read end too.
      probe = fs.openSync(path, C.O_RDONLY | C.O_NONBLOCK | C.O_NOFOLLOW);
      if (!fs.fstatSync(probe).isFIFO()) throw new Error(`${path} is not the FIFO just made`);
      writeFd = fs.openSync(path, C.O_WRONLY | C.O_NOFOLLOW);
      const readFd = fs.openSync(path, C.O_RDONLY | C.O_NOFOLLOW);
      return { feed: new PipeFeed(writeFd), readFd };
    } catch (err) {
      if (writeFd !== undefined) fs.closeSync(writeFd);
      throw err;
    } finally {
      if (probe !== undefined) fs.closeSync(probe);
      fs.rmSync(path, { force: true });
    }
  }

  /** Takes a copy of `src`; a promise when both buffers are taken: wait for it before the next call. */
  write(src: Uint8Array): Promise<void> | undefined {
    if (this.closed) throw Object.assign(new Error('write after the feed was closed'), { code: 'EBADF' });
    if (this.failure) throw this.failure;
    let off = 0;
    while (off < src.length) {
      const n = Math.min(src.length - off, PIECE - this.fill);
      this.buf.set(src.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      if (this.fill < PIECE) break;
      const wait = this.send();
      if (wait) {
        const rest = src.subarray(off);
        return wait.then(() => (rest.length > 0 ? this.write(rest) : undefined));
      }
    }
    return undefined;
  }

  /** Writes what is left and closes the write end (also when a write fails): the program sees the end of its input. */
  async end(): Promise<void> {
    try {
      while (this.fill > 0 || this.inFlight) {
        if (this.inFlight) await this.landed();
        else if (this.fill > 0) await this.send();
      }
    } finally {
      await this.close();
    }
  }

  /** Closes the write end once no write can still reach it; what was not written is dropped. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.inFlight?.catch(() => undefined);
    fs.closeSync(this.fd);
  }

  /** Sends the filled buffer; a promise when the previous one is still being written. */
  private send(): Promise<void> | undefined {
    if (this.inFlight) return this.landed().then(() => this.send());
    if (!this.spare) throw new Error('pipe feed: no spare buffer');
    const out = this.buf;
    const n = this.fill;
    this.buf = this.spare;
    this.spare = undefined;
    this.fill = 0;
    this.inFlight = writeAll(this.fd, out, n, null).then(
      () => {
        this.fed += n;
        this.spare = out;
      },
      (err: unknown) => {
        this.failure ??= err;
        this.spare = out;
      },
    );
    return undefined;
  }

  private async landed(): Promise<void> {
    await this.inFlight;
    this.inFlight = undefined;
    if (this.failure) throw this.failure;
  }
}
