/**
 * Exclusive lock files, shared by processes, containers and hosts over one file system (the
 * image locks, the store's collection lock).
 *
 * Taking one is atomic: the record is written in full to a private file that is then hard-linked
 * to the lock's name (`link` fails if the name exists), so no one ever reads a half-written lock.
 *
 * A holder judged gone (stale) or a file that is no lock record (invalid) is removed by one
 * process at a time: the remover first takes `<lock>.break`, itself a lock file taken the same
 * way, and removes the lock only if it still holds the very record judged. While the breaker is
 * held nothing else can remove that record (its owner is gone; breakers are the only other
 * remover) and no lock can be linked over it, so the check and the removal cannot be separated
 * by another process's lock. A remover that dies leaves its breaker behind; that breaker is
 * itself stale and broken the same way through `<lock>.break.break`.
 *
 * What this replaces, and why: renaming a stale lock aside and checking its inode lets a live
 * lock be moved aside by a slow remover (the name is then free for a third process while the
 * holder still believes it holds it), and inode numbers are reused as soon as a file is deleted.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, linkSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** 'held': the holder may still run. 'stale': it certainly does not. 'invalid': not a lock record. */
export type LockVerdict = 'held' | 'stale' | 'invalid';

export interface LockFileOptions {
  /** This process's record, written whole before the lock exists under its name. */
  text: string;
  /** Judges the record found under the name (and under a breaker's name). */
  judge(text: string): LockVerdict | Promise<LockVerdict>;
  /** Removes a stale or invalid lock while its breaker is held; unlinks it by default. */
  remove?(path: string, verdict: Exclude<LockVerdict, 'held'>, text: string): void;
  /** Rounds of try → judge → break before giving up (another process keeps taking it). */
  rounds?: number;
}

export type LockFileResult = { taken: true; release: () => void } | { taken: false; holder: string };

/** Breakers of breakers: a lock, its breaker and two more levels. Deeper means a crash loop. */
const MAX_DEPTH = 3;

export async function takeLockFile(path: string, opts: LockFileOptions): Promise<LockFileResult> {
  return take(path, opts, 0);
}

async function take(path: string, opts: LockFileOptions, depth: number): Promise<LockFileResult> {
  const rounds = opts.rounds ?? 8;
  let last = '';
  for (let round = 0; round < rounds; round++) {
    const ino = create(path, opts.text);
    if (ino !== undefined) return { taken: true, release: () => releaseIfMine(path, ino, opts.text) };
    const text = readIfExists(path);
    if (text === undefined) continue; // released in between
    last = text;
    const verdict = await opts.judge(text);
    if (verdict === 'held' || depth >= MAX_DEPTH) return { taken: false, holder: text };
    const breaker = await take(`${path}.break`, { ...opts, remove: undefined, rounds: 2 }, depth + 1);
    if (!breaker.taken) {
      // Another process is removing it right now: its own lock follows in a moment.
      await pause(1 + Math.random() * 4);
      continue;
    }
    try {
      if (readIfExists(path) === text) (opts.remove ?? unlinkQuietly)(path, verdict, text);
    } finally {
      breaker.release();
    }
  }
  return { taken: false, holder: readIfExists(path) ?? last };
}

/** Links a private, fully written copy of `text` to `path`; its inode, or undefined if the name exists. */
function create(path: string, text: string): number | undefined {
  const dir = dirname(path);
  for (let attempt = 0; ; attempt++) {
    const mine = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
    let fd: number;
    try {
      fd = openSync(mine, 'wx', 0o600);
    } catch (err) {
      // The directory may be removed when empty by a run that just ended: make it again.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > 4) throw err;
      mkdirSync(dir, { recursive: true });
      continue;
    }
    try {
      writeSync(fd, text);
      const ino = fstatSync(fd).ino;
      linkSync(mine, path);
      return ino;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return undefined;
      if (code !== 'ENOENT' || attempt > 4) throw err;
    } finally {
      closeSync(fd);
      unlinkQuietly(mine);
    }
  }
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Removes the lock only while it is still this one (same inode, same record). */
function releaseIfMine(path: string, ino: number, text: string): void {
  try {
    if (statSync(path).ino !== ino || readFileSync(path, 'utf8') !== text) return;
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
