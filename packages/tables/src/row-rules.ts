/**
 * Row rules shared by both backends, no I/O: which columns a row may have, what a write
 * sends to a table that may be an older xCAT schema, how values read back are normalised,
 * and the image filter.
 */
import { ImgportError } from '@imgport/runtime';
import { COLUMNS, IMAGE_COLUMN, KEYS, KIT_TABLES, type ImageFilter, type ImageRows, type ImageTableName, type KitRows, type Row, type TableName } from './model.js';

/** Key columns are VARCHAR(128) in xCAT's schema; longer values fail on MySQL. */
export const MAX_KEY_LENGTH = 128;

const isEmpty = (v: string | null | undefined) => v === null || v === undefined || v === '';

/** Rejects columns the table does not have and values that are not text or NULL. */
export function checkRow(table: TableName, row: Row, where: string = table): void {
  if (row === null || typeof row !== 'object') {
    throw new ImgportError('BAD_REQUEST', `${where}: a row must be an object of column values`);
  }
  for (const [col, value] of Object.entries(row)) {
    if (!COLUMNS[table].includes(col)) {
      throw new ImgportError('BAD_REQUEST', `${where}: unknown column "${col}" in table ${table}`, {
        where: `${table}.${col}`,
      });
    }
    if (value !== null && value !== undefined && typeof value !== 'string') {
      throw new ImgportError('BAD_REQUEST', `${where}: column "${col}" must be text or null, got ${typeof value}`, {
        where: `${table}.${col}`,
      });
    }
  }
  for (const key of KEYS[table]) {
    const v = row[key];
    if (typeof v === 'string' && v.length > MAX_KEY_LENGTH) {
      throw new ImgportError('BAD_REQUEST', `${where}: ${key} is longer than ${MAX_KEY_LENGTH} characters`, {
        where: `${table}.${key}`,
      });
    }
  }
}

/** Fills the image's key column with `name`, or rejects a row that names another image. */
function ownRow(table: ImageTableName, name: string, row: Row, where: string): Row {
  checkRow(table, row, where);
  const col = IMAGE_COLUMN[table];
  const given = row[col];
  if (!isEmpty(given) && given !== name) {
    throw new ImgportError('BAD_REQUEST', `${where}: ${col} is "${given}" but the image is "${name}"`, {
      where: `${table}.${col}`,
    });
  }
  return { ...row, [col]: name };
}

/** Validates a whole image before any statement runs, so bad input never opens a transaction. */
export function prepareImage(name: string, rec: ImageRows): ImageRows {
  if (typeof name !== 'string' || name === '' || name.length > MAX_KEY_LENGTH) {
    throw new ImgportError('BAD_REQUEST', `image name must be 1-${MAX_KEY_LENGTH} characters`);
  }
  if (!rec || !rec.osimage || !rec.linuximage || !Array.isArray(rec.litefile)) {
    throw new ImgportError('BAD_REQUEST', `image ${name}: osimage, linuximage and litefile rows are required`);
  }
  const litefile = rec.litefile.map((row, i) => {
    const own = ownRow('litefile', name, row, `litefile row ${i + 1}`);
    if (isEmpty(own.file)) {
      throw new ImgportError('BAD_REQUEST', `litefile row ${i + 1}: file is required`, { where: 'litefile.file' });
    }
    return own;
  });
  const out: ImageRows = {
    osimage: ownRow('osimage', name, rec.osimage, 'osimage'),
    linuximage: ownRow('linuximage', name, rec.linuximage, 'linuximage'),
    litefile,
  };
  if (rec.kits) out.kits = prepareKits(rec.kits);
  return out;
}

/** Kit rows need their key; one key twice would make the write depend on order. */
export function prepareKits(kits: KitRows): KitRows {
  const out = {} as KitRows;
  for (const table of KIT_TABLES) {
    const seen = new Set<string>();
    out[table] = (kits[table] ?? []).map((row, i) => {
      const where = `${table} row ${i + 1}`;
      checkRow(table, row, where);
      const key = row[KEYS[table][0]!];
      if (isEmpty(key)) throw new ImgportError('BAD_REQUEST', `${where}: ${KEYS[table][0]} is required`, { where: `${table}.${KEYS[table][0]}` });
      if (seen.has(key!)) throw new ImgportError('BAD_REQUEST', `${where}: ${KEYS[table][0]} "${key}" appears twice`, { where: `${table}.${KEYS[table][0]}` });
      seen.add(key!);
      return row;
    });
  }
  return out;
}

/**
 * The columns and values an INSERT sends, in xCAT's order. `present` is what the existing
 * table really has: xCAT versions differ (older schemas lack e.g. osimage.environvar), and we
 * never alter their tables, so an absent column is skipped when its value is empty and is an
 * error when it would lose data.
 */
export function insertPlan(
  table: TableName,
  row: Row,
  present: ReadonlySet<string>,
): { columns: string[]; values: Array<string | null> } {
  const columns: string[] = [];
  const values: Array<string | null> = [];
  for (const col of COLUMNS[table]) {
    const value = row[col] ?? null;
    if (!present.has(col)) {
      if (isEmpty(value)) continue;
      throw new ImgportError(
        'UNSUPPORTED',
        `${table}.${col}: this database's ${table} table has no column "${col}" (an older xCAT schema); the value cannot be stored`,
        { where: `${table}.${col}` },
      );
    }
    columns.push(col);
    values.push(value);
  }
  return { columns, values };
}

/** A row read from the database: every known column, NULL when unset or absent from the table. */
export function fromDb(table: TableName, raw: Record<string, unknown>): Row {
  const row: Row = {};
  for (const col of COLUMNS[table]) {
    const v = raw[col];
    if (v === null || v === undefined) row[col] = null;
    else if (typeof v === 'string') row[col] = v;
    else if (Buffer.isBuffer(v)) row[col] = v.toString('utf8');
    else row[col] = String(v);
  }
  return row;
}

/** `*` and `?` globs as an anchored, case-sensitive RegExp; every other character is literal. */
export function globToRegExp(glob: string): RegExp {
  let src = '';
  for (const ch of glob) {
    if (ch === '*') src += '.*';
    else if (ch === '?') src += '.';
    // Only characters special outside a class: with the u flag, `\-` or `\/` would be a syntax error.
    else src += ch.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
  }
  return new RegExp(`^${src}$`, 'su');
}

/**
 * Filtering happens in code, not SQL: the osimage table is small, no user text ever reaches
 * a query, and MySQL's case-insensitive collations would otherwise make the backends disagree.
 */
export function imageMatcher(filter: ImageFilter = {}): (osimage: Row) => boolean {
  const name = filter.name === undefined ? undefined : globToRegExp(filter.name);
  return (o) =>
    (name === undefined || name.test(o.imagename ?? '')) &&
    (filter.os === undefined || o.osvers === filter.os) &&
    (filter.arch === undefined || o.osarch === filter.arch) &&
    (filter.method === undefined || o.provmethod === filter.method);
}

/** Code point order, the same on both backends whatever the database collation. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
