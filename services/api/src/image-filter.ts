import type { ImageFilter, Row, TableStore } from '@imgport/tables';

/**
 * `*` / `?` name globs matched here rather than by tables.listImages: its globToRegExp escapes
 * `-` under the `u` flag, which makes every glob containing a dash (most xCAT image names) an
 * invalid RegExp. The other filters still go to the store. Drop this once the store is fixed.
 */
export function globMatcher(glob: string): (name: string) => boolean {
  let src = '';
  for (const ch of glob) src += ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
  const re = new RegExp(`^${src}$`, 'su');
  return (name) => re.test(name);
}

export async function listImages(tables: TableStore, filter: ImageFilter = {}): Promise<Array<{ osimage: Row; linuximage?: Row }>> {
  const { name, ...rest } = filter;
  const rows = await tables.listImages(rest);
  if (name === undefined) return rows;
  const match = globMatcher(name);
  return rows.filter((r) => match(r.osimage.imagename ?? ''));
}
