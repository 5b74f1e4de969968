/**
 * Kits an image needs (`osimage.kitcomponents`), carried as stock imgexport carries them in an
 * xCAT bundle: the `kit` row of every kit one of its components belongs to, all `kitrepo` and
 * `kitcomponent` rows of those kits, as `<kit>`, `<kitrepo>` and `<kitcomp>` elements named by
 * their key, and each kit's directory (`kit.kitdir`) as `<basename of kitdir>/` beside the
 * manifest. Paths in the rows spell the install directory `/install/`.
 */
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { mapPathList, toBundlePath } from '@imgport/format';
import { ImgportError } from '@imgport/runtime';
import { KEYS, type KitTableName, type Row, type TableStore } from '@imgport/tables';
import { columnValue, type ImageFacts } from './facts.js';
import { addTree } from './extras.js';
import type { Members } from './members.js';

export interface KitElements {
  kits: Record<string, string>[];
  kitrepos: Record<string, string>[];
  kitcomps: Record<string, string>[];
}

/** Columns of the kit tables that hold a path on the management node. */
const KIT_PATHS: Record<KitTableName, readonly string[]> = { kit: ['kitdir'], kitrepo: ['kitrepodir'], kitcomponent: [] };

export function kitComponentsOf(img: ImageFacts): string[] {
  return (columnValue(img.rows.osimage, 'kitcomponents') ?? '').split(',').map((c) => c.trim()).filter((c) => c !== '');
}

export async function collectKits(img: ImageFacts, tables: TableStore, installRoot: string, members: Members, warnings: string[]): Promise<KitElements> {
  const out: KitElements = { kits: [], kitrepos: [], kitcomps: [] };
  const kitnames = new Set<string>();
  for (const comp of kitComponentsOf(img)) {
    const [row] = await tables.kitRows('kitcomponent', 'kitcompname', comp);
    const kitname = row && columnValue(row, 'kitname');
    if (!kitname) {
      throw new ImgportError('FILE_MISSING', `image ${img.name}: kit component ${comp} (osimage.kitcomponents) is not in the kitcomponent table, or names no kit`, {
        where: 'osimage.kitcomponents',
      });
    }
    kitnames.add(kitname);
  }
  for (const kitname of [...kitnames].sort()) {
    const [kit] = await tables.kitRows('kit', 'kitname', kitname);
    if (!kit) throw new ImgportError('FILE_MISSING', `image ${img.name}: kit ${kitname} is not in the kit table`, { where: 'kit.kitname' });
    out.kits.push(element('kit', kit, installRoot));
    for (const r of await tables.kitRows('kitrepo', 'kitname', kitname)) out.kitrepos.push(element('kitrepo', r, installRoot));
    for (const r of await tables.kitRows('kitcomponent', 'kitname', kitname)) out.kitcomps.push(element('kitcomponent', r, installRoot));
    const kitdir = columnValue(kit, 'kitdir');
    if (!kitdir) continue;
    const st = await stat(kitdir).catch(() => undefined);
    if (!st?.isDirectory()) {
      warnings.push(`kit ${kitname}: its directory ${kitdir} is missing; the bundle carries the kit's rows only`);
      continue;
    }
    await addTree(members, kitdir, basename(kitdir), `kit ${kitname}`, warnings);
  }
  return out;
}

/** A row as XML::Simple writes a hash folded on its key: `name` = the key, then every set column. */
function element(table: KitTableName, row: Row, installRoot: string): Record<string, string> {
  const key = KEYS[table][0]!;
  const out: Record<string, string> = { name: row[key] ?? '' };
  for (const [col, v] of Object.entries(row)) {
    if (v === null || v === '') continue;
    out[col] = KIT_PATHS[table].includes(col) ? mapPathList(v, (p) => toBundlePath(p, installRoot)) : v;
  }
  return out;
}
