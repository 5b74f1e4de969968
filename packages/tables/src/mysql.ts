/**
 * xCAT's tables on MySQL/MariaDB (xCAT's database `xcatdb`) through a small mysql2 pool.
 * Every statement is parameterised; names come only from COLUMNS. Writes are one transaction
 * on one pooled connection, rolled back on any error.
 */
import mysql from 'mysql2/promise';
import { setTimeout as sleep } from 'node:timers/promises';
import { ImgportError } from '@imgport/runtime';
import { fromMysqlError } from './errors.js';
import { KIT_TABLES, TABLES, type KitKeys, type KitRows, type KitTableName, type ImageFilter, type ImageRows, type TableName, type TableStore } from './model.js';
import { assembleImage, assembleKitRows, assembleLitefile, assembleList, deleteSteps, restoreKitSteps, writeSteps, type RawRows, type Step } from './store-plan.js';
import { checkKeys } from './present.js';
import { createTableSql, quoteIdent } from './schema.js';
import { Statements } from './sql.js';
import type { MysqlTarget } from './url.js';

/** InnoDB picks a deadlock victim and rolls it back whole; re-running it is safe. */
const DEADLOCK_ATTEMPTS = 5;

export async function openMysqlStore(target: MysqlTarget, opts: { create?: boolean } = {}): Promise<TableStore> {
  const conn = { host: target.host, port: target.port, user: target.user, password: target.password, connectTimeout: 10_000 };
  // Nothing is created until the first write: a missing database reads as empty until then.
  if (opts.create && !(await databaseExists(conn, target))) {
    return new EmptyUntilWritten(
      target.description,
      () => databaseExists(conn, target),
      () => openPool(target, conn),
      async () => {
        await ensureDatabase(conn, target);
        return openPool(target, conn);
      },
    );
  }
  return openPool(target, conn);
}

async function openPool(target: MysqlTarget, conn: mysql.ConnectionOptions): Promise<TableStore> {
  const pool = mysql.createPool({
    ...conn,
    database: target.database,
    // Idle connections kept up to the limit: reopening one costs a handshake on a request's path.
    connectionLimit: 4,
    idleTimeout: 60_000,
    multipleStatements: false,
    enableKeepAlive: true,
  });
  try {
    const { present, missing } = await readTables(pool, target.description);
    return new MysqlStore(pool, target.description, present, missing);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw fromMysqlError(err, { db: target.description });
  }
}

