/** What an existing xCAT table really has: read once per store, never altered. */
import { ImgportError } from '@imgport/runtime';
import { KEYS, type TableName } from './model.js';

/**
 * The table's column names as a set. A table without our key columns is not xCAT's table (or
 * is damaged); refusing it at open is better than failing on every statement later.
 */
export function checkKeys(table: TableName, columns: readonly string[], db: string): ReadonlySet<string> {
  const present = new Set(columns);
  for (const key of KEYS[table]) {
    if (!present.has(key)) {
      throw new ImgportError('INTERNAL', `database ${db}: table ${table} has no key column "${key}"; is it xCAT's?`, {
        where: `${table}.${key}`,
      });
    }
  }
  return present;
}
