import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ImgportError, type Logger } from '@imgport/runtime';
import { currentOwner, describeOwner, ownerState, sameOwner, type Owner } from './owner.js';
import { ownerSchema, quarantine } from './journal.js';

/**
 * A per-image lock file, taken in every mode (inline commands and workers alike), so an inline
 * `xcatimport` and a worker exclude each other. It holds its owner (host, boot id, pid, start
 * time) and, in service mode, the Redis lease (the image lock's token) it was taken under.
 *
 * Taking it is atomic: the record is written to a private file and hard-linked to the lock name
 * (`link` fails if the name exists). A stale lock is taken over by renaming it aside and checking
 * that the renamed inode is the one judged stale (a fresh lock moved by mistake is put back), never
 * by read → rm → create. A lock that is not a valid record is set aside with a message naming it.
 */
export interface LockOptions {
  /** The Redis lease this lock is taken under (service mode). */
  lease?: string;
  /** Whether a lease is still held (service mode): a lock of another host whose lease is gone is stale. */
  leaseHeld?: (image: string, lease: string) => Promise<boolean>;
  log?: Logger;
}

const lockSchema = z.strictObject({ v: z.literal(1), image: z.string(), owner: ownerSchema, lease: z.string().optional() });
type LockRecord = z.infer<typeof lockSchema>;

export function locksDir(work: string): string {
  return join(work, 'locks');
}

export async function lockImage(work: string, image: string, opts: LockOptions = {}): Promise<() => void> {
  const dir = locksDir(work);
  const path = join(dir, `${image}.lock`);
  const rec: LockRecord = { v: 1, image, owner: currentOwner(), ...(opts.lease ? { lease: opts.lease } : {}) };
  for (let attempt = 0; attempt < 5; attempt++) {
    mkdirSync(dir, { recursive: true });
    const mine = join(dir, `.${image}.${randomBytes(6).toString('hex')}.tmp`);
    writeFileSync(mine, JSON.stringify(rec), { mode: 0o600, flag: 'wx' });
    try {
      linkSync(mine, path);
      const ino = statSync(path).ino;
      return () => releaseLock(path, ino);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // The locks directory is removed when empty: recreate it if another run just did.
      if (code === 'ENOENT') continue;
      if (code !== 'EEXIST') throw err;
    } finally {
      rmSync(mine, { force: true });
    }
    const held = readLock(path);
    if (held === 'gone') continue;
    if (held.kind === 'invalid') {
      const aside = quarantine(work, path, held.ino);
      if (aside) opts.log?.warn({ lock: path, setAside: aside }, `image lock ${path} is not a valid imgport lock (${held.why}); set aside as ${aside}`);
      continue;
    }
    if (await stale(held.rec, opts)) {
      if (takeOver(path, held.ino)) opts.log?.warn({ image, holder: held.rec.owner }, `took over the lock of image ${image} left by ${describeOwner(held.rec.owner)}`);
      continue;
    }
    throw new ImgportError('LOCKED', `image ${image} is being changed by ${describeOwner(held.rec.owner)}; try again when it is done`, { where: path });
  }
  throw new ImgportError('LOCKED', `image ${image} is locked (${path})`, { where: path });
}

async function stale(rec: LockRecord, opts: LockOptions): Promise<boolean> {
  const state = ownerState(rec.owner);
  if (state === 'dead') return true;
  if (state === 'alive') return false;
  // Another host: only its lease can tell. Our caller holds the image's Redis lock, so a lock
  // taken under another lease is one whose owner lost it (died, or was cut off).
  if (rec.lease && opts.leaseHeld) return !(await opts.leaseHeld(rec.image, rec.lease));
  return false;
}

function readLock(path: string): 'gone' | { kind: 'valid'; rec: LockRecord; ino: number } | { kind: 'invalid'; why: string; ino: number } {
  let text: string;
  let ino: number;
  try {
    ino = statSync(path).ino;
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw err;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { kind: 'invalid', why: `not JSON: ${(err as Error).message}`, ino };
  }
  const parsed = lockSchema.safeParse(raw);
  if (!parsed.success) return { kind: 'invalid', why: parsed.error.issues.map((i) => `${i.path.join('.') || 'record'}: ${i.message}`).join('; '), ino };
  return { kind: 'valid', rec: parsed.data, ino };
}

/** Renames the stale lock aside; true when the inode moved is the one judged stale (else it is put back). */
function takeOver(path: string, ino: number): boolean {
  const aside = `${path}.stale-${randomBytes(6).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  if (statSync(aside).ino === ino) {
    unlinkSync(aside);
    return true;
  }
  // Someone else took it over and locked it in between: give theirs back.
  try {
    linkSync(aside, path);
  } catch {
    // A third process holds the name now; the one we moved lost the race as well.
  }
  unlinkSync(aside);
  return false;
}

/** Removes the lock only if it is still ours (same inode): a lock taken over from us stays. */
function releaseLock(path: string, ino: number): void {
  try {
    if (statSync(path).ino !== ino) return;
    const held = readLock(path);
    if (held !== 'gone' && held.kind === 'valid' && !sameOwner(held.rec.owner, currentOwner())) return;
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}

export type { Owner };