async function databaseExists(conn: mysql.ConnectionOptions, target: MysqlTarget): Promise<boolean> {
  try {
    const admin = await mysql.createConnection(conn);
    try {
      const [found] = await admin.execute<mysql.RowDataPacket[]>('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [target.database]);
      return found.length > 0;
    } finally {
      await admin.end();
    }
  } catch (err) {
    throw fromMysqlError(err, { db: target.description });
  }
}

async function ensureDatabase(conn: mysql.ConnectionOptions, target: MysqlTarget): Promise<void> {
  try {
    await createMysqlDatabase(conn, target.database);
  } catch (err) {
    throw fromMysqlError(err, { db: target.description });
  }
}

/**
 * CREATE DATABASE for tests and first runs (xCAT's tables, imgport's job records);
 * `database` was validated as a plain name. Driver errors are the caller's to translate.
 */
export async function createMysqlDatabase(conn: mysql.ConnectionOptions, database: string): Promise<void> {
  const admin = await mysql.createConnection(conn);
  try {
    // Look first: an xCAT account may use its database without the right to create one.
    const [found] = await admin.execute<mysql.RowDataPacket[]>('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [database]);
    if (found.length === 0) await admin.query(`CREATE DATABASE IF NOT EXISTS \`${database}\``);
  } finally {
    await admin.end();
  }
}

/** The columns each existing table really has, and the tables that do not exist yet. */
async function readTables(pool: mysql.Pool, db: string): Promise<{ present: Record<TableName, ReadonlySet<string>>; missing: Set<TableName> }> {
  const [rows] = await pool.execute<mysql.RowDataPacket[]>(
    `SELECT TABLE_NAME AS t, COLUMN_NAME AS c FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (${TABLES.map(() => '?').join(', ')}) ORDER BY ORDINAL_POSITION`,
    [...TABLES],
  );
  const found = new Map<string, string[]>();
  for (const r of rows) found.set(String(r.t), [...(found.get(String(r.t)) ?? []), String(r.c)]);
  const present = {} as Record<TableName, ReadonlySet<string>>;
  const missing = new Set<TableName>();
  for (const table of TABLES) {
    if (found.has(table)) present[table] = checkKeys(table, found.get(table) ?? [], db);
    else {
      present[table] = new Set();
      missing.add(table);
    }
  }
  return { present, missing };
}

/** Creates the missing tables with xCAT's DDL (before the first write), then reads the columns again. */
async function createTables(pool: mysql.Pool, db: string, missing: ReadonlySet<TableName>) {
  for (const table of missing) {
    try {
      await pool.query(createTableSql('mysql', table));
    } catch (err) {
      // Another process created it between our look and our CREATE: that is what we wanted.
      if ((err as { code?: string }).code !== 'ER_TABLE_EXISTS_ERROR') throw fromMysqlError(err, { db, table });
    }
  }
  return readTables(pool, db);
}

class MysqlStore implements TableStore {
  readonly kind = 'mysql' as const;
  private stmts: Statements;
  private closed = false;

  constructor(
    private readonly pool: mysql.Pool,
    readonly description: string,
    private present: Record<TableName, ReadonlySet<string>>,
    /** Tables that do not exist yet: read as empty, created by the first write. */
    private missing: Set<TableName>,
  ) {
    this.stmts = new Statements('mysql', present, (t) => quoteIdent('mysql', t));
  }

  /** Another process may have created a missing table since: look again (only while some are missing). */
  private async refresh(): Promise<void> {
    if (this.missing.size === 0) return;
    const { present, missing } = await readTables(this.pool, this.description).catch((err: unknown) => {
      throw fromMysqlError(err, { db: this.description });
    });
    this.present = present;
    this.missing = missing;
    this.stmts = new Statements('mysql', present, (t) => quoteIdent('mysql', t));
  }

  private creating: Promise<void> | undefined;

  /** Once, however many writes start together: concurrent DDL would only contend with itself. */
  private async createMissing(): Promise<void> {
    if (this.missing.size === 0) return;
    this.creating ??= createTables(this.pool, this.description, this.missing).then(
      ({ present, missing }) => {
        this.present = present;
        this.missing = missing;
        this.stmts = new Statements('mysql', present, (t) => quoteIdent('mysql', t));
        this.creating = undefined;
      },
      (err: unknown) => {
        this.creating = undefined;
        throw err;
      },
    );
    await this.creating;
  }

  /**
   * One transaction on one connection. A connection whose error was fatal is destroyed, not
   * returned to the pool; errors are translated naming the table of the failing statement.
   */
  private async tx<T>(fn: (run: (table: TableName, sql: string, params: Array<string | null>) => Promise<RawRows>) => Promise<T>) {
    const at: { table?: TableName } = {};
    let conn: mysql.PoolConnection | undefined;
    try {
      conn = await this.pool.getConnection();
      const c = conn;
      await c.beginTransaction();
      const result = await fn(async (table, sql, params) => {
        at.table = table;
        if (this.missing.has(table)) return []; // no such table yet: no rows, nothing to delete
        const [rows] = await c.execute(sql, params);
        return Array.isArray(rows) ? (rows as RawRows) : [];
      });
      at.table = undefined;
      await c.commit();
      return result;
    } catch (err) {
      const c = conn;
      conn = undefined;
      if (c && (err as { fatal?: boolean }).fatal) c.destroy();
      else if (c) await c.rollback().then(() => c.release(), () => c.destroy());
      throw fromMysqlError(err, { db: this.description, ...(at.table ? { table: at.table } : {}) });
    } finally {
      conn?.release();
    }
  }

  private async runSteps(steps: Step[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.tx(async (run) => {
          for (const s of steps) await run(s.table, s.sql, s.params);
        });
      } catch (err) {
        const cause = (err as Error).cause as { code?: string } | undefined;
        if (cause?.code !== 'ER_LOCK_DEADLOCK' || attempt >= DEADLOCK_ATTEMPTS) throw err;
        await sleep(10 + Math.random() * 40 * attempt);
      }
    }
  }

  async getImage(name: string) {
    await this.refresh();
    // One transaction: InnoDB reads all three tables from one snapshot.
    return this.tx(async (run) =>
      assembleImage(
        await run('osimage', this.stmts.selectImage('osimage'), [name]),
        await run('linuximage', this.stmts.selectImage('linuximage'), [name]),
        await run('litefile', this.stmts.selectImage('litefile'), [name]),
      ),
    );
  }

  async litefileRows(images: readonly string[]) {
    await this.refresh();
    return this.tx(async (run) => {
      const per: RawRows[] = [];
      for (const i of images) per.push(await run('litefile', this.stmts.selectImage('litefile'), [i]));
      return assembleLitefile(per);
    });
  }

  async kitRows(table: KitTableName, column: string, value: string) {
    await this.refresh();
    return this.tx(async (run) => assembleKitRows(table, await run(table, this.stmts.selectWhere(table, column), [value])));
  }

  async listImages(filter?: ImageFilter) {
    await this.refresh();
    return this.tx(async (run) =>
      assembleList(
        await run('osimage', this.stmts.selectAll('osimage'), []),
        await run('linuximage', this.stmts.selectAll('linuximage'), []),
        filter,
      ),
    );
  }

  async writeImage(name: string, rec: ImageRows) {
    await this.createMissing();
    await this.runSteps(writeSteps(this.stmts, this.present, name, rec));
  }

  async deleteImage(name: string) {
    await this.refresh();
    await this.runSteps(deleteSteps(this.stmts, name));
  }

  async restoreKits(put: KitRows, drop: KitKeys) {
    await this.createMissing();
    await this.runSteps(restoreKitSteps(this.stmts, this.present, put, drop));
  }

  async ping() {
    await this.tx(async (run) => {
      for (const table of TABLES) await run(table, this.stmts.probe(table), []);
    });
  }

  async close() {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}

/**
 * A store whose database does not exist yet: every read finds nothing, the first write creates
 * the database and its tables (`open`) and everything goes there from then on.
 */
class EmptyUntilWritten implements TableStore {
  readonly kind = 'mysql' as const;
  private full: Promise<TableStore> | undefined;
  private closed = false;

  constructor(
    readonly description: string,
    private readonly exists: () => Promise<boolean>,
    private readonly openExisting: () => Promise<TableStore>,
    private readonly open: () => Promise<TableStore>,
  ) {}

  /** The real store once the database exists (another process may have created it since). */
  private async existing(): Promise<TableStore | undefined> {
    this.check();
    if (!this.full && (await this.exists())) this.remember(this.openExisting());
    return this.full;
  }

  private remember(p: Promise<TableStore>): Promise<TableStore> {
    this.full = p.catch((err: unknown) => {
      this.full = undefined;
      throw err;
    });
    return this.full;
  }

  private check(): void {
    if (this.closed) throw new ImgportError('DB_UNAVAILABLE', `database ${this.description} unavailable: the store is closed`);
  }

  private store(): Promise<TableStore> {
    this.check();
    return this.full ?? this.remember(this.open());
  }

  async getImage(name: string) {
    const s = await this.existing();
    return s ? s.getImage(name) : { litefile: [] };
  }

  async litefileRows(images: readonly string[]) {
    const s = await this.existing();
    return s ? s.litefileRows(images) : [];
  }

  async kitRows(table: KitTableName, column: string, value: string) {
    const s = await this.existing();
    return s ? s.kitRows(table, column, value) : [];
  }

  async listImages(filter?: ImageFilter) {
    const s = await this.existing();
    return s ? s.listImages(filter) : [];
  }

  async writeImage(name: string, rec: ImageRows) {
    await (await this.store()).writeImage(name, rec);
  }

  async deleteImage(name: string) {
    await (await this.existing())?.deleteImage(name);
  }

  async restoreKits(put: KitRows, drop: KitKeys) {
    // Rows to put back need the database; keys to drop from a database not yet there do not.
    if (KIT_TABLES.some((t) => put[t].length > 0)) await (await this.store()).restoreKits(put, drop);
    else await (await this.existing())?.restoreKits(put, drop);
  }

  async ping() {
    await (await this.existing())?.ping();
  }

  async close() {
    this.closed = true;
    const full = this.full;
    this.full = undefined;
    if (full) await (await full).close();
  }
}
