import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, rmdirSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { isBelow, isValidImageName } from '@imgport/format';
import { ImgportError, silentLogger, type Logger } from '@imgport/runtime';
import { setDirAttrs } from '@imgport/store';
import { KEYS, KIT_TABLES, type ImageRecord, type ImageRows, type KitKeys, type KitRows, type TableStore } from '@imgport/tables';
import { assertConfined } from './confine.js';
import { syncDirs, syncFilesystems } from './durable.js';
import { currentOwner, describeOwner, ownerState } from './owner.js';
import type { Move } from './plan.js';
import { moveToTrash } from './trash.js';

/**
 * The commit protocol. Everything is staged beside the destination (inside the install root),
 * so committing is a series of renames plus one database transaction. Before the first rename the
 * staged data is synced and a journal records every move, the backup of whatever each move
 * replaces, the directories it creates and the rows before and after. A differential revert
 * (snapshot/store-revert.ts) adds two kinds: live paths taken away into the staging area
 * (`removes`, renamed back by a rollback) and the metadata of directories it keeps (`attrs`,
 * before and after: set after the moves, set back last by a rollback). An import has neither.
 *
 * - A commit that fails in-process is rolled back at once, while the backups exist; the journal
 *   and the backups live until the rollback has finished. A rollback that cannot finish (the
 *   database is down) marks the journal `abandoned`: whoever next holds the image lock finishes it.
 * - A process killed at any point leaves a journal that is recovered once its owner is known to
 *   be gone (owner.ts; in service mode, its Redis lease): "prepared" is rolled back (renames
 *   undone, old rows restored), "committed" rolled forward (only cleanup remains).
 * - Recovery trusts no journal: it must match the schema, its own name, and every path must lie
 *   inside the install root (or an allowed directory) and, for staged files and backups, inside
 *   its own staging area. A journal that fails is set aside in `.imgport/quarantine/`, named in
 *   the log, and changes nothing.
 */
export const ownerSchema = z.strictObject({ host: z.string().min(1).max(255), boot: z.string().max(64), pid: z.number().int().positive(), start: z.string().max(32) });

