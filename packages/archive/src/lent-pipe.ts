/**
 * A program's output read into a fixed set of buffers that are lent out and come back, instead
 * of a fresh buffer for every read. The root image's inflate writes 200 MB for a 100 MB bundle:
 * read from a child's stdout, each 64 KiB read is a new buffer outside the JS heap that only a
 * garbage collection frees, so a queue of them costs memory (a 1 MiB one: +30 MiB of peak RSS)
 * and a short one leaves the program waiting on a full pipe while this thread is busy. Here the
 * program's stdout is one end of a local stream socket; reads on the other end land in one of
 * SLOTS buffers (Node's `onread` option), and reading stops only when all of them are lent
 * out. A lent chunk is valid until it is given back (`give`): the consumer copies what it keeps.
 *
 * A socket rather than a FIFO: its buffer holds about three times a pipe's 64 KiB, so the
 * program blocks less often. The two ends meet through a listening socket in a private
 * directory, which goes as soon as they have.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

const SLOT = 256 * 1024;
/** 2 MiB of read-ahead, allocated once. */
const SLOTS = 8;

export class LentPipe {
  /** The chunks read, in order: each is lent until `give` takes it back. */
  readonly stream: Readable;
  private readonly free: Buffer[] = [];
  private readonly socket: net.Socket;
  /** The other end, for the program's stdout, until it has started. */
  private peer: net.Socket | undefined;
  private paused = false;
  private closed = false;
  private eof = false;
  private succeeded = false;

  private constructor(path: string) {
    for (let i = 0; i < SLOTS; i++) this.free.push(Buffer.allocUnsafeSlow(SLOT));
    this.stream = new Readable({ highWaterMark: 0, read: () => undefined });
    // The socket reads into the buffer the last call of `buffer` returned, and calls `callback`
    // with what it read there; that buffer is then lent, and the next one is asked for at once.
    // One free buffer always stays in the socket's hands: it stops reading (callback returns
    // false) when the one it just got is the last.
    this.socket = net.connect({
      path,
      onread: {
        buffer: () => this.free.pop()!,
        callback: (n: number, buf: Buffer) => {
          this.stream.push(buf.subarray(0, n));
          if (this.free.length > 1) return true;
          this.paused = true;
          return false;
        },
      },
    });
    // The end of the data is the program's exit, which may yet turn out to be a failure.
    this.socket.on('end', () => {
      this.eof = true;
      if (this.succeeded) this.stream.push(null);
    });
    this.socket.on('error', (err) => this.stream.destroy(err));
    this.stream.on('close', () => this.close());
  }

  /** Both ends connected; undefined when no local socket can be made. */
  static async open(): Promise<LentPipe | undefined> {
    let dir: string | undefined;
    let server: net.Server | undefined;
    let lent: LentPipe | undefined;
    let peer: net.Socket | undefined;
    try {
      dir = fs.mkdtempSync(join(os.tmpdir(), 'imgport-'));
      const path = join(dir, randomBytes(4).toString('hex'));
      const listening = net.createServer({ pauseOnConnect: true });
      server = listening;
      await new Promise<void>((resolve, reject) => listening.once('error', reject).listen(path, resolve));
      const accepted = new Promise<net.Socket>((resolve, reject) => listening.once('connection', resolve).once('error', reject)).then((s) => (peer = s));
      const made = new LentPipe(path);
      lent = made;
      await Promise.all([accepted, new Promise<void>((resolve, reject) => made.socket.once('connect', resolve).once('error', reject))]);
      made.peer = peer;
      return made;
    } catch {
      // Neither end may be left open: an open socket would keep the process alive.
      peer?.destroy();
      lent?.close();
      return undefined;
    } finally {
      server?.close();
      if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  /** The end for the program's stdout. */
  get out(): net.Socket {
    if (!this.peer) throw new Error('lent pipe: the program end is gone');
    return this.peer;
  }

  /** The program has its copy of its end (or failed to start): this one goes, so the program's exit is the end of the data. */
  started(): void {
    this.peer?.destroy();
    this.peer = undefined;
  }

  /** The program exited successfully: the stream ends once all it wrote has been read. */
  end(): void {
    this.succeeded = true;
    if (this.eof) this.stream.push(null);
  }

  /** Takes a chunk of `stream` back: its memory will be read into again. */
  give(chunk: Buffer): void {
    if (this.closed) return;
    this.free.push(Buffer.from(chunk.buffer, 0, SLOT));
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** Lets go of both ends (also when the program never started). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.started();
    this.socket.destroy();
  }
}
