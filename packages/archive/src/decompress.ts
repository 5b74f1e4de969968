/**
 * Compression of a root image, recognised by its magic bytes (never by its name), and the
 * decompressed stream. A gzip root image goes through igzip(1) (Intel ISA-L, Debian's `isal`) when it is
 * installed: it inflates about twice as fast as Node's zlib here (0.25 s against 0.5 s for a 92 MB
 * root image), in a process of its own beside the parser and the writer. Without it, Node's zlib
 * with large chunks (itself about twice as fast as `gzip -dc`, PERFORMANCE.md).
 * IMGPORT_IGZIP=0 keeps zlib. xz needs the xz(1) program. Both programs run with an argument
 * array, no shell.
 */
import { spawn } from 'node:child_process';
import { accessSync, closeSync, fstatSync, openSync, readFileSync, readSync, constants as fsc } from 'node:fs';
import { delimiter, join } from 'node:path';
import { PassThrough, Transform, pipeline, type Readable, type Writable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { ZlibOptions } from 'node:zlib';
import { ImgportError } from '@imgport/runtime';
import { chunksPassed } from './scavenge.js';
import type { LentPipe } from './lent-pipe.js';

export type Compression = 'gzip' | 'xz' | 'none';

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);

export function detectCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 6 && head.subarray(0, 6).equals(XZ_MAGIC)) return 'xz';
  return 'none';
}

/** Reads at least `n` bytes (fewer at end of input) and puts them back. */
export async function peek(input: Readable, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let len = 0;
  while (len < n) {
    const chunk = input.read() as Buffer | null;
    if (chunk !== null) {
      parts.push(chunk);
      len += chunk.length;
      continue;
    }
    if (input.readableEnded || input.destroyed) break;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        input.off('readable', done).off('end', done).off('error', done);
        if (err) reject(err);
        else resolve();
      };
      input.on('readable', done).on('end', done).on('error', done);
    });
  }
  const head = Buffer.concat(parts);
  if (head.length > 0) input.unshift(head);
  return head;
}

/** Compressed bytes read so far; `consumed`, when set, says how many the inflate has used up. */
export interface CompressedCounter {
  bytesIn: number;
  consumed?: () => number;
}

/** igzip on PATH (looked up once), unless IMGPORT_IGZIP=0. */
let igzipPath: string | null | undefined;
export function igzip(): string | undefined {
  if (process.env.IMGPORT_IGZIP === '0') return undefined;
  if (igzipPath === undefined) {
    igzipPath = null;
    for (const dir of (process.env.PATH ?? '').split(delimiter)) {
      if (!dir) continue;
      try {
        accessSync(join(dir, 'igzip'), fsc.X_OK);
        igzipPath = join(dir, 'igzip');
        break;
      } catch {
        // Not here.
      }
    }
  }
  return igzipPath ?? undefined;
}

/**
 * What a program may hold of its input without having inflated it: the pipe (64 KiB) and its own
 * buffer (igzip fills 1 MiB, xz 8 KiB). The bytes are counted as the pipe takes them.
 */
const PROGRAM_AHEAD = 1024 * 1024 + 128 * 1024;
/** Writes to a program's stdin, in pieces the pipe takes one at a time. */
const PIPE_PIECE = 64 * 1024;

/**
 * The decompressed bytes of `input`; `opts.igzip` lets gzip go through igzip when installed (the
 * root image: igzip waits for a full 1 MiB buffer before it writes, which a bundle dripping in
 * over the network would feel as a stalled start, so the outer stream keeps zlib). `counter.bytesIn` follows the compressed bytes read (for
 * progress); `counter.consumed` says how many have been inflated, which is what the ratio limit
 * needs: bytes merely read ahead would let a bomb pass it. zlib says exactly; for a program
 * (igzip, xz) it is what was handed to it less what it may still hold, a lower bound, so the
 * ratio is never judged more loosely than with zlib.
 */
export function decompressed(input: Readable, kind: Compression, counter: CompressedCounter, ahead = 512 * 1024, opts: { igzip?: boolean } = {}): Readable {
  const count = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      counter.bytesIn += chunk.length;
      cb(null, chunk);
    },
  });
  if (kind === 'none') return pipeline(input, count, () => {});
  const fast = kind === 'gzip' && opts.igzip ? igzip() : undefined;
  if (kind === 'xz' || fast) {
    let fed = 0;
    counter.consumed = () => Math.max(0, fed - PROGRAM_AHEAD);
    return programStream({ source: pipeline(input, count, () => {}), onFed: (n) => (fed += n) }, programFor(fast));
  }
  if (kind === 'gzip') {
    // Room for a few inflated chunks (`ahead`), so zlib keeps inflating while the writer is busy.
    // 256 KiB chunks: measured as fast as 1 MiB ones here, and each dead chunk waits less memory
    // for the garbage collector (the writer copies every chunk into its batches at once).
    const gunzip = createGunzip({ chunkSize: Math.min(ahead, 256 * 1024), readableHighWaterMark: ahead } as ZlibOptions);
    counter.consumed = () => gunzip.bytesWritten;
    return pipeline(input, count, gunzip, () => {});
  }
  throw new ImgportError('INTERNAL', `no decompressor for ${kind}`);
}

