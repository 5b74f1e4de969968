/** The image's rows as one canonical JSON document (keys sorted, no spaces), and their diff field by field. */
type Json = null | string | number | boolean | Json[] | { [k: string]: Json };

export function canonicalJson(v: unknown): string {
  const norm = (x: unknown): Json => {
    if (x === null || x === undefined) return null;
    if (Array.isArray(x)) return x.map(norm);
    if (typeof x === 'object') {
      const out: Record<string, Json> = {};
      for (const k of Object.keys(x as object).sort()) {
        const val = (x as Record<string, unknown>)[k];
        if (val !== undefined) out[k] = norm(val);
      }
      return out;
    }
    return x as Json;
  };
  return JSON.stringify(norm(v));
}

export type RowsDoc = {
  osimage?: Record<string, string | null>;
  linuximage?: Record<string, string | null>;
  litefile?: Array<Record<string, string | null>>;
  kits?: Record<string, Array<Record<string, string | null>>>;
};

export interface FieldChange {
  table: string;
  /** The row's key: the image for osimage/linuximage, `file` for litefile, the kit table's key. */
  key: string;
  column: string;
  from: string | null;
  to: string | null;
}

export interface RowChange {
  table: string;
  key: string;
  status: 'added' | 'removed';
}

function rowKey(table: string, r: Record<string, string | null>): string {
  if (table === 'litefile') return String(r.file ?? '');
  for (const k of ['kitname', 'kitreponame', 'kitcompname', 'imagename']) if (r[k]) return String(r[k]);
  return canonicalJson(r);
}

export function diffRows(a: RowsDoc, b: RowsDoc): { fields: FieldChange[]; rows: RowChange[] } {
  const fields: FieldChange[] = [];
  const rows: RowChange[] = [];
  const cmpRow = (table: string, key: string, x: Record<string, string | null>, y: Record<string, string | null>) => {
    for (const c of [...new Set([...Object.keys(x), ...Object.keys(y)])].sort()) {
      const from = x[c] ?? null;
      const to = y[c] ?? null;
      if (from !== to) fields.push({ table, key, column: c, from, to });
    }
  };
  const cmpSet = (table: string, xs: Array<Record<string, string | null>>, ys: Array<Record<string, string | null>>) => {
    const mx = new Map(xs.map((r) => [rowKey(table, r), r]));
    const my = new Map(ys.map((r) => [rowKey(table, r), r]));
    for (const [k, r] of mx) {
      const o = my.get(k);
      if (!o) rows.push({ table, key: k, status: 'removed' });
      else cmpRow(table, k, r, o);
    }
    for (const k of my.keys()) if (!mx.has(k)) rows.push({ table, key: k, status: 'added' });
  };
  for (const t of ['osimage', 'linuximage'] as const) {
    const x = a[t];
    const y = b[t];
    const key = String(x?.imagename ?? y?.imagename ?? '');
    if (x && y) cmpRow(t, key, x, y);
    else if (x) rows.push({ table: t, key, status: 'removed' });
    else if (y) rows.push({ table: t, key, status: 'added' });
  }
  cmpSet('litefile', a.litefile ?? [], b.litefile ?? []);
  for (const t of [...new Set([...Object.keys(a.kits ?? {}), ...Object.keys(b.kits ?? {})])].sort()) {
    cmpSet(t, a.kits?.[t] ?? [], b.kits?.[t] ?? []);
  }
  return { fields, rows };
}
