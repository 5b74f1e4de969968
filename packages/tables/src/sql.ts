/**
 * The few DML statements the stores run. Names come only from COLUMNS/TABLES and pass through
 * quoteIdent; every value is a `?` placeholder.
 */
import { COLUMNS, IMAGE_COLUMN, KEYS, type ImageTableName, type KitTableName, type TableName } from './model.js';
import { quoteIdent, type Dialect } from './schema.js';

export class Statements {
  constructor(
    private readonly dialect: Dialect,
    /** The columns each existing table really has (older xCAT schemas lack some). */
    private readonly present: Record<TableName, ReadonlySet<string>>,
    /** How a table is referenced: SQLite qualifies it with the attached schema name. */
    private readonly ref: (table: TableName) => string,
  ) {}

  private q(name: string): string {
    return quoteIdent(this.dialect, name);
  }

  /** Known columns the table has, in xCAT's order. */
  private selectList(table: TableName): string {
    return COLUMNS[table].filter((c) => this.present[table].has(c)).map((c) => this.q(c)).join(', ');
  }

  /** Rows of one image (`?` = image name). */
  selectImage(table: ImageTableName): string {
    return `SELECT ${this.selectList(table)} FROM ${this.ref(table)} WHERE ${this.q(IMAGE_COLUMN[table])} = ?`;
  }

  /** Rows of a kit table by one known column (`?` = value). */
  selectWhere(table: KitTableName, column: string): string {
    if (!COLUMNS[table].includes(column)) throw new Error(`${table} has no column ${column}`);
    return `SELECT ${this.selectList(table)} FROM ${this.ref(table)} WHERE ${this.q(column)} = ?`;
  }

  /** Removes the row of one key (`?` = key), before the new one is inserted. */
  deleteKey(table: KitTableName): string {
    return `DELETE FROM ${this.ref(table)} WHERE ${this.q(KEYS[table][0]!)} = ?`;
  }

  selectAll(table: TableName): string {
    return `SELECT ${this.selectList(table)} FROM ${this.ref(table)}`;
  }

  deleteImage(table: ImageTableName): string {
    return `DELETE FROM ${this.ref(table)} WHERE ${this.q(IMAGE_COLUMN[table])} = ?`;
  }

  insert(table: TableName, columns: readonly string[]): string {
    const cols = columns.map((c) => this.q(c)).join(', ');
    return `INSERT INTO ${this.ref(table)} (${cols}) VALUES (${columns.map(() => '?').join(', ')})`;
  }

  /** Cheapest statement that still needs the table to be readable. */
  probe(table: TableName): string {
    return `SELECT 1 FROM ${this.ref(table)} LIMIT 1`;
  }
}
