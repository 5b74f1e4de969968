import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ImgportError, takeLockFile, type Logger } from '@imgport/runtime';
import { currentOwner, describeOwner, ownerState, type Owner } from './owner.js';
import { ownerSchema, quarantine } from './journal.js';

/**
 * A per-image lock file, taken in every mode (inline commands and workers alike), so an inline
 * `xcatimport` and a worker exclude each other. It holds its owner (host, boot id, pid, start
 * time) and, in service mode, the Redis lease (the image lock's token) it was taken under.
 *
 * Taking it is atomic and a stale lock is removed by one process at a time, only while it still
 * holds the record judged stale (see `takeLockFile`). A lock that is not a valid record is set
 * aside into the quarantine with a message naming it.
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
  const path = join(locksDir(work), `${image}.lock`);
  const rec: LockRecord = { v: 1, image, owner: currentOwner(), ...(opts.lease ? { lease: opts.lease } : {}) };
  const got = await takeLockFile(path, {
    text: JSON.stringify(rec),
    judge: async (text) => {
      const held = parseLock(text);
      if (!held.ok) return 'invalid';
      return (await stale(held.rec, opts)) ? 'stale' : 'held';
    },
    remove: (file, verdict, text) => {
      const held = parseLock(text);
      if (!held.ok) {
        const aside = quarantine(work, file);
        if (aside) opts.log?.warn({ lock: file, setAside: aside }, `image lock ${file} is not a valid imgport lock (${held.why}); set aside as ${aside}`);
        return;
      }
      rmSync(file, { force: true });
      opts.log?.warn({ image, holder: held.rec.owner }, `took over the lock of image ${image} left by ${describeOwner(held.rec.owner)}`);
    },
  });
  if (got.taken) return got.release;
  const held = parseLock(got.holder);
  const by = held.ok ? describeOwner(held.rec.owner) : 'another process';
  throw new ImgportError('LOCKED', `image ${image} is being changed by ${by}; try again when it is done`, { where: path });
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

function parseLock(text: string): { ok: true; rec: LockRecord } | { ok: false; why: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, why: `not JSON: ${(err as Error).message}` };
  }
  const parsed = lockSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, why: parsed.error.issues.map((i) => `${i.path.join('.') || 'record'}: ${i.message}`).join('; ') };
  return { ok: true, rec: parsed.data };
}

export type { Owner };
