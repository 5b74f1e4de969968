/**
 * manifest.xml, stock xCAT's imgexport manifest (SPEC §3.2), mapped onto BundleManifest.
 * Reading the document safely is xml-document.ts. Paths are absolute on the exporting node and
 * files are stored flat by basename, so a FileRef is `{ member: basename(path), origin: path }`.
 * Extras: see extras.ts.
 */
import { posix } from 'node:path';
import { isCarriedColumn, type ImageTable } from '../../columns.js';
import { xcatExtraFileMember } from '../../extras.js';
import { LIST_KINDS, LIST_TABLE, METHODS, type BundleManifest, type ExtraRef, type FileRef, type Method } from '../../model.js';
import { validateImageName, validatePathToken } from '../../names.js';
import { normalizeAbsolutePath, normalizeDestDir, normalizeFileMember } from '../../paths.js';
import { at, quote } from '../../util.js';
import { TOP_FILES, fail, pathOf, readSections, text, type Node, type Sections } from './document.js';

const NEEDS: Record<Method, ReadonlyArray<keyof typeof TOP_FILES>> = {
  install: [],
  netboot: ['kernel', 'ramdisk', 'rootimg'],
  statelite: ['kernel', 'ramdisk', 'rootimgtree'],
};


function column(s: Sections, table: ImageTable, col: string): string | undefined {
  return text(s[table][col], `manifest.xml ${pathOf(s, table, col)}`);
}

function required(s: Sections, col: string): string {
  return column(s, 'osimage', col) ?? fail('manifest.xml', `missing ${pathOf(s, 'osimage', col)}`);
}

/** osimage.imagename, else linuximage.imagename, else a top-level <imagename>; all given must agree. */
function imageName(s: Sections): string {
  const candidates: Array<[string, string | undefined]> = [
    [pathOf(s, 'osimage', 'imagename'), column(s, 'osimage', 'imagename')],
    [pathOf(s, 'linuximage', 'imagename'), column(s, 'linuximage', 'imagename')],
    ['<imagename>', text(s.top.imagename, 'manifest.xml <imagename>')],
  ];
  const found = candidates.filter((c): c is [string, string] => c[1] !== undefined);
  const [first, ...rest] = found;
  if (!first) return fail('manifest.xml', `missing ${pathOf(s, 'osimage', 'imagename')}`);
  const other = rest.find(([, v]) => v !== first[1]);
  if (other) fail('manifest.xml', `${first[0]} ${quote(first[1])} and ${other[0]} ${quote(other[1])} differ`);
  return validateImageName(first[1], `manifest.xml ${first[0]}`);
}

function method(s: Sections): Method {
  const value = required(s, 'provmethod');
  const where = `manifest.xml ${pathOf(s, 'osimage', 'provmethod')}`;
  const found = METHODS.find((m) => m === value);
  if (found) return found;
  const code = value === 'raw' || value === 'sysclone' ? 'UNSUPPORTED' : 'MANIFEST_INVALID';
  return fail(where, `method ${quote(value)} is not supported (expected install, netboot or statelite)`, code);
}

function fileRef(raw: string, where: string): FileRef {
  return at(where, () => {
    const origin = normalizeAbsolutePath(raw);
    return { member: normalizeFileMember(posix.basename(origin)), origin };
  });
}

function header(s: Sections): Omit<BundleManifest, 'lists' | 'extras' | 'osimage' | 'linuximage' | 'kits' | 'kitrepos' | 'kitcomps'> {
  const token = (col: string, what: string) => validatePathToken(required(s, col), what, `manifest.xml ${pathOf(s, 'osimage', col)}`);
  return {
    format: 1,
    flavor: 'xcat',
    name: imageName(s),
    os: token('osvers', 'os'),
    arch: token('osarch', 'arch'),
    profile: token('profile', 'profile'),
    method: method(s),
  };
}

function carried(s: Sections, table: ImageTable): Record<string, string> {
  const out: Record<string, string> = {};
  for (const col of Object.keys(s[table])) {
    const value = isCarriedColumn(table, col) ? column(s, table, col) : undefined;
    if (value !== undefined) out[col] = value;
  }
  return out;
}

function lists(s: Sections): BundleManifest['lists'] {
  const out: BundleManifest['lists'] = {};
  for (const kind of LIST_KINDS) {
    const where = `manifest.xml ${pathOf(s, LIST_TABLE[kind], kind)}`;
    const value = column(s, LIST_TABLE[kind], kind);
    if (value === undefined) continue;
    out[kind] = value.split(',').map((item) => {
      if (item.trim() === '') fail(where, `empty path in ${quote(value)}`);
      return fileRef(item.trim(), where);
    });
  }
  return out;
}

