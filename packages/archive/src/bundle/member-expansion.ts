/**
 * The root image expanded while its bundle member streams past (reader.ts copyMember hands on
 * each chunk as it stages it). A gzip root image, with igzip installed, goes to igzip through a
 * pipe written from libuv's pool (pipe-feed.ts), so the main thread never writes it itself;
 * anything else goes through a stream to expandRootImage, which inflates it as it sees fit.
 */
import { closeSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { detectCompression, igzip, programReading } from '../decompress.js';
import { PipeFeed } from '../pipe-feed.js';
import { LentPipe } from '../lent-pipe.js';
import { expandRootImage, type ExpandOptions } from '../rootimg.js';
import type { ExpandReport } from '../types.js';

export interface MemberExpansion {
  /** Hands on a chunk; a promise to wait for before the next (it rejects if the expansion fails). */
  write(buf: Buffer): Promise<void> | undefined;
  /** The member is complete: resolves with the expansion's report. */
  finish(): Promise<ExpandReport>;
  /**
   * The member failed: stops feeding, waits for the expansion to let go, and resolves with the
   * expansion's own failure if it had failed before (then it is likely why the member did).
   */
  abandon(): Promise<unknown>;
  /** Rejects as soon as the expansion fails (so the member stops at once). */
  readonly done: Promise<ExpandReport>;
}

/** The two pipes of a gzip root image's inflate: the FIFO igzip reads, the socket it writes. */
interface Pipes {
  feed: PipeFeed;
  /** The FIFO's read end, for igzip's stdin. */
  readFd: number;
  lent: LentPipe | undefined;
}

/**
 * The pipes made before the root image's member arrives, while the members before it stage:
 * making them takes a program (mkfifo) and a socket's two ends, 10-20 ms in which the member's
 * bytes waited. Made only where they can serve (igzip installed); `dispose` closes them if no
 * expansion took them (no root image, or one not in gzip).
 */
export class PipesAhead {
  private made: Promise<Pipes | undefined> | undefined;

  private constructor(scratch: string) {
    this.made = openPipes(scratch).catch(() => undefined);
  }

  /** Starts making them in `scratch` (a private directory); undefined where igzip is not used. */
  static start(scratch: string): PipesAhead | undefined {
    return igzip() === undefined ? undefined : new PipesAhead(scratch);
  }

  /** The pipes, once: a second taker (or one after dispose) gets undefined and makes its own. */
  take(): Promise<Pipes | undefined> {
    const made = this.made ?? Promise.resolve(undefined);
    this.made = undefined;
    return made;
  }

  /** Closes the pipes unless an expansion took them. */
  async dispose(): Promise<void> {
    const left = await this.take();
    if (!left) return;
    closePipes(left);
    await left.feed.close();
  }
}

async function openPipes(scratch: string): Promise<Pipes | undefined> {
  const [opened, lent] = await Promise.all([PipeFeed.open(scratch).catch(() => undefined), LentPipe.open()]);
  if (!opened) {
    lent?.close();
    return undefined;
  }
  return { ...opened, lent };
}

function closePipes(p: Pipes): void {
  closeSync(p.readFd);
  p.lent?.close();
}

/**
 * Starts expanding into `dir`, by the member's `first` chunk; `scratch` is a private directory
 * for the pipe (the staging directory), and `ahead` the pipes made there already, if any.
 */
export async function startExpansion(first: Buffer, dir: string, scratch: string, opts: ExpandOptions, ahead?: PipesAhead): Promise<MemberExpansion> {
  // A FIFO that cannot be made or opened there: the stream way still works.
  return (await piped(first, dir, scratch, opts, ahead).catch(() => undefined)) ?? streamed(dir, opts);
}

function streamed(dir: string, opts: ExpandOptions): MemberExpansion {
  // One chunk of room: a chunk that waits in a queue across two scavenges is promoted, and
  // dead in the old generation it keeps its 64 KiB until a full collection (with 256 KiB
  // queues here and in decompress.ts, ~35 MiB of them on the 628 MiB bench bundle).
  const feed = new PassThrough({ highWaterMark: 64 * 1024 });
  const { done, failedYet } = watched(expandRootImage(feed, dir, opts));
  return {
    done,
    write: (buf) => (feed.write(buf) ? undefined : Promise.race([onceDrain(feed), done]).then(() => undefined)),
    finish: () => {
      feed.end();
      return done;
    },
    abandon: async () => {
      const failure = failedYet();
      feed.destroy();
      await done.catch(() => undefined);
      return failure;
    },
  };
}

async function piped(first: Buffer, dir: string, scratch: string, opts: ExpandOptions, ahead: PipesAhead | undefined): Promise<MemberExpansion | undefined> {
  if (detectCompression(first) !== 'gzip' || igzip() === undefined) return undefined;
  const pipes = (await ahead?.take()) ?? (await openPipes(scratch));
  if (!pipes) return undefined;
  const { feed, readFd, lent } = pipes;
  let program: ReturnType<typeof programReading>;
  try {
    program = programReading(readFd, 'gzip', () => feed.fed, lent);
  } catch (err) {
    closePipes(pipes);
    await feed.close();
    throw err;
  }
  // The program has its own copy of the read end: none is left here, so that the feed gets
  // EPIPE if the program goes away.
  closeSync(readFd);
  if (!program) {
    lent?.close();
    await feed.close();
    return undefined;
  }
  const { stream } = program;
  const { done, failedYet } = watched(expandRootImage({ stream, fed: () => feed.fed, consumed: program.consumed, ...(lent ? { give: (c: Buffer) => lent.give(c) } : {}) }, dir, opts));
  // EPIPE: the program stopped reading. Its exit status says why, as the expansion's failure;
  // if it succeeded all the same (it needed no more), the rest of the member is not fed.
  let gone = false;
  const stopped = (err: unknown): Promise<void> => {
    if ((err as NodeJS.ErrnoException).code !== 'EPIPE') return Promise.reject(err);
    gone = true;
    return done.then(() => undefined);
  };
  return {
    done,
    write: (buf) => {
      if (gone) return undefined;
      try {
        const wait = feed.write(buf);
        return wait ? Promise.race([wait, done]).then(() => undefined, stopped) : undefined;
      } catch (err) {
        return stopped(err);
      }
    },
    finish: async () => {
      if (gone) await feed.close();
      else await feed.end().catch(stopped);
      return done;
    },
    abandon: async () => {
      const failure = failedYet();
      // The program goes (whatever it waits for), so a write still in flight fails with EPIPE.
      stream.destroy();
      await feed.close();
      await done.catch(() => undefined);
      return failure;
    },
  };
}

/**
 * The expansion's promise, and its failure as soon as it has one (an abandoned expansion fails
 * too, with "premature close": that one is not news). Its rejection is handled here, so it may
 * be awaited later or never.
 */
function watched(p: Promise<ExpandReport>): { done: Promise<ExpandReport>; failedYet: () => unknown } {
  let failure: unknown;
  p.catch((err: unknown) => (failure = err));
  return { done: p, failedYet: () => failure };
}

function onceDrain(s: PassThrough): Promise<void> {
  return new Promise((resolve) => s.once('drain', resolve));
}