/** igzip for gzip when it is there (its path), else xz. */
function programFor(igzipPath: string | undefined): { cmd: string; what: 'gzip' | 'xz'; missing: string } {
  return igzipPath ? { cmd: igzipPath, what: 'gzip', missing: 'igzip' } : { cmd: 'xz', what: 'xz', missing: 'xz' };
}

/**
 * `<cmd> -dc` as a stream; a missing xz is UNSUPPORTED, a failing program BUNDLE_INVALID with
 * what it said (igzip's "does not contain a complete gzip file" is a truncated one). Its input is
 * `source`, fed through a pipe, or an open file it reads itself (`fd`, which the caller closes).
 */
function programStream(input: { source: Readable; onFed: (n: number) => void } | { fd: number }, p: { cmd: string; what: 'gzip' | 'xz'; missing: string }, lent?: LentPipe): Readable {
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(p.cmd, ['-dc'], { stdio: ['source' in input ? 'pipe' : input.fd, lent ? lent.out : 'pipe', 'pipe'] });
  } finally {
    lent?.started();
  }
  // Pipes, as asked (the type cannot tell with stdio chosen at run time).
  const stdout = lent ? undefined : child.stdout!;
  const childErr = child.stderr!;
  // One pipe read of room: chunks that wait longer outlive scavenges (see copyMember in reader.ts).
  const out = lent ? lent.stream : new PassThrough({ highWaterMark: 64 * 1024 });
  let stderr = '';
  childErr.on('data', (d: Buffer) => {
    if (stderr.length < 2000) stderr += d.toString();
  });
  child.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') return out.destroy(err);
    out.destroy(new ImgportError('UNSUPPORTED', `root image is ${p.what}-compressed but the ${p.missing} program is not installed (install ${p.missing === 'xz' ? 'xz-utils' : 'isal'})`, { cause: err }));
  });
  // 'close' comes after the program's output has all been handed to `out` (from a pipe; a lent
  // pipe's data may still be arriving, and it ends once it has, lent-pipe.ts): its status decides.
  child.on('close', (code, signal) => {
    const status = code ?? signal ?? -1;
    if (status === 0) {
      if (lent) lent.end();
      else (out as PassThrough).end();
    }
    // Killed by someone else (we kill it only once `out` is closed): the kernel's OOM killer or
    // an administrator, not the bundle. Nothing is kept; trying again may work.
    else if (code === null && signal) out.destroy(new ImgportError('IO_ERROR', `${p.missing} was killed (${signal}) while inflating; the bundle is not at fault: try again`));
    else out.destroy(new ImgportError('BUNDLE_INVALID', `${p.what}: ${programError(stderr, status)}`));
  });
  stdout?.pipe(out as PassThrough, { end: false });
  // The source's own failure (a cut download, a limit) is the one to report, not the truncated
  // data the program then sees.
  if ('source' in input) feed(input.source, child.stdin!, input.onFed).catch((err: unknown) => out.destroy(err as Error));
  // Ended early (an error downstream, a cancel, a failed source): the program, its pipes and the
  // source go too, at once, whatever they were waiting for, so nothing keeps the process alive.
  out.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
    stdout?.destroy();
    childErr.destroy();
    if ('source' in input) input.source.destroy();
  });
  return out;
}

/**
 * `<igzip|xz> -dc` reading its input from `fd` itself (the read end of a PipeFeed, say), with
 * what it may hold unused taken off `fed` for the ratio limit. The caller closes `fd` once this
 * returns (the program has its own copy): a program that goes away must leave no reader behind,
 * so that whoever writes the pipe gets EPIPE. Undefined for gzip without igzip.
 */
export function programReading(fd: number, kind: Compression, fed: () => number, lent?: LentPipe): { stream: Readable; consumed: () => number } | undefined {
  const fast = kind === 'gzip' ? igzip() : undefined;
  if (kind !== 'xz' && !fast) return undefined;
  return { stream: programStream({ fd }, programFor(fast), lent), consumed: () => Math.max(0, fed() - PROGRAM_AHEAD) };
}

/** A compressed file opened for a program to read itself, and how far it has read. */
export interface CompressedFile {
  stream: Readable;
  compression: Compression;
  /** Bytes of the file the program has read so far. */
  read: () => number;
  /** What it has inflated, at least: `read` less what it may hold unused (for the ratio limit). */
  consumed: () => number;
}

/**
 * A local gzip (through igzip) or xz file decompressed by the program reading the file itself:
 * none of its compressed bytes pass through this process, and the program never waits on it for
 * input (a pipe fed from here made igzip stall on each 1 MiB it reads, with this thread busy
 * elsewhere). How far it has read comes from the kernel (/proc/self/fdinfo: the descriptor's
 * offset, shared with the program), a lower bound once what it may hold is taken off.
 * Undefined when this does not apply (another compression, no igzip, no /proc): read the file
 * as a stream instead. `maxBytes` is checked against the file's size up front.
 */
