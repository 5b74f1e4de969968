/**
 * The few DML statements the stores run. Names come only from COLUMNS/TABLES and pass through
 * quoteIdent; every value is a `?` placeholder.
 */
import { COLUMNS, IMAGE_COLUMN, type TableName } from './model.js';
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
  selectImage(table: TableName): string {
    return `SELECT ${this.selectList(table)} FROM ${this.ref(table)} WHERE ${this.q(IMAGE_COLUMN[table])} = ?`;
  }

  selectAll(table: TableName): string {
    return `SELECT ${this.selectList(table)} FROM ${this.ref(table)}`;
  }

  deleteImage(table: TableName): string {
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
