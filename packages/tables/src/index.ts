/**
 * xCAT's osimage, linuximage and litefile tables behind one small interface, on MySQL/MariaDB
 * or on SQLite in xCAT's one-file-per-table layout.
 */
import { resolve } from 'node:path';
import type { OpenOptions, TableStore } from './model.js';
import { parseDbUrl } from './url.js';

export * from './model.js';
export { columnType, createTableSql, quoteIdent, type Dialect } from './schema.js';
export { globToRegExp } from './row-rules.js';
export { parseDbUrl, type DbTarget, type MysqlTarget } from './url.js';

/**
 * Opens the tables named by an XCAT_DB URL: `sqlite:<dir>` or `mysql://user:pass@host:port/db`.
 * Missing tables are created as xCAT would; `create` also creates the SQLite directory or the
 * MySQL database. Fails with DB_UNAVAILABLE when the database cannot be reached.
 */
export async function openTableStore(url: string, opts: OpenOptions = {}): Promise<TableStore> {
  const target = parseDbUrl(url);
  // Each driver is loaded only when used: mysql2 alone adds ~16 MiB to every process's RSS.
  if (target.kind === 'sqlite') return (await import('./sqlite.js')).openSqliteStore(resolve(target.dir), opts);
  return (await import('./mysql.js')).openMysqlStore(target, opts);
}

/** CREATE DATABASE unless it exists (see mysql.ts); driver errors are the caller's to translate. */
export async function createMysqlDatabase(conn: { host: string; port: number; user: string; password?: string; connectTimeout?: number }, database: string): Promise<void> {
  return (await import('./mysql.js')).createMysqlDatabase(conn, database);
}
