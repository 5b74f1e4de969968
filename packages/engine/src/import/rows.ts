/**
 * The rows an import writes (SPEC §4): the columns the bundle carries, path columns rebased onto
 * the install root, then the columns the import itself decides. No I/O.
 */
import { isAbsolute } from 'node:path';
import { LIST_TABLE, PATH_COLUMNS, isInside, rebaseOrigin, type BundleManifest } from '@imgport/format';
import { COLUMNS, type ImageRows, type Row } from '@imgport/tables';

/** What the rows depend on besides the manifest (a part of the plan's context). */
export interface RowsContext {
  installRoot: string;
  fromRoot: string;
  allow: string[];
  /** litefile rows parsed from the bundle's CSV, image column still as exported. */
  litefile: Row[];
  /** This node's `ALL` litefile rows: a bundle row with the same file and options is not written again (stock imgimport). */
  sharedLitefile?: Row[];
}

export interface RowInputs {
  name: string;
  profile: string;
  /** Columns the plan decided (template or rootimgdir), written over carried ones. */
  linux: Row;
  lists: Partial<Record<string, string>>;
  ctx: RowsContext;
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
    if (!PATH_COLUMNS.has(col)) {
      out[col] = value;
      continue;
    }
    const kept = rebaseList(`${table}.${col}`, value, r);
    if (kept !== '') out[col] = kept;
  }
  return out;
}

/** xCAT's own share directory: the same stock files on every management node. */
const XCAT_SHARE = '/opt/xcat/share/xcat';

/**
 * A path column's comma list: each path under the exporting root rebased onto the install root;
 * under IMGPORT_ALLOW or xCAT's share directory kept; anything else (`pkgdir /etc`, `kerneldir
 * /`, a relative path with "..") is not written, with a warning: xCAT runs, reads and exports
 * what these columns name, so a bundle may not point them anywhere it likes (SPEC §9).
 */
function rebaseList(column: string, value: string, r: RowInputs): string {
  const ctx = r.ctx;
  const kept: string[] = [];
  for (const raw of value.split(',')) {
    const token = raw.trim();
    if (token === '') continue;
    const m = /^([a-z]:)?(.*)$/.exec(token);
    const tag = m?.[1] ?? '';
    const p = m?.[2] ?? token;
    if (!isAbsolute(p)) {
      if (p.split('/').includes('..')) r.warnings.push(`${column} ${token} climbs out with "..": not written; set it with chdef if it is meant`);
      else kept.push(token);
      continue;
    }
    const rebased = p.includes('\0') || p.split('/').includes('..') ? ({ kind: 'outside' } as const) : rebaseOrigin(p, { fromRoot: ctx.fromRoot, installRoot: ctx.installRoot, allow: ctx.allow });
    if (rebased.kind !== 'outside') kept.push(tag + rebased.path);
    else if (isInside(XCAT_SHARE, p)) kept.push(token);
    else {
      r.warnings.push(
        `${column} ${token} lies outside the exporting node's install directory (${ctx.fromRoot}): not written; set it with chdef if this node has it, or allow the directory with IMGPORT_ALLOW`,
      );
    }
  }
  return kept.join(',');
}