const row = z.record(z.string(), z.string().nullable());
// Kit rows (kit, kitrepo, kitcomponent) travel with the image rows an import writes.
const kitsSchema = z.strictObject({ kit: z.array(row), kitrepo: z.array(row), kitcomponent: z.array(row) });
const rowsSchema = z.strictObject({ osimage: row, linuximage: row, litefile: z.array(row), kits: kitsSchema.optional() });
const beforeSchema = z.strictObject({ osimage: row.optional(), linuximage: row.optional(), litefile: z.array(row), kits: kitsSchema.optional() });
const absolute = z.string().min(1).max(4096).refine((p) => isAbsolute(p) && !p.includes('\0') && resolve(p) === p, 'must be a normalised absolute path');
const moveSchema = z.strictObject({
  from: absolute,
  to: absolute,
  what: z.string().max(4096),
  dir: z.boolean(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  backup: absolute.optional(),
});

/** A live path a revert takes away: renamed into the staging area, renamed back by a rollback. */
const removeSchema = z.strictObject({ path: absolute, backup: absolute, what: z.string().max(4096), dir: z.boolean() });
const attrValues = z.strictObject({
  m: z.number().int().min(0).max(0o7777),
  u: z.number().int().min(0).max(0xffffffff),
  g: z.number().int().min(0).max(0xffffffff),
  /** mtime in nanoseconds (set to the microsecond: restore.ts). */
  mt: z.string().regex(/^\d{1,24}$/),
  x: z.record(z.string().min(1).max(255), z.string().max(90_000)).optional(),
});
/** A directory a revert keeps whose own metadata it sets (its entries changed, or it did): both sides, for a rollback. */
const attrSchema = z.strictObject({ path: absolute, before: attrValues, after: attrValues });

const journalSchema = z.strictObject({
  v: z.literal(2),
  id: z.string().regex(/^[0-9a-f]{12}$/),
  owner: ownerSchema,
  /** The Redis image-lock token it was written under (service mode). */
  lease: z.string().max(200).optional(),
  /** The job that runs this import: its receipt is kept once committed. */
  jobId: z.string().max(200).optional(),
  image: z.string().refine(isValidImageName, 'not a valid image name'),
  state: z.enum(['prepared', 'committed']),
  /** The owner gave up rolling it back (a database outage, say): anyone holding the image lock finishes it. */
  abandoned: z.boolean().optional(),
  txDir: absolute,
  moves: z.array(moveSchema).max(10_000_000),
  /** A differential revert: live paths taken away (applied before the moves). */
  removes: z.array(removeSchema).max(10_000_000).optional(),
  /** A differential revert: directory metadata set after the moves. */
  attrs: z.array(attrSchema).max(10_000_000).optional(),
  createdDirs: z.array(absolute),
  /** Staged copies and backups kept outside the staging area (moves across filesystems). */
  outside: z.array(absolute),
  rowsBefore: beforeSchema.nullable(),
  rowsAfter: rowsSchema,
  /** The kit rows of rowsAfter's keys as they were (kits are shared, so not part of rowsBefore). */
  kitsBefore: kitsSchema.optional(),
  result: z.unknown().optional(),
});

export type Journal = z.infer<typeof journalSchema>;
export type JournalRemove = z.infer<typeof removeSchema>;
export type JournalAttr = z.infer<typeof attrSchema>;
export type AttrValues = z.infer<typeof attrValues>;
export type JournalMove = Move & { backup?: string };

export interface CommitContext {
  work: string;
  tables: TableStore;
  log?: Logger;
  /** IMGPORT_ALLOW directories the moves may lie under besides the install root. */
  allow?: string[];
  /** How the staged data is synced before the journal (default syncFilesystems: a `sync -f`). */
  sync?: (paths: string[]) => Promise<void>;
}

export function journalDir(work: string): string {
  return join(work, 'journal');
}

export function txRoot(work: string): string {
  return join(work, 'tx');
}

function journalPath(work: string, id: string): string {
  return join(journalDir(work), `${id}.json`);
}

export function newJournalId(): string {
  return randomBytes(6).toString('hex');
}

/** `text` to `path` through `tmp`: written, fsynced, renamed (the caller fsyncs the directory). */
function writeDurably(tmp: string, path: string, text: string): void {
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** Writes the journal durably: temp file, fsync, rename, fsync the directory. */
export function writeJournal(work: string, j: Journal): void {
  const dir = journalDir(work);
  mkdirSync(dir, { recursive: true });
  writeDurably(join(dir, `.${j.id}.tmp`), journalPath(work, j.id), JSON.stringify(j));
  fsyncDir(dir);
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Optional crash points for the crash tests: IMGPORT_FAILPOINT=<name> kills the process there. */
export function failpoint(name: string): void {
  if (process.env.IMGPORT_FAILPOINT !== name) return;
  // PID 1 of a PID namespace (a container) ignores its own SIGKILL: exit at once instead.
  if (process.pid === 1) process.exit(137);
  process.kill(process.pid, 'SIGKILL');
}

/**
 * Optional pause points for the fault tests: IMGPORT_PAUSEPOINT=<name>=<marker file> creates the
 * marker there and waits until the test removes it (having killed a server meanwhile, say). Once per process.
 */
let paused = false;
async function pausepoint(name: string): Promise<void> {
  const spec = process.env.IMGPORT_PAUSEPOINT;
  if (paused || !spec?.startsWith(`${name}=`)) return;
  paused = true;
  const marker = spec.slice(name.length + 1);
  writeFileSync(marker, String(process.pid));
  while (existsSync(marker)) await sleep(50);
}

/** Optional fault points for the fault tests: IMGPORT_FAULT=<name> makes that step fail with EXDEV-like errors. */
function faultpoint(name: string): void {
  if (process.env.IMGPORT_FAULT === name) throw Object.assign(new Error(`injected fault at ${name}`), { code: 'EIO', syscall: 'rename' });
}

/** Directories that mkdir -p would create for `p`, outermost first. */
export function missingParents(p: string): string[] {
  const out: string[] = [];
  for (let d = dirname(p); !exists(d); d = dirname(d)) out.unshift(d);
  return out;
}

function sameInode(a: string, b: string): boolean {
  try {
    const [x, y] = [lstatSync(a), lstatSync(b)];
    return x.ino === y.ino && x.dev === y.dev;
  } catch {
    return false;
  }
}

function exists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Commit: each step is a small function, so a confinement check can go before each mkdir/rename.

function makeDir(d: string): void {
  mkdirSync(d);
}

function takeBackup(mv: JournalMove): void {
  if (mv.backup) renameSync(mv.to, mv.backup);
}

function place(mv: JournalMove): void {
  faultpoint(`place:${mv.what}`);
  if (mv.backup || mv.dir) {
    // A directory onto a path that appeared since the plan: rename(2) fails unless it is empty.
    if (!mv.backup && exists(mv.to)) throw appeared(mv);
    renameSync(mv.from, mv.to);
    return;
  }
  // The path was free when the plan was checked; another image's import (under another lock) may
  // have put a file there since. link(2) never replaces what is there, so theirs is kept.
  try {
    linkSync(mv.from, mv.to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw appeared(mv);
    throw err;
  }
  unlinkSync(mv.from);
}

function appeared(mv: JournalMove): ImgportError {
  return new ImgportError('CONFLICT', `${mv.to} (${mv.what}) appeared while this import was committing (another import placed it); nothing was replaced`, { where: mv.to });
}

/** Each destination is walked again right before it changes: a link planted since the plan is refused. */
function applyFiles(ctx: CommitContext, j: Journal): void {
  const root = dirname(ctx.work);
  for (const d of j.createdDirs) {
    if (exists(d)) continue;
    assertConfined(root, d, ctx.allow);
    makeDir(d);
  }
  for (const r of j.removes ?? []) {
    assertConfined(root, r.path, ctx.allow);
    takeAway(r);
  }
  for (const mv of j.moves) {
    assertConfined(root, mv.to, ctx.allow);
    takeBackup(mv);
    place(mv);
  }
  if (j.attrs?.length) failpoint('commit:before-attrs');
  for (const a of j.attrs ?? []) setAttrs(root, a.path, a.after, ctx.allow);
}

/** A path that vanished since the plan is already what the revert wants. */
function takeAway(r: JournalRemove): void {
  try {
    renameSync(r.path, r.backup);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || exists(r.backup)) throw err;
  }
}

/** A directory's metadata, set only on a real directory reached without a symlink. */
function setAttrs(root: string, path: string, values: AttrValues, allow: readonly string[] = []): void {
  const st = assertConfined(root, path, allow);
  if (!st) return;
  if (!st.isDirectory()) throw new ImgportError('CONFLICT', `${path} is no longer a directory; its metadata was not set`, { where: path });
  setDirAttrs(path, values);
}

/** The directories whose entries the commit changed: fsynced before the rows are written. */
function touchedDirs(j: Journal): string[] {
  const dirs = new Set<string>();
  for (const d of j.createdDirs) dirs.add(dirname(d));
  for (const mv of j.moves) {
    dirs.add(dirname(mv.to));
    dirs.add(dirname(mv.from));
    if (mv.backup) dirs.add(dirname(mv.backup));
  }
  for (const r of j.removes ?? []) {
    dirs.add(dirname(r.path));
    dirs.add(dirname(r.backup));
  }
  // A directory's own metadata lives in its inode: fsyncing it makes the attribute step durable.
  for (const a of j.attrs ?? []) dirs.add(a.path);
  return [...dirs];
}

/**
 * Stage → sync → journal → renames → fsync of the directories renamed into → rows → journal
 * "committed" → staging area and backups to the trash. Any failure before the rows are written
 * (or of the row write itself) rolls back at once.
 */
export async function commit(ctx: CommitContext, j: Journal): Promise<void> {
  const log = ctx.log ?? silentLogger;
  // The staged bytes must be on disk before a journal says they can be renamed into place.
  await (ctx.sync ?? syncFilesystems)([j.txDir, ...j.outside.map((p) => dirname(p))]);
  writeJournal(ctx.work, j);
  try {
    await pausepoint('commit:before-renames');
    applyFiles(ctx, j);
    failpoint('commit:after-renames');
    await syncDirs(touchedDirs(j));
    await pausepoint('commit:before-db');
    await ctx.tables.writeImage(j.image, j.rowsAfter);
    failpoint('commit:after-db');
  } catch (err) {
    await rollbackInProcess(ctx, j, err, log);
    throw err;
  }
  const done: Journal = { ...j, state: 'committed' };
  writeJournal(ctx.work, done);
  failpoint('commit:after-journal');
  await settle(ctx.work, done);
}

async function rollbackInProcess(ctx: CommitContext, j: Journal, cause: unknown, log: Logger): Promise<void> {
  try {
    await rollback(ctx.work, j, ctx.tables);
    log.warn({ image: j.image, err: cause }, 'commit failed: rolled back');
  } catch (err) {
    // The backups and the journal stay; whoever next holds the image lock finishes the rollback.
    try {
      writeJournal(ctx.work, { ...j, abandoned: true });
    } catch {
      // The journal on disk is still "prepared": its owner's death or lease expiry recovers it.
    }
    log.error({ image: j.image, err, journal: journalPath(ctx.work, j.id) }, 'commit failed and its rollback could not finish; the next import of this image (or imgport recover) finishes it');
  }
}

/** Undoes a prepared journal's renames in reverse order and restores the rows it replaced. Idempotent. */
export async function rollback(work: string, j: Journal, tables: TableStore): Promise<void> {
  for (const mv of [...j.moves].reverse()) {
    // Killed between the link and the unlink of a placement: the staged name is the one to keep.
    if (!mv.dir && exists(mv.from) && sameInode(mv.from, mv.to)) unlinkSync(mv.to);
    if (!exists(mv.from) && exists(mv.to)) {
      mkdirSync(dirname(mv.from), { recursive: true });
      renameSync(mv.to, mv.from);
    }
    if (mv.backup && exists(mv.backup) && !exists(mv.to)) renameSync(mv.backup, mv.to);
  }
  for (const r of [...(j.removes ?? [])].reverse()) {
    if (exists(r.backup) && !exists(r.path)) renameSync(r.backup, r.path);
  }
  for (const d of [...j.createdDirs].reverse()) {
    try {
      rmdirSync(d);
    } catch {
      // Not empty: something else lives there now; leave it.
    }
  }
  // Last: the renames above changed the mtimes of the directories they touched.
  const root = dirname(work);
  for (const a of j.attrs ?? []) {
    try {
      setAttrs(root, a.path, a.before);
    } catch {
      // Replaced by something else since (not a directory, or reached through a link now): left as it is.
    }
  }
  await syncDirs(touchedDirs(j).filter(exists));
  const before = j.rowsBefore;
  if (before?.osimage && before.linuximage) {
    await tables.writeImage(j.image, { osimage: before.osimage, linuximage: before.linuximage, litefile: before.litefile });
  } else {
    await tables.deleteImage(j.image);
  }
  const kits = j.rowsAfter.kits;
  if (kits && j.kitsBefore) await tables.restoreKits(j.kitsBefore, addedKeys(kits, j.kitsBefore));
  await settle(work, j);
}

/** The kit rows an import will replace, read before it commits so that a rollback can put them back. */
export async function readKitsBefore(tables: TableStore, kits: KitRows | undefined): Promise<{ kitsBefore?: KitRows }> {
  if (!kits) return {};
  const out = { kit: [], kitrepo: [], kitcomponent: [] } as KitRows;
  for (const table of KIT_TABLES) {
    for (const row of kits[table]) {
      const key = row[KEYS[table][0]!];
      if (key) out[table].push(...(await tables.kitRows(table, KEYS[table][0]!, key)));
    }
  }
  return { kitsBefore: out };
}

/** Keys of `after` that `before` lacks: the rows an import added. */
function addedKeys(after: KitRows, before: KitRows): KitKeys {
  const out = { kit: [], kitrepo: [], kitcomponent: [] } as KitKeys;
  for (const table of KIT_TABLES) {
    const col = KEYS[table][0]!;
    const had = new Set(before[table].map((r) => r[col]));
    for (const row of after[table]) if (row[col] && !had.has(row[col])) out[table].push(row[col]!);
  }
  return out;
}

/** A settled journal: its staging area (and backups) to the trash, its receipt kept, the journal gone. */
async function settle(work: string, j: Journal): Promise<void> {
  if (j.state === 'committed' && j.jobId) writeReceipt(work, j);
  moveToTrash(work, j.txDir, j.id);
  for (const p of j.outside) rmSync(p, { recursive: true, force: true });
  rmSync(journalPath(work, j.id), { force: true });
}

// ---------------------------------------------------------------------------------------------
// Receipts: a committed import of a job, so that a retry of that job (its worker died before it
// could report) recognises its own import and succeeds. imgport's bookkeeping, never xCAT's.

const receiptSchema = z.strictObject({ v: z.literal(1), jobId: z.string(), image: z.string(), journal: z.string(), at: z.string(), result: z.unknown() });
export type Receipt = z.infer<typeof receiptSchema>;
const RECEIPT_TTL_MS = 7 * 24 * 3600 * 1000;

function receiptPath(work: string, jobId: string): string {
  return join(work, 'receipts', `${jobId.replace(/[^A-Za-z0-9._-]/g, '_')}.json`);
}

function writeReceipt(work: string, j: Journal): void {
  const path = receiptPath(work, j.jobId!);
  mkdirSync(dirname(path), { recursive: true });
  const r: Receipt = { v: 1, jobId: j.jobId!, image: j.image, journal: j.id, at: new Date().toISOString(), result: j.result ?? null };
  writeDurably(`${path}.${j.id}.tmp`, path, JSON.stringify(r));
}

export function readReceipt(work: string, jobId: string): Receipt | undefined {
  try {
    const parsed = receiptSchema.safeParse(JSON.parse(readFileSync(receiptPath(work, jobId), 'utf8')));
    return parsed.success && parsed.data.jobId === jobId ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export function dropReceipt(work: string, jobId: string): void {
  rmSync(receiptPath(work, jobId), { force: true });
}

function sweepReceipts(work: string): void {
  const dir = join(work, 'receipts');
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    const p = join(dir, name);
    try {
      if (Date.now() - statSync(p).mtimeMs > RECEIPT_TTL_MS) rmSync(p, { force: true });
    } catch {
      // Gone already.
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reading and validating journals.

export interface TrustContext {
  installRoot: string;
  /** IMGPORT_ALLOW: directories outside the install root that moves may write to. */
  allow: string[];
}

/** Every path the journal would touch lies where an import of its own could have put it. */
function checkPaths(work: string, j: Journal, trust: TrustContext): string | undefined {
  const root = resolve(trust.installRoot);
  if (j.txDir !== join(txRoot(work), j.id)) return `txDir ${j.txDir} is not this journal's staging area ${join(txRoot(work), j.id)}`;
  const destinationOk = (p: string) => (isBelow(root, p) && !isBelow(work, p) && p !== work) || trust.allow.some((a) => isBelow(resolve(a), p));
  const stagedOk = (p: string) => isBelow(j.txDir, p) || (j.outside.includes(p) && destinationOk(p) && basename(p).startsWith(`.imgport-${j.id}-`));
  for (const p of j.outside) if (!destinationOk(p) || !basename(p).startsWith(`.imgport-${j.id}-`)) return `outside path ${p} is not a staged copy of this journal`;
  for (const mv of j.moves) {
    if (!destinationOk(mv.to)) return `destination ${mv.to} lies outside the install root and the allowed directories (or inside .imgport)`;
    if (!stagedOk(mv.from)) return `staged file ${mv.from} lies outside the journal's staging area`;
    if (mv.backup && !stagedOk(mv.backup)) return `backup ${mv.backup} lies outside the journal's staging area`;
  }
  for (const r of j.removes ?? []) {
    if (!destinationOk(r.path)) return `removed path ${r.path} lies outside the install root and the allowed directories (or inside .imgport)`;
    if (!isBelow(j.txDir, r.backup)) return `backup ${r.backup} lies outside the journal's staging area`;
  }
  for (const a of j.attrs ?? []) if (!destinationOk(a.path)) return `directory ${a.path} lies outside the install root and the allowed directories (or inside .imgport)`;
  for (const d of j.createdDirs) if (!destinationOk(d)) return `created directory ${d} lies outside the install root and the allowed directories`;
  return undefined;
}

export type ReadJournal = { kind: 'valid'; journal: Journal; path: string } | { kind: 'invalid'; path: string; why: string } | { kind: 'gone' };

export function readJournal(work: string, file: string, trust: TrustContext): ReadJournal {
  const path = join(journalDir(work), file);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'gone' };
    return { kind: 'invalid', path, why: `not JSON: ${(err as Error).message}` };
  }
  const parsed = journalSchema.safeParse(raw);
  if (!parsed.success) {
    return { kind: 'invalid', path, why: parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || 'journal'}: ${i.message}`).join('; ') };
  }
  const j = parsed.data;
  if (file !== `${j.id}.json`) return { kind: 'invalid', path, why: `its id ${j.id} does not match its file name` };
  const bad = checkPaths(work, j, trust);
  if (bad) return { kind: 'invalid', path, why: bad };
  return { kind: 'valid', journal: j, path };
}

/** Moves a file imgport cannot trust into `.imgport/quarantine/`; returns where (undefined if it vanished or changed). */
export function quarantine(work: string, path: string, ino?: number): string | undefined {
  const dir = join(work, 'quarantine');
  mkdirSync(dir, { recursive: true });
  const aside = join(dir, `${basename(path)}.${new Date().toISOString().replace(/[:.]/g, '')}.${randomBytes(3).toString('hex')}`);
  try {
    if (ino !== undefined && statSync(path).ino !== ino) return undefined;
    renameSync(path, aside);
    return aside;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Recovery.

export interface RecoverContext extends TrustContext {
  work: string;
  tables: TableStore;
  log?: Logger;
  /** Only journals of this image (the caller holds its lock). */
  image?: string;
  /**
   * Runs `fn` holding the image lock, or returns 'busy' when another live process holds it. The
   * caller that already holds the lock of `image` passes one that just runs `fn`.
   */
  withLock(image: string, fn: () => Promise<void>): Promise<'done' | 'busy'>;
  /** Whether a lease (a Redis image-lock token) is still held: service mode only. */
  leaseHeld?: (image: string, lease: string) => Promise<boolean>;
}

export interface RecoverReport {
  recovered: Array<{ image: string; outcome: 'rolled back' | 'rolled forward'; journal: string }>;
  /** Journals that could not be read or trusted, and where they were moved. */
  setAside: Array<{ journal: string; movedTo: string; why: string }>;
  /** Journals of live owners (or owners this process cannot judge): left alone. */
  pending: Array<{ image: string; journal: string; owner: string }>;
}

async function recoverable(j: Journal, ctx: RecoverContext): Promise<boolean> {
  if (j.abandoned) return true;
  const state = ownerState(j.owner);
  if (state === 'dead') return true;
  if (state === 'alive') return false;
  if (j.lease && ctx.leaseHeld) return !(await ctx.leaseHeld(j.image, j.lease));
  return false;
}

/**
 * Finishes what killed or failed imports left: journals rolled back or forward under their image
 * lock, untrusted journals set aside, staging areas of dead processes and the trash emptied.
 */
export async function recover(ctx: RecoverContext): Promise<RecoverReport> {
  const log = ctx.log ?? silentLogger;
  const report: RecoverReport = { recovered: [], setAside: [], pending: [] };
  const dir = journalDir(ctx.work);
  for (const f of existsSync(dir) ? readdirSync(dir) : []) {
    if (!f.endsWith('.json')) continue;
    const first = readJournal(ctx.work, f, ctx);
    if (first.kind === 'gone') continue;
    if (first.kind === 'invalid') {
      const movedTo = quarantine(ctx.work, first.path);
      if (movedTo) {
        report.setAside.push({ journal: first.path, movedTo, why: first.why });
        log.error({ journal: first.path, setAside: movedTo }, `journal ${first.path} cannot be trusted (${first.why}); set aside as ${movedTo}, nothing was changed by it`);
      }
      continue;
    }
    const j = first.journal;
    if (ctx.image !== undefined && j.image !== ctx.image) continue;
    if (!(await recoverable(j, ctx))) {
      report.pending.push({ image: j.image, journal: first.path, owner: describeOwner(j.owner) });
      continue;
    }
    const outcome = await ctx.withLock(j.image, async () => {
      // Read again under the lock: another process may have settled it meanwhile.
      const again = readJournal(ctx.work, f, ctx);
      if (again.kind !== 'valid' || !(await recoverable(again.journal, ctx))) return;
      const jj = again.journal;
      if (jj.state === 'committed') await settle(ctx.work, jj);
      else await rollback(ctx.work, jj, ctx.tables);
      const what = jj.state === 'committed' ? 'rolled forward' : 'rolled back';
      report.recovered.push({ image: jj.image, outcome: what, journal: again.path });
      log.warn({ image: jj.image, journal: again.path, owner: jj.owner }, `interrupted import of ${jj.image} ${what}`);
    });
    if (outcome === 'busy') report.pending.push({ image: j.image, journal: first.path, owner: describeOwner(j.owner) });
  }
  if (ctx.image === undefined) {
    cleanStaging(ctx.work, log);
    sweepReceipts(ctx.work);
  }
  return report;
}

/**
 * Each staging area holds its owner (and job) in `.owner`; those without a journal whose owner is
 * dead, or that belong to `job` (a run of it that another worker left: this process runs it now),
 * are trashed.
 */
export function cleanStaging(work: string, log: Logger, job?: { jobId: string; except: string }): void {
  const tx = txRoot(work);
  for (const name of existsSync(tx) ? readdirSync(tx) : []) {
    if (existsSync(journalPath(work, name)) || name === job?.except) continue;
    const owner = readStagingOwner(join(tx, name));
    const mine = job !== undefined && owner !== undefined && owner !== 'invalid' && owner.job === job.jobId;
    if (owner === 'invalid' || mine || (owner && ownerState(owner) === 'dead')) {
      moveToTrash(work, join(tx, name), name);
      log.debug({ staging: join(tx, name) }, 'removed the staging area of a dead import');
    }
  }
}

const stagingOwnerSchema = ownerSchema.extend({ job: z.string().max(300).optional() });
type StagingOwner = z.infer<typeof stagingOwnerSchema>;

/** Creates a staging area that records its owner and job (so recovery can tell when it is abandoned). */
export function createStaging(work: string, id: string, jobId?: string): string {
  const dir = join(txRoot(work), id);
  mkdirSync(dir, { recursive: true });
  const fd = openSync(join(dir, '.owner'), 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify({ ...currentOwner(), ...(jobId ? { job: jobId } : {}) }));
  } finally {
    closeSync(fd);
  }
  return dir;
}

function readStagingOwner(dir: string): StagingOwner | 'invalid' | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, '.owner'), 'utf8');
  } catch (err) {
    // Created but not yet written, or a directory that is not a staging area: judge by age.
    const st = statSync(dir, { throwIfNoEntry: false });
    return st && Date.now() - st.mtimeMs > 24 * 3600 * 1000 ? 'invalid' : undefined;
  }
  try {
    const parsed = stagingOwnerSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : 'invalid';
  } catch {
    return 'invalid';
  }
}

export function ensureNoPending(report: RecoverReport, image: string): void {
  const p = report.pending.find((x) => x.image === image);
  if (p) {
    throw new ImgportError('LOCKED', `image ${image} has an unfinished import of ${p.owner} (${p.journal}); it is finished when that process ends or its lease expires`, { where: p.journal });
  }
}
