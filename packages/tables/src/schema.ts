/**
 * DDL for xCAT's tables, built the way xCAT's Table.pm builds it: every column TEXT unless the
 * schema gives a type, key columns VARCHAR(128) (MySQL needs a length to index them), columns
 * xCAT lists as required NOT NULL, and a primary key on the key columns. Pure: no I/O.
 */
import { COLUMNS, KEYS, type TableName } from './model.js';

export type Dialect = 'sqlite' | 'mysql';

/** Types Schema.pm sets explicitly; everything else is TEXT. */
const TYPES: Partial<Record<TableName, Record<string, string>>> = {
  osimage: { osupdatename: 'VARCHAR(1024)' },
};

/** Schema.pm's `required` lists. */
const REQUIRED: Partial<Record<TableName, readonly string[]>> = {
  litefile: ['image', 'file'],
};

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Quotes a table or column name. Only plain identifiers are accepted, so quoting can never be
 * escaped out of: every name we quote comes from COLUMNS/TABLES, this is a second guard.
 */
export function quoteIdent(dialect: Dialect, name: string): string {
  if (!IDENT.test(name)) throw new Error(`not a valid SQL identifier: ${JSON.stringify(name)}`);
  return dialect === 'mysql' ? `\`${name}\`` : `"${name}"`;
}

/** The declared type xCAT gives a column. */
export function columnType(table: TableName, column: string): string {
  const explicit = TYPES[table]?.[column];
  if (explicit) return explicit;
  return KEYS[table].includes(column) ? 'VARCHAR(128)' : 'TEXT';
}

/** The exact CREATE TABLE statement for one table on one backend. */
export function createTableSql(dialect: Dialect, table: TableName): string {
  const q = (name: string) => quoteIdent(dialect, name);
  const required = REQUIRED[table] ?? [];
  const lines = COLUMNS[table].map(
    (col) => `  ${q(col)} ${columnType(table, col)}${required.includes(col) ? ' NOT NULL' : ''}`,
  );
  lines.push(`  PRIMARY KEY (${KEYS[table].map(q).join(', ')})`);
  return `CREATE TABLE ${q(table)} (\n${lines.join(',\n')}\n)`;
}
