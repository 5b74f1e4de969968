import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, rmdirSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import type { ImageRecord, ImageRows, TableStore } from '@imgport/tables';
import { assertConfined } from './confine.js';
import type { Move } from './plan.js';

/**
 * The commit protocol. Everything is staged beside the destination (inside the install root),
 * so committing is a series of renames plus one database transaction. Before the first rename a
 * journal records every move, the backup of whatever each move replaces, the directories it
 * creates and the rows before and after. A process killed at any point leaves a journal that the
 * next run reads: "prepared" is rolled back (renames undone, old rows restored), "committed" is
 * rolled forward (only cleanup remains). Either way the image is the old one or the new one.
 */
export interface Journal {
  id: string;
  host: string;
  pid: number;
  image: string;
  state: 'prepared' | 'committed';
  txDir: string;
  moves: Array<Move & { backup?: string }>;
  createdDirs: string[];
  rowsBefore: ImageRecord | null;
  rowsAfter: ImageRows;
  /** IMGPORT_ALLOW directories the moves may lie under besides the install root. */
  allow?: string[];
}

export function journalDir(work: string): string {
  return join(work, 'journal');
}

function journalPath(work: string, id: string): string {
  return join(journalDir(work), `${id}.json`);
}

/** Writes the journal durably: temp file, fsync, rename, fsync the directory. */
export function writeJournal(work: string, j: Journal): void {
  const dir = journalDir(work);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${j.id}.tmp`);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify(j));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, journalPath(work, j.id));
  syncDir(dir);
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Optional crash points for the crash tests: IMGPORT_FAILPOINT=<name> kills the process there. */
export function failpoint(name: string): void {
  if (process.env.IMGPORT_FAILPOINT === name) process.kill(process.pid, 'SIGKILL');
}

/** Directories that mkdir -p would create for `p`, outermost first. */
export function missingParents(p: string): string[] {
  const out: string[] = [];
  for (let d = dirname(p); !existsSync(d); d = dirname(d)) out.unshift(d);
  return out;
}

export async function commit(work: string, j: Journal, tables: TableStore): Promise<void> {
  writeJournal(work, j);
  for (const d of j.createdDirs) {
    assertConfined(dirname(work), d, j.allow);
    mkdirSync(d, { recursive: true });
  }
  for (const mv of j.moves) {
    assertConfined(dirname(work), mv.to, j.allow);
    if (mv.backup) renameSync(mv.to, mv.backup);
    renameSync(mv.from, mv.to);
  }
  failpoint('commit:after-renames');
  await tables.writeImage(j.image, j.rowsAfter);
  failpoint('commit:after-db');
  writeJournal(work, { ...j, state: 'committed' });
  finish(work, j);
}

/** Undoes a prepared journal's renames in reverse order and restores the rows it replaced. */
export async function rollback(work: string, j: Journal, tables: TableStore): Promise<void> {
  for (const mv of [...j.moves].reverse()) {
    if (!existsSync(mv.from) && existsSync(mv.to)) {
      mkdirSync(dirname(mv.from), { recursive: true });
      renameSync(mv.to, mv.from);
    }
    if (mv.backup && existsSync(mv.backup)) renameSync(mv.backup, mv.to);
  }
  const before = j.rowsBefore;
  if (before?.osimage && before.linuximage) {
    await tables.writeImage(j.image, { osimage: before.osimage, linuximage: before.linuximage, litefile: before.litefile });
  } else {
    await tables.deleteImage(j.image);
  }
  for (const d of [...j.createdDirs].reverse()) {
    try {
      rmdirSync(d);
    } catch {
      // Not empty: something else lives there now; leave it.
    }
  }
  finish(work, j);
}

function finish(work: string, j: Journal): void {
  rmSync(j.txDir, { recursive: true, force: true });
  rmSync(journalPath(work, j.id), { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when the process that wrote a record ran on this host and is gone. */
export function orphaned(rec: { host: string; pid: number }): boolean {
  return rec.host === hostname() && rec.pid !== process.pid && !alive(rec.pid);
}

/**
 * Finishes what killed processes left: journals rolled back or forward, staging areas removed.
 * Only records of this host are touched (another host's process may still be running).
 */
export async function recover(work: string, tables: TableStore): Promise<Array<{ image: string; outcome: 'rolled back' | 'rolled forward' }>> {
  const done: Array<{ image: string; outcome: 'rolled back' | 'rolled forward' }> = [];
  const dir = journalDir(work);
  for (const f of existsSync(dir) ? readdirSync(dir) : []) {
    if (!f.endsWith('.json')) continue;
    const j = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Journal;
    if (!orphaned(j)) continue;
    if (j.state === 'committed') {
      finish(work, j);
      done.push({ image: j.image, outcome: 'rolled forward' });
    } else {
      await rollback(work, j, tables);
      done.push({ image: j.image, outcome: 'rolled back' });
    }
  }
  cleanStaging(work);
  return done;
}

/** Staging areas are named <host>~<pid>~<random>; those of dead local processes are removed. */
function cleanStaging(work: string): void {
  const tx = join(work, 'tx');
  const journals = new Set(existsSync(journalDir(work)) ? readdirSync(journalDir(work)) : []);
  for (const name of existsSync(tx) ? readdirSync(tx) : []) {
    const [host, pid, id] = name.split('~');
    if (!host || !pid || !id || journals.has(`${id}.json`)) continue;
    if (orphaned({ host, pid: Number(pid) })) rmSync(join(tx, name), { recursive: true, force: true });
  }
}
