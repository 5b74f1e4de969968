/**
 * The two SQL backends of the job records, reduced to what records.ts needs: run a statement,
 * read rows. imgport's own table `imgport_jobs`, never one of xCAT's: on SQLite in its own file
 * `<dir>/imgport_jobs.sqlite` beside xCAT's, on MySQL in the same database. A driver failure
 * that means the server is unreachable becomes DB_UNAVAILABLE (a job retries, the API answers
 * 503); a full disk DISK_FULL; any other SQL error is a bug: INTERNAL, never retried.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import { ImgportError, isConnectionError } from '@imgport/runtime';
import { createMysqlDatabase, parseDbUrl, type MysqlTarget } from '@imgport/tables';

export type SqlValue = string | number | null;
export type SqlRow = Record<string, unknown>;

export interface SqlBackend {
  readonly kind: 'sqlite' | 'mysql';
  readonly description: string;
  /** `INSERT OR IGNORE` / `INSERT IGNORE`: a duplicate id is not an error but 0 rows changed. */
  readonly insertIgnore: string;
  /** Returns the number of rows changed. */
  run(sql: string, params?: SqlValue[]): Promise<number>;
  all(sql: string, params?: SqlValue[]): Promise<SqlRow[]>;
  close(): Promise<void>;
}

export const TABLE = 'imgport_jobs';

const COLUMNS_SQL = (text: string, longText: string, key: string) => `
  id ${key} NOT NULL PRIMARY KEY,
  type VARCHAR(32) NOT NULL,
  state VARCHAR(16) NOT NULL,
  image VARCHAR(128) NULL,
  parent_id ${key} NULL,
  payload ${longText} NOT NULL,
  progress ${text} NOT NULL,
  result ${longText} NULL,
  error ${text} NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at VARCHAR(32) NOT NULL,
  updated_at VARCHAR(32) NOT NULL`;

/** Listing is newest first, optionally by type or state; children are found by parent. */
const INDEXES: Array<[string, string]> = [
  ['imgport_jobs_created', 'created_at'],
  ['imgport_jobs_type', 'type, created_at'],
  ['imgport_jobs_state', 'state, created_at'],
  ['imgport_jobs_parent', 'parent_id'],
];

function unavailable(description: string, err: unknown): ImgportError {
  if (err instanceof ImgportError) return err;
  const msg = err instanceof Error ? err.message || String((err as { code?: string }).code) : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'ER_RECORD_FILE_FULL' || code === 'ER_DISK_FULL') {
    return new ImgportError('DISK_FULL', `job records (${description}): disk full: ${msg}`, { cause: err });
  }
  if (isConnectionError(err)) return new ImgportError('DB_UNAVAILABLE', `job records (${description}) unavailable: ${msg}`, { cause: err });
  return new ImgportError('INTERNAL', `job records (${description}): ${msg}`, { cause: err });
}

async function guarded<T>(description: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw unavailable(description, err);
  }
}

/** `create` (default true) makes a missing SQLite directory or MySQL database: the records are ours. */
export async function openSqlBackend(url: string, opts: { create?: boolean } = {}): Promise<SqlBackend> {
  const target = parseDbUrl(url);
  if (target.kind === 'sqlite') return openSqlite(resolve(target.dir), opts.create !== false);
  return openMysql(target, opts.create !== false);
}

function openSqlite(dir: string, create: boolean): SqlBackend {
  const description = `sqlite:${join(dir, `${TABLE}.sqlite`)}`;
  let db: Database.Database | undefined;
  try {
    if (create) mkdirSync(dir, { recursive: true });
    db = new Database(join(dir, `${TABLE}.sqlite`), { timeout: 5000 });
    db.exec(`CREATE TABLE IF NOT EXISTS ${TABLE} (${COLUMNS_SQL('TEXT', 'TEXT', 'TEXT')})`);
    for (const [name, cols] of INDEXES) db.exec(`CREATE INDEX IF NOT EXISTS ${name} ON ${TABLE} (${cols})`);
  } catch (err) {
    db?.close();
    throw unavailable(description, err);
  }
  const conn = db;
  return {
    kind: 'sqlite',
    description,
    insertIgnore: 'INSERT OR IGNORE',
    run: (sql, params = []) => guarded(description, () => conn.prepare(sql).run(...params).changes),
    all: (sql, params = []) => guarded(description, () => conn.prepare(sql).all(...params) as SqlRow[]),
    close: async () => {
      if (conn.open) conn.close();
    },
  };
}

async function openMysql(target: MysqlTarget, create: boolean): Promise<SqlBackend> {
  const description = target.description;
  const conn = { host: target.host, port: target.port, user: target.user, password: target.password, connectTimeout: 5000 };
  if (create) {
    await guarded(description, () => createMysqlDatabase(conn, target.database));
  }
  // Idle connections kept up to the limit: reopening one costs a handshake on a request's path.
  const pool = mysql.createPool({ ...conn, database: target.database, connectionLimit: 4, enableKeepAlive: true });
  const backend: SqlBackend = {
    kind: 'mysql',
    description,
    insertIgnore: 'INSERT IGNORE',
    // query(), not execute(): server-side prepared statements reject numbers bound to LIMIT.
    run: (sql, params = []) => guarded(description, async () => ((await pool.query(sql, params))[0] as mysql.ResultSetHeader).affectedRows),
    all: (sql, params = []) => guarded(description, async () => (await pool.query(sql, params))[0] as SqlRow[]),
    close: () => pool.end(),
  };
  try {
    const keys = INDEXES.map(([name, cols]) => `, KEY ${name} (${cols})`).join('');
    await backend.run(`CREATE TABLE IF NOT EXISTS ${TABLE} (${COLUMNS_SQL('TEXT', 'MEDIUMTEXT', 'VARCHAR(200)')}${keys}) CHARACTER SET utf8mb4`);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
  return backend;
}
