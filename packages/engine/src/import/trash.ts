/**
 * Replaced trees and finished staging areas go to `.imgport/trash/` with one rename (same
 * filesystem, instant, under the image lock) and are deleted later, after the lock is released,
 * with the asynchronous rm (off the event loop: lock renewals keep running). Recovery empties
 * whatever a killed process left there.
 */
import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';

export function trashDir(work: string): string {
  return join(work, 'trash');
}

export function moveToTrash(work: string, path: string, name: string): void {
  const dir = trashDir(work);
  mkdirSync(dir, { recursive: true });
  try {
    renameSync(path, join(dir, `${name}.${Date.now().toString(36)}`));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    // Another filesystem (cannot happen for the staging area) or a name clash: delete in place.
    rmSync(path, { recursive: true, force: true });
  }
}

/** Deletes everything in the trash; never throws (what cannot go now goes next time). */
export async function emptyTrash(work: string): Promise<void> {
  const dir = trashDir(work);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  await Promise.all(names.map((n) => rm(join(dir, n), { recursive: true, force: true, maxRetries: 2 }).catch(() => undefined)));
}
