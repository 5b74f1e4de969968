/**
 * The rows an import writes (SPEC §4): the columns the bundle carries, path columns rebased onto
 * the install root, then the columns the import itself decides. No I/O.
 */
import { LIST_TABLE, mapPathList, PATH_COLUMNS, rebaseOrigin, type BundleManifest } from '@imgport/format';
import { COLUMNS, type ImageRows, type Row } from '@imgport/tables';
import type { PlanContext } from './plan.js';

export interface RowInputs {
  name: string;
  profile: string;
  /** Columns the plan decided (template or rootimgdir), written over carried ones. */
  linux: Row;
  lists: Partial<Record<string, string>>;
  ctx: Pick<PlanContext, 'installRoot' | 'fromRoot' | 'allow' | 'litefile' | 'sharedLitefile'>;
  warnings: string[];
}

/** SPEC §4 rows: carried columns (paths rebased), then the columns the import itself decides. */
export function buildRows(m: BundleManifest, r: RowInputs): ImageRows {
  const osimage: Row = {
    ...carried('osimage', m.osimage, r),
    ...(m.postscripts && !m.osimage.postscripts ? { postscripts: m.postscripts } : {}),
    ...(m.postbootscripts && !m.osimage.postbootscripts ? { postbootscripts: m.postbootscripts } : {}),
    imagename: r.name,
    profile: r.profile,
    imagetype: 'linux',
    provmethod: m.method,
    osname: 'Linux',
    osvers: m.os,
    osarch: m.arch,
  };
  const linuximage: Row = { ...carried('linuximage', m.linuximage, r), ...r.linux, imagename: r.name };
  for (const [kind, value] of Object.entries(r.lists)) {
    (LIST_TABLE[kind as keyof typeof LIST_TABLE] === 'osimage' ? osimage : linuximage)[kind] = value ?? null;
  }
  if (m.method === 'install') delete linuximage.rootimgdir;
  // Stock imgimport sets only image, file and options: an empty comments/disable stays NULL.
  const shared = new Set((r.ctx.sharedLitefile ?? []).map((row) => `${row.file}\0${row.options ?? ''}`));
  const litefile = r.ctx.litefile.filter((row) => !shared.has(`${row.file}\0${row.options ?? ''}`)).map((row) => ({ ...row, image: r.name, comments: row.comments || null, disable: row.disable || null }));
  return { osimage, linuximage, litefile };
}

function carried(table: 'osimage' | 'linuximage', cols: Record<string, string>, r: RowInputs): Row {
  const out: Row = {};
  for (const [col, value] of Object.entries(cols)) {
    if (!COLUMNS[table].includes(col)) {
      r.warnings.push(`column ${table}.${col} is not an xCAT column: not written`);
      continue;
    }
    if (value === '') continue;
    out[col] = PATH_COLUMNS.has(col) ? rebaseList(value, r.ctx) : value;
  }
  return out;
}

function rebaseList(value: string, ctx: RowInputs['ctx']): string {
  return mapPathList(value, (p) => {
    const r = rebaseOrigin(p, { fromRoot: ctx.fromRoot, installRoot: ctx.installRoot, allow: ctx.allow });
    return r.kind === 'outside' ? p : r.path;
  });
}
