/**
 * Durability of a commit: the staged data is synced before the journal that lets it be renamed
 * into place (`sync -f <dir>`, one syncfs(2) per filesystem, run without a shell), and the
 * directories renamed into are fsynced before the rows that point at them are written.
 * IMGPORT_NO_SYNC=1 skips both (tests and benchmarks on throwaway trees only).
 */
import { execFile } from 'node:child_process';
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
