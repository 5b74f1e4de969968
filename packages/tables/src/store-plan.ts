/**
 * What a use of the store means in statements and rows, shared by both backends so they
 * cannot drift: the ordered statement list of a write, and how read rows become results.
 * Each backend only runs the statements in its own kind of transaction.
 */
import { KIT_TABLES, KEYS, type KitKeys, type KitRows, type KitTableName, type ImageFilter, type ImageRecord, type ImageRows, type ImageTableName, type Row, type TableName } from './model.js';
import { compareNames, fromDb, imageMatcher, insertPlan, prepareImage, prepareKits } from './row-rules.js';
import type { Statements } from './sql.js';

export interface Step {
  table: TableName;
  sql: string;
  params: Array<string | null>;
}

/** Every writer touches the tables in the same order, so concurrent writers queue instead of deadlocking. */
const DELETE_ORDER: readonly ImageTableName[] = ['litefile', 'linuximage', 'osimage'];

export function deleteSteps(stmts: Statements, name: string): Step[] {
  return DELETE_ORDER.map((table) => ({ table, sql: stmts.deleteImage(table), params: [name] }));
}

/**
 * Every statement of a writeImage, validated and planned before any of them runs: bad input
 * (unknown column, another image's key, a value for a column the table lacks) never opens a
 * transaction.
 */
export function writeSteps(
  stmts: Statements,
  present: Record<TableName, ReadonlySet<string>>,
  name: string,
  rec: ImageRows,
): Step[] {
  const image = prepareImage(name, rec);
  const insert = inserter(stmts, present);
  return [
    ...deleteSteps(stmts, name),
    insert('osimage', image.osimage),
    insert('linuximage', image.linuximage),
    ...image.litefile.map((row) => insert('litefile', row)),
    // Kit rows after the image's, in table order: each replaces the row of its key.
    ...(image.kits ? putKitSteps(stmts, present, image.kits) : []),
  ];
}

/** The statements of restoreKits: the dropped keys deleted, then each row put in place of its key. */
export function restoreKitSteps(stmts: Statements, present: Record<TableName, ReadonlySet<string>>, put: KitRows, drop: KitKeys): Step[] {
  const rows = prepareKits(put);
  return [
    ...KIT_TABLES.flatMap((table) => (drop[table] ?? []).map((key): Step => ({ table, sql: stmts.deleteKey(table), params: [key] }))),
    ...putKitSteps(stmts, present, rows),
  ];
}

function putKitSteps(stmts: Statements, present: Record<TableName, ReadonlySet<string>>, kits: KitRows): Step[] {
  const insert = inserter(stmts, present);
  return KIT_TABLES.flatMap((table) =>
    (kits[table] ?? []).flatMap((row) => [{ table, sql: stmts.deleteKey(table), params: [row[KEYS[table][0]!] ?? null] }, insert(table, row)]),
  );
}

function inserter(stmts: Statements, present: Record<TableName, ReadonlySet<string>>): (table: TableName, row: Row) => Step {
  return (table, row) => {
    const { columns, values } = insertPlan(table, row, present[table]);
    return { table, sql: stmts.insert(table, columns), params: values };
  };
}

export type RawRows = Array<Record<string, unknown>>;

export function assembleImage(osimage: RawRows, linuximage: RawRows, litefile: RawRows): ImageRecord {
  const rec: ImageRecord = {
    litefile: litefile.map((r) => fromDb('litefile', r)).sort((a, b) => compareNames(a.file ?? '', b.file ?? '')),
  };
  if (osimage[0]) rec.osimage = fromDb('osimage', osimage[0]);
  if (linuximage[0]) rec.linuximage = fromDb('linuximage', linuximage[0]);
  return rec;
}

export function assembleList(
  osimage: RawRows,
  linuximage: RawRows,
  filter?: ImageFilter,
): Array<{ osimage: Row; linuximage?: Row }> {
  const linux = new Map<string, Row>();
  for (const raw of linuximage) {
    const row = fromDb('linuximage', raw);
    if (typeof row.imagename === 'string') linux.set(row.imagename, row);
  }
  const matches = imageMatcher(filter);
  return osimage
    .map((raw) => fromDb('osimage', raw))
    .filter(matches)
    .sort((a, b) => compareNames(a.imagename ?? '', b.imagename ?? ''))
    .map((o) => {
      const l = typeof o.imagename === 'string' ? linux.get(o.imagename) : undefined;
      return l ? { osimage: o, linuximage: l } : { osimage: o };
    });
}

/** litefile rows read image by image, in the order the images were asked for. */
export function assembleLitefile(perImage: RawRows[]): Row[] {
  return perImage.flatMap((rows) => rows.map((r) => fromDb('litefile', r)).sort((a, b) => compareNames(a.file ?? '', b.file ?? '')));
}

export function assembleKitRows(table: KitTableName, rows: RawRows): Row[] {
  const key = KEYS[table][0]!;
  return rows.map((r) => fromDb(table, r)).sort((a, b) => compareNames(a[key] ?? '', b[key] ?? ''));
}
