/**
 * xCAT's SQLite layout: one `<dir>/<table>.sqlite` file per table, each holding one table of
 * that name. One connection opens osimage.sqlite and ATTACHes the other two files, so a
 * single transaction spans all three (SQLite commits attached files atomically through a
 * super-journal while the journal mode is a rollback journal, which is xCAT's default; we
 * never change it). better-sqlite3 is synchronous: each use is one short transaction.
 *
 * Nothing is created until the first write: while a table file is missing, reads find no rows
 * (so an export, a listing or a dry run on a fresh node leaves no empty `<table>.sqlite`), and
 * the first writeImage/deleteImage creates the directory and the tables as xCAT would.
 */
import { closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ImgportError } from '@imgport/runtime';
import { fromSqliteError } from './errors.js';
import { KIT_TABLES, TABLES, type KitKeys, type KitRows, type KitTableName, type ImageFilter, type ImageRows, type OpenOptions, type TableName, type TableStore } from './model.js';
import { assembleImage, assembleKitRows, assembleLitefile, assembleList, deleteSteps, restoreKitSteps, writeSteps, type RawRows, type Step } from './store-plan.js';
import { quoteIdent, createTableSql } from './schema.js';
import { Statements } from './sql.js';
import { checkKeys } from './present.js';

/** How long a statement waits for another process's lock (xcatd's, say) before SQLITE_BUSY. */
export const DEFAULT_BUSY_TIMEOUT_MS = 5000;

/** The schema name each table's file is attached under; osimage.sqlite is the main file. */
const SCHEMA: Record<TableName, string> = { osimage: 'main', linuximage: 'linuximage', litefile: 'litefile', kit: 'kit', kitrepo: 'kitrepo', kitcomponent: 'kitcomponent' };

const q = (name: string) => quoteIdent('sqlite', name);

export async function openSqliteStore(dir: string, opts: OpenOptions = {}): Promise<TableStore> {
  const description = `sqlite:${dir}`;
  const timeout = opts.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  const missingDir = !dirExists(dir, description, opts.create === true);
  // Every file is looked at (not just up to the first missing one): a damaged one fails the open.
  if (missingDir || TABLES.map((t) => hasTable(dir, t, timeout)).includes(false)) {
    return new DeferredSqliteStore(dir, description, timeout, () => openFullStore(dir, { ...opts, create: true }));
  }
  return openFullStore(dir, opts);
}

/** Whether the directory exists; a missing one is an error unless it may be created later. */
function dirExists(dir: string, description: string, create: boolean): boolean {
  try {
    if (statSync(dir).isDirectory()) return true;
    throw new ImgportError('DB_UNAVAILABLE', `database ${description} unavailable: not a directory`);
  } catch (err) {
    if (err instanceof ImgportError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !create) {
      throw new ImgportError('DB_UNAVAILABLE', `database ${description} unavailable: ${(err as Error).message}`, { cause: err });
    }
    return false;
  }
}

/**
 * Whether `<table>.sqlite` holds its table; a file that is no database is an error naming the
 * table. Opened for writing although it only reads: a process killed in a commit leaves a hot
 * journal, which SQLite must roll back on open, and a read-only connection fails there with
 * "attempt to write a readonly database".
 */
function hasTable(dir: string, table: TableName, timeout: number): boolean {
  const file = join(dir, `${table}.sqlite`);
  if (!existsSync(file)) return false;
  try {
    const db = new Database(file, { fileMustExist: true, timeout });
    try {
      return db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).pluck().get(table) !== undefined;
    } finally {
      db.close();
    }
  } catch (err) {
    throw fromSqliteError(err, { db: `sqlite:${dir}`, table });
  }
}

async function openFullStore(dir: string, opts: OpenOptions): Promise<TableStore> {
  const description = `sqlite:${dir}`;
  const timeout = opts.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  ensureDir(dir, description, opts.create === true);
  for (const table of TABLES) {
    try {
      ensureTable(join(dir, `${table}.sqlite`), table, timeout);
    } catch (err) {
      throw fromSqliteError(err, { db: description, table });
    }
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(join(dir, 'osimage.sqlite'), { fileMustExist: true, timeout });
    for (const table of TABLES) {
      if (SCHEMA[table] !== 'main') db.prepare(`ATTACH DATABASE ? AS ${q(SCHEMA[table])}`).run(join(dir, `${table}.sqlite`));
    }
    const present = {} as Record<TableName, ReadonlySet<string>>;
    for (const table of TABLES) {
      const info = db.pragma(`${q(SCHEMA[table])}.table_info(${q(table)})`) as Array<{ name: string }>;
      present[table] = checkKeys(table, info.map((c) => c.name), description);
    }
    return new SqliteStore(db, description, present);
  } catch (err) {
    db?.close();
    throw fromSqliteError(err, { db: description });
  }
}

