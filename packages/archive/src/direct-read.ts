/**
 * A file read once, front to back, past the page cache when it is large (direct-io.ts): what an
 * export does with a root image that the import wrote past the cache, or that the node has not
 * read since. Chunks of up to 512 KiB, each a buffer of its own (the bounce buffer is reused).
 */
import fs from 'node:fs';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { BOUNCE, bounce, giveBack, O_DIRECT, refused } from './direct-io.js';
import { DIRECT_MIN } from './new-file.js';

export interface DirectReadOptions {
  /** Names the filesystem, so a refusal of O_DIRECT there is remembered (default: the file's directory). */
  where?: string | number;
}

/** Like fs.createReadStream(path) with 512 KiB chunks; it opens the file at once (errors are thrown). */
export function directReadStream(path: string, opts: DirectReadOptions = {}): Readable {
  return new DirectReader(path, opts.where ?? dirname(path));
}

class DirectReader extends Readable {
  private fd: number;
  private buf: Buffer | undefined;
  private pos = 0;
  private reading: Promise<void> | undefined;

  constructor(
    private readonly path: string,
    private readonly where: string | number,
  ) {
    super({ highWaterMark: BOUNCE });
    this.fd = fs.openSync(path, fs.constants.O_RDONLY);
    const st = fs.fstatSync(this.fd);
    if (O_DIRECT !== 0 && st.isFile() && st.size >= DIRECT_MIN && !refused.has(where)) {
      try {
        // A second descriptor of the same file: only this one reads directly.
        const direct = fs.openSync(`/proc/self/fd/${this.fd}`, fs.constants.O_RDONLY | O_DIRECT);
        fs.closeSync(this.fd);
        this.fd = direct;
        this.buf = bounce();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EINVAL') refused.add(where);
        else if (code !== 'ENOENT') throw err; // no /proc: ordinary reads
      }
    }
  }

  override _read(): void {
    this.reading = new Promise<void>((done) => {
      const into = this.buf ?? Buffer.allocUnsafe(BOUNCE);
      fs.read(this.fd, into, 0, BOUNCE, this.pos, (err, n) => {
        done();
        if (err) return this.failed(err);
        if (n === 0) return void this.push(null);
        this.pos += n;
        this.push(into === this.buf ? Buffer.from(into.subarray(0, n)) : into.subarray(0, n));
      });
    });
  }

  /** EINVAL from a direct read: the filesystem wants other alignment after all; go on the ordinary way. */
  private failed(err: NodeJS.ErrnoException): void {
    if (err.code !== 'EINVAL' || !this.buf) return void this.destroy(err);
    refused.add(this.where);
    try {
      const fd = fs.openSync(`/proc/self/fd/${this.fd}`, fs.constants.O_RDONLY);
      fs.closeSync(this.fd);
      this.fd = fd;
    } catch (e) {
      return void this.destroy(e as Error);
    }
    giveBack(this.buf);
    this.buf = undefined;
    this._read();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // A read in flight still uses the descriptor: close it once that read is back.
    void (this.reading ?? Promise.resolve()).then(() => {
      fs.close(this.fd, () => cb(err));
      giveBack(this.buf);
      this.buf = undefined;
    });
  }
}
