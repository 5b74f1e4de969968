/**
 * xCAT's SQLite layout: one `<dir>/<table>.sqlite` file per table, each holding one table of
 * that name. One connection opens osimage.sqlite and ATTACHes the other two files, so a
 * single transaction spans all three (SQLite commits attached files atomically through a
 * super-journal while the journal mode is a rollback journal, which is xCAT's default; we
 * never change it). better-sqlite3 is synchronous: each use is one short transaction.
 */
import { closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ImgportError } from '@imgport/runtime';
import { fromSqliteError } from './errors.js';
import { TABLES, type ImageFilter, type ImageRows, type OpenOptions, type TableName, type TableStore } from './model.js';
import { assembleImage, assembleLitefile, assembleList, deleteSteps, writeSteps, type RawRows, type Step } from './plan.js';
import { quoteIdent, createTableSql } from './schema.js';
import { Statements } from './sql.js';
import { checkKeys } from './present.js';

/** How long a statement waits for another process's lock (xcatd's, say) before SQLITE_BUSY. */
export const DEFAULT_BUSY_TIMEOUT_MS = 5000;

/** The schema name each table's file is attached under; osimage.sqlite is the main file. */
const SCHEMA: Record<TableName, string> = { osimage: 'main', linuximage: 'linuximage', litefile: 'litefile' };

const q = (name: string) => quoteIdent('sqlite', name);

export async function openSqliteStore(dir: string, opts: OpenOptions = {}): Promise<TableStore> {
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

  async ping() {
    this.guard((at) => {
      for (const table of TABLES) this.all(at, table, this.stmts.probe(table), []);
    });
  }

  async close() {
    if (this.db.open) this.db.close();
  }
}