function ensureDir(dir: string, description: string, create: boolean): void {
  try {
    if (statSync(dir).isDirectory()) return;
    throw new ImgportError('DB_UNAVAILABLE', `database ${description} unavailable: not a directory`);
  } catch (err) {
    if (err instanceof ImgportError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !create) {
      throw new ImgportError('DB_UNAVAILABLE', `database ${description} unavailable: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  mkdirSync(dir, { recursive: true });
}

/**
 * Creates `<table>.sqlite` and its table when missing, the way xCAT does. The file is made
 * 0600 first because xCAT keeps its database files private (it creates them under umask 077).
 * The check and the CREATE share one IMMEDIATE transaction, so two processes starting at
 * once cannot both create the table.
 */
function ensureTable(file: string, table: TableName, timeout: number): void {
  try {
    closeSync(openSync(file, 'wx', 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const db = new Database(file, { fileMustExist: true, timeout });
  try {
    const exists = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).pluck();
    if (exists.get(table)) return;
    db.transaction(() => {
      if (!exists.get(table)) db.exec(createTableSql('sqlite', table));
    }).immediate();
  } finally {
    db.close();
  }
}

class SqliteStore implements TableStore {
  readonly kind = 'sqlite' as const;
  private readonly stmts: Statements;
  private readonly cache = new Map<string, Database.Statement>();

  constructor(
    private readonly db: Database.Database,
    readonly description: string,
    private readonly present: Record<TableName, ReadonlySet<string>>,
  ) {
    this.stmts = new Statements('sqlite', present, (t) => `${q(SCHEMA[t])}.${q(t)}`);
  }

  private prepare(sql: string): Database.Statement {
    let st = this.cache.get(sql);
    if (!st) this.cache.set(sql, (st = this.db.prepare(sql)));
    return st;
  }

  /** Runs `fn` with every failure translated, naming the table the failing statement was for. */
  private guard<T>(fn: (at: { table?: TableName }) => T): T {
    const at: { table?: TableName } = {};
    try {
      return fn(at);
    } catch (err) {
      throw fromSqliteError(err, { db: this.description, ...(at.table ? { table: at.table } : {}) });
    }
  }

  private all(at: { table?: TableName }, table: TableName, sql: string, params: unknown[]): RawRows {
    at.table = table;
    return this.prepare(sql).all(...params) as RawRows;
  }

  /** Steps in one IMMEDIATE transaction: the write locks are taken up front, on all three files. */
  private runSteps(steps: Step[]): void {
    this.guard((at) =>
      this.db.transaction(() => {
        for (const step of steps) {
          at.table = step.table;
          this.prepare(step.sql).run(...step.params);
        }
      }).immediate(),
    );
  }

  async getImage(name: string) {
    // One read transaction: a consistent view of the three files.
    return this.guard((at) =>
      this.db.transaction(() =>
        assembleImage(
          this.all(at, 'osimage', this.stmts.selectImage('osimage'), [name]),
          this.all(at, 'linuximage', this.stmts.selectImage('linuximage'), [name]),
          this.all(at, 'litefile', this.stmts.selectImage('litefile'), [name]),
        ),
      )(),
    );
  }

  async litefileRows(images: readonly string[]) {
    return this.guard((at) =>
      this.db.transaction(() => assembleLitefile(images.map((i) => this.all(at, 'litefile', this.stmts.selectImage('litefile'), [i]))))(),
    );
  }

  async kitRows(table: KitTableName, column: string, value: string) {
    return this.guard((at) => assembleKitRows(table, this.all(at, table, this.stmts.selectWhere(table, column), [value])));
  }

  async listImages(filter?: ImageFilter) {
    return this.guard((at) =>
      this.db.transaction(() =>
        assembleList(
          this.all(at, 'osimage', this.stmts.selectAll('osimage'), []),
          this.all(at, 'linuximage', this.stmts.selectAll('linuximage'), []),
          filter,
        ),
      )(),
    );
  }

  async writeImage(name: string, rec: ImageRows) {
    this.runSteps(writeSteps(this.stmts, this.present, name, rec));
  }

  async deleteImage(name: string) {
    this.runSteps(deleteSteps(this.stmts, name));
  }

  async restoreKits(put: KitRows, drop: KitKeys) {
    this.runSteps(restoreKitSteps(this.stmts, this.present, put, drop));
  }

  async ping() {
    this.guard((at) => {
      for (const table of TABLES) this.all(at, table, this.stmts.probe(table), []);
    });
  }

  async close() {
    if (this.db.open) this.db.close();
  }
}

/**
 * The store while some table file is missing: reads open each existing file read-only and
 * find no rows where a table is missing; the first write opens the full store (creating the
 * directory and the missing tables) and everything goes there from then on.
 */
class DeferredSqliteStore implements TableStore {
  readonly kind = 'sqlite' as const;
  private full: Promise<TableStore> | undefined;
  private closed = false;

  constructor(
    private readonly dir: string,
    readonly description: string,
    private readonly timeout: number,
    private readonly open: () => Promise<TableStore>,
  ) {}

  /** A closed store stays closed, as the full one does once its connection is gone. */
  private open_(): void {
    if (this.closed) throw new ImgportError('DB_UNAVAILABLE', `database ${this.description} unavailable: the store is closed`);
  }

  private store(): Promise<TableStore> {
    this.open_();
    this.full ??= this.open().catch((err: unknown) => {
      this.full = undefined;
      throw err;
    });
    return this.full;
  }

  /** Rows of `table` from its file opened read-only, or none when the file or table is missing. */
  private read(table: TableName, pick: (stmts: Statements) => string, params: unknown[]): RawRows {
    this.open_();
    if (!hasTable(this.dir, table, this.timeout)) return [];
    let db: Database.Database | undefined;
    try {
      db = new Database(join(this.dir, `${table}.sqlite`), { readonly: true, fileMustExist: true, timeout: this.timeout });
      const info = db.pragma(`table_info(${q(table)})`) as Array<{ name: string }>;
      const present = Object.fromEntries(TABLES.map((t) => [t, new Set<string>()])) as unknown as Record<TableName, ReadonlySet<string>>;
      present[table] = checkKeys(table, info.map((c) => c.name), this.description);
      return db.prepare(pick(new Statements('sqlite', present, (t) => q(t)))).all(...params) as RawRows;
    } catch (err) {
      throw fromSqliteError(err, { db: this.description, table });
    } finally {
      db?.close();
    }
  }

  async getImage(name: string) {
    if (this.full) return (await this.full).getImage(name);
    return assembleImage(
      this.read('osimage', (s) => s.selectImage('osimage'), [name]),
      this.read('linuximage', (s) => s.selectImage('linuximage'), [name]),
      this.read('litefile', (s) => s.selectImage('litefile'), [name]),
    );
  }

  async litefileRows(images: readonly string[]) {
    if (this.full) return (await this.full).litefileRows(images);
    return assembleLitefile(images.map((i) => this.read('litefile', (s) => s.selectImage('litefile'), [i])));
  }

  async kitRows(table: KitTableName, column: string, value: string) {
    if (this.full) return (await this.full).kitRows(table, column, value);
    return assembleKitRows(table, this.read(table, (s) => s.selectWhere(table, column), [value]));
  }

  async listImages(filter?: ImageFilter) {
    if (this.full) return (await this.full).listImages(filter);
    return assembleList(this.read('osimage', (s) => s.selectAll('osimage'), []), this.read('linuximage', (s) => s.selectAll('linuximage'), []), filter);
  }

  async writeImage(name: string, rec: ImageRows) {
    await (await this.store()).writeImage(name, rec);
  }

  async deleteImage(name: string) {
    this.open_();
    // Nothing to delete from tables that do not exist yet: no reason to create them.
    if (!this.full && TABLES.every((t) => !hasTable(this.dir, t, this.timeout))) return;
    await (await this.store()).deleteImage(name);
  }

  async restoreKits(put: KitRows, drop: KitKeys) {
    this.open_();
    const nothing = KIT_TABLES.every((t) => put[t].length === 0);
    // Only keys to drop, and no kit table yet: nothing to undo, and no reason to create them.
    if (!this.full && nothing && KIT_TABLES.every((t) => !hasTable(this.dir, t, this.timeout))) return;
    await (await this.store()).restoreKits(put, drop);
  }

  async ping() {
    if (this.full) return (await this.full).ping();
    for (const table of TABLES) this.read(table, (s) => s.probe(table), []);
  }

  async close() {
    this.closed = true;
    const full = this.full;
    this.full = undefined;
    if (full) await (await full).close();
  }
}