function extra(value: unknown, i: number): ExtraRef {
  const where = `manifest.xml <extra> #${i + 1}`;
  if (typeof value !== 'object' || value === null) fail(where, 'expected <src> and <dest>');
  for (const k of Object.keys(value)) if (k !== 'src' && k !== 'dest') fail(where, `unknown element <${k}>`);
  const node = value as Node;
  const src = text(node.src, `${where} <src>`) ?? fail(where, 'missing <src>');
  const dest = text(node.dest, `${where} <dest>`) ?? fail(where, 'missing <dest>');
  return at(where, () => ({ member: xcatExtraFileMember(src), origin: normalizeAbsolutePath(src), dest: normalizeDestDir(dest) }));
}

/** The parser's isArray option makes every repeatable row an array when present. */
const asList = (value: unknown): unknown[] => (value ?? []) as unknown[];

function rows(value: unknown, tag: string): Record<string, string>[] {
  return asList(value).flatMap((row, i) => {
    const where = `manifest.xml <${tag}> #${i + 1}`;
    if (row === '') return [];
    if (typeof row !== 'object' || row === null) fail(where, 'expected column elements, found text');
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(row)) {
      if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(k)) fail(where, `invalid element name <${k}>`);
      const t = text(v, `${where} <${k}>`);
      if (t !== undefined) out[k] = t;
    }
    return [out];
  });
}

function topFiles(s: Sections, m: BundleManifest): void {
  for (const [tag, field] of Object.entries(TOP_FILES) as Array<[keyof typeof TOP_FILES, (typeof TOP_FILES)[keyof typeof TOP_FILES]]>) {
    const value = text(s.top[tag], `manifest.xml <${tag}>`);
    if (value !== undefined) m[field] = fileRef(value, `manifest.xml <${tag}>`);
  }
  for (const tag of NEEDS[m.method]) if (!s.top[tag]) fail('manifest.xml', `method ${quote(m.method)} needs <${tag}>`);
  const template = column(s, 'linuximage', 'template');
  if (template !== undefined) m.template = fileRef(template, `manifest.xml ${pathOf(s, 'linuximage', 'template')}`);
  else if (m.method === 'install') fail('manifest.xml', `method "install" needs ${pathOf(s, 'linuximage', 'template')}`);
}

function topText(s: Sections, m: BundleManifest): void {
  const media = text(s.top.media, 'manifest.xml <media>');
  if (media !== undefined && media !== 'required') fail('manifest.xml <media>', `expected "required", found ${quote(media)}`);
  if (media) m.media = 'required';
  const postscripts = text(s.top.postscripts, 'manifest.xml <postscripts>');
  if (postscripts !== undefined) m.postscripts = postscripts;
  const postbootscripts = text(s.top.postbootscripts, 'manifest.xml <postbootscripts>');
  if (postbootscripts !== undefined) m.postbootscripts = postbootscripts;
}

/** Files are stored flat by basename: two different paths with one basename cannot both travel. */
function checkFlatNames(m: BundleManifest): void {
  const refs = [m.template, m.kernel, m.initrd, m.rootimg, m.rootimgtree, m.litefile, ...LIST_KINDS.flatMap((k) => m.lists[k] ?? []), ...m.extras];
  const seen = new Map<string, string | undefined>();
  for (const ref of refs) {
    if (!ref) continue;
    const prev = seen.get(ref.member);
    if (seen.has(ref.member) && prev !== ref.origin) {
      fail('manifest.xml', `${quote(prev ?? '')} and ${quote(ref.origin ?? '')} would both be stored as ${quote(ref.member)}`);
    }
    seen.set(ref.member, ref.origin);
  }
}

export function parseManifestXml(text: string): BundleManifest {
  const s = readSections(text);
  const m: BundleManifest = {
    ...header(s),
    lists: lists(s),
    extras: asList(s.top.extra).map(extra),
    osimage: carried(s, 'osimage'),
    linuximage: carried(s, 'linuximage'),
    kits: rows(s.top.kit, 'kit'),
    kitrepos: rows(s.top.kitrepo, 'kitrepo'),
    kitcomps: rows(s.top.kitcomp, 'kitcomp'),
  };
  topFiles(s, m);
  topText(s, m);
  checkFlatNames(m);
  return m;
}

export { serializeManifestXml, type XmlWriteOptions } from './write.js';
