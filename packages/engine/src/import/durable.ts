/**
 * Durability of a commit: the staged data is synced before the journal that lets it be renamed
 * into place (`sync -f <dir>`, one syncfs(2) per filesystem, run without a shell), and the
 * directories renamed into are fsynced before the rows that point at them are written.
 * IMGPORT_NO_SYNC=1 skips both (tests and benchmarks on throwaway trees only).
 */
import { execFile, spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

function disabled(): boolean {
  return process.env.IMGPORT_NO_SYNC === '1';
}

/** One `sync -f` over the filesystems holding these paths (deduplicated by the kernel per call). */
export async function syncFilesystems(paths: string[]): Promise<void> {
  if (disabled() || paths.length === 0) return;
  await run('sync', ['-f', '--', ...new Set(paths)]);
}

/** fsync of each directory, so renames into it survive a power loss. Missing ones are skipped. */
export async function syncDirs(dirs: string[]): Promise<void> {
  if (disabled()) return;
  await Promise.all(
    [...new Set(dirs)].map(async (d) => {
      let fh;
      try {
        fh = await open(d, 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }),
  );
}

/** The staging area's writeback (backgroundWriteback). */
export interface Writeback {
  /** No more syncs in the background (the staging is done); the program stays for `syncNow`. */
  pause(): void;
  /**
   * The commit's sync of the filesystems holding `paths` (as syncFilesystems), run by the program
   * that ran the background ones, after any of those still running. Resolves once all are done;
   * if that program failed or is gone, a `sync -f` of its own is run, whose failure is the answer.
   */
  syncNow(paths: string[]): Promise<void>;
  /** Stops it: a sync already running finishes by itself; none starts after this. */
  stop(): Promise<void>;
}

/**
 * Writeback while an import stages: the disk is idle while the bundle is inflated and written
 * into the page cache, and the commit's sync then had to write all of it at once (0.14 s of a
 * 100 MB import, more on larger ones, with the image locked). A `sync -f` of the staging area's
 * filesystem at most every `everyMs` starts that writing early, beside the CPU-bound staging, so
 * the commit's own sync finds little left. The commit's sync is what makes the data durable;
 * these only move the writing earlier, and a failure of one of them is ignored.
 *
 * One xargs(1) runs them all, started now while this process is small, and is handed the path
 * (NUL-terminated, no shell) each time: a program started from this process later is a fork of
 * its whole memory map (about 10 ms at 100 MiB), which the main thread paid every half second.
 * The commit's sync goes the same way (`syncNow`): its paths, then the end of xargs's input, and
 * xargs's exit says they are done. While a slow sync runs, the next paths wait in the pipe.
 */
export function backgroundWriteback(path: string, everyMs = 500): Writeback {
  if (disabled()) return { pause: () => undefined, syncNow: async () => undefined, stop: async () => undefined };
  // -r: no input at all runs no sync (a bare `sync -f` would be an error).
  const child = spawn('xargs', ['-r', '-0', '-n', '1', 'sync', '-f', '--'], { stdio: ['pipe', 'ignore', 'ignore'] });
  let failed = false;
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  child.on('error', () => (failed = true));
  child.stdin.on('error', () => (failed = true));
  const timer = setInterval(() => child.stdin.write(`${path}\0`), everyMs);
  let ended = false;
  return {
    pause: () => clearInterval(timer),
    syncNow: async (paths) => {
      clearInterval(timer);
      if (ended) return syncFilesystems(paths);
      ended = true;
      for (const p of new Set(paths)) child.stdin.write(`${p}\0`);
      child.stdin.end();
      // 0: every sync it ran succeeded, the last ones after all that was staged.
      if ((await exited) !== 0 || failed) await syncFilesystems(paths);
    },
    stop: async () => {
      clearInterval(timer);
      if (!ended) child.kill();
      ended = true;
      await exited;
    },
  };
}
