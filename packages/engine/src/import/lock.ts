import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ImgportError } from '@imgport/runtime';
import { orphaned } from './journal.js';

/**
 * A per-image lock for inline runs: an exclusively created file holding host and pid. A lock
 * left by a dead process on this host is taken over. (The worker service adds a Redis lock so
 * that hosts sharing the install root exclude each other too.)
 */
export function lockImage(work: string, image: string): () => void {
  const dir = join(work, 'locks');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${image}.lock`);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, JSON.stringify({ host: hostname(), pid: process.pid }));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (err) {
      // The locks directory is removed when empty: recreate it if another run just did.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        mkdirSync(dir, { recursive: true });
        continue;
      }
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readHolder(path);
      if (holder && orphaned(holder)) {
        rmSync(path, { force: true });
        continue;
      }
      const who = holder ? `process ${holder.pid} on ${holder.host}` : 'another process';
      throw new ImgportError('LOCKED', `image ${image} is being changed by ${who}; try again when it is done`);
    }
  }
  throw new ImgportError('LOCKED', `image ${image} is locked`);
}

function readHolder(path: string): { host: string; pid: number } | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as { host: string; pid: number };
  } catch {
    return undefined;
  }
}