export function programFile(path: string, maxBytes: number, what: string): CompressedFile | undefined {
  // Non-blocking: a FIFO put where the file was checked must not hang this open; it is then read
  // as a stream like any other source.
  const fd = openSync(path, fsc.O_RDONLY | fsc.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      closeSync(fd);
      return undefined;
    }
    const size = st.size;
    if (size > maxBytes) throw new ImgportError('LIMIT_EXCEEDED', `${what} is larger than the limit of ${maxBytes} bytes`);
    const head = Buffer.alloc(6);
    const compression = detectCompression(head.subarray(0, readSync(fd, head, 0, 6, 0)));
    const fast = compression === 'gzip' ? igzip() : undefined;
    const offset = fdOffset(fd);
    if ((compression !== 'xz' && !fast) || offset === undefined) {
      closeSync(fd);
      return undefined;
    }
    let at = 0;
    let checked = 0;
    const read = (): number => {
      // The kernel is asked at most once a millisecond (this is asked for every chunk); the
      // answer only grows, so an older one is a lower bound too.
      const now = performance.now();
      if (now - checked >= 1) {
        checked = now;
        at = Math.max(at, fdOffset(fd) ?? at);
      }
      return at;
    };
    const stream = programStream({ fd }, programFor(fast));
    stream.on('close', () => {
      at = Math.max(at, fdOffset(fd) ?? at);
      closeSync(fd);
    });
    return { stream, compression, read, consumed: () => Math.max(0, read() - PROGRAM_AHEAD) };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** The file offset of one of this process's descriptors, from /proc (Linux); undefined without it. */
function fdOffset(fd: number): number | undefined {
  try {
    const m = /^pos:\s*(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `source` into a program's stdin, a pipe's piece at a time, each counted once the pipe has taken
 * it. EPIPE when the program stops reading early is not ours to report: its exit status says why.
 */
async function feed(source: Readable, stdin: Writable, onFed: (n: number) => void): Promise<void> {
  stdin.on('error', () => undefined);
  try {
    for await (const chunk of source) {
      const buf = chunk as Buffer;
      for (let off = 0; off < buf.length; off += PIPE_PIECE) {
        const piece = buf.subarray(off, off + PIPE_PIECE);
        const more = stdin.write(piece, (err) => err || onFed(piece.length));
        if (!more) await drained(stdin);
        if (stdin.destroyed) return;
      }
    }
    stdin.end();
  } catch (err) {
    stdin.destroy();
    throw err;
  }
}

function drained(w: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      w.off('drain', done).off('close', done).off('error', done);
      resolve();
    };
    w.on('drain', done).on('close', done).on('error', done);
  });
}

function programError(stderr: string, status: number | string): string {
  const said = stderr.trim().replace(/^igzip: /, '').replace(/ ?\(null\)/g, '');
  if (/does not contain a complete gzip file/.test(said)) return 'truncated data (unexpected end of file)';
  if (/Error encountered while decompressing/.test(said)) return 'corrupt data (it does not inflate or its check fails)';
  return said || `exited with ${status}`;
}

/** zlib's errors are the archive's fault: report them as an invalid bundle. */
export function decompressError(err: unknown): unknown {
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string' && e.code.startsWith('Z_')) {
    return new ImgportError('BUNDLE_INVALID', `gzip: ${e.message === 'unexpected end of file' ? 'truncated data (unexpected end of file)' : e.message}`, { cause: err });
  }
  return err;
}

/**
 * The chunks of a stream as zlib made them: the stream's own async iterator reads in paused
 * mode, where read() joins everything buffered into one new buffer (a copy of up to `ahead`
 * bytes per step). Flowing mode, paused while a chunk waits, hands them over as they are.
 * Ending the iteration early destroys the stream.
 */
export async function* chunksOf(stream: Readable, give?: (chunk: Buffer) => void): AsyncGenerator<Buffer> {
  const queue: Buffer[] = [];
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onData = (c: Buffer): void => {
    queue.push(c);
    stream.pause();
    notify();
  };
  const onEnd = (): void => {
    ended = true;
    notify();
  };
  const onError = (err: unknown): void => {
    failure ??= err;
    notify();
  };
  const onClose = (): void => {
    if (!ended) failure ??= Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
    notify();
  };
  stream.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  try {
    for (;;) {
      const c = queue.shift();
      if (c !== undefined) {
        // Inflate the next chunk while this one is written.
        if (queue.length === 0 && !ended) stream.resume();
        if (give) {
          yield c;
          give(c);
        } else {
          chunksPassed(c.length);
          yield c;
        }
        continue;
      }
      if (failure !== undefined) throw failure;
      if (ended) return;
      await new Promise<void>((r) => (wake = r));
    }
  } finally {
    stream.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
    if (!ended) stream.destroy();
  }
}
