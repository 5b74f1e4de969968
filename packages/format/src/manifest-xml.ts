/**
 * manifest.xml, stock xCAT's imgexport manifest (SPEC §3.2), read with fast-xml-parser.
 *
 * Untrusted input: any DOCTYPE or ENTITY declaration is refused before parsing (no entity
 * bombs, no external entities) and only the five predefined entities may appear; a character
 * reference (&#...;) is refused too, since XML::Simple never writes one. xCAT 2.8+ wraps the
 * table columns in <osimage>/<linuximage>; xCAT 2.7 put every column at top level and we sort
 * them into the tables by xCAT's column lists, as imgport.pm's manifest_adapter does.
 *
 * Paths are absolute on the exporting node and files are stored flat by basename, so a FileRef
 * is `{ member: basename(path), origin: path }`. Extras: see extras.ts.
 */
import { posix } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { ImgportError, type ErrorCode } from '@imgport/runtime';
import { isCarriedColumn, isColumn, type ImageTable } from './columns.js';
import { xcatExtraFileMember } from './extras.js';
import { LIST_KINDS, LIST_TABLE, METHODS, type BundleManifest, type ExtraRef, type FileRef, type Method } from './model.js';
import { validateImageName, validatePathToken } from './names.js';
import { normalizeAbsolutePath, normalizeDestDir, normalizeFileMember } from './paths.js';
import { MAX_MANIFEST_CHARS, at, quote } from './util.js';

type Node = Record<string, unknown>;

interface Sections {
  flat: boolean;
  top: Node;
  osimage: Node;
  linuximage: Node;
}

const ROOT = 'xcatimage';
const ROW_TAGS = ['extra', 'kit', 'kitrepo', 'kitcomp'];
const TOP_FILES = { kernel: 'kernel', ramdisk: 'initrd', rootimg: 'rootimg', rootimgtree: 'rootimgtree', litefile: 'litefile' } as const;
const TOP_TEXT = new Set(['media', 'postscripts', 'postbootscripts', ...Object.keys(TOP_FILES)]);
const NEEDS: Record<Method, ReadonlyArray<keyof typeof TOP_FILES>> = {
  install: [],
  netboot: ['kernel', 'ramdisk', 'rootimg'],
  statelite: ['kernel', 'ramdisk', 'rootimgtree'],
};

function fail(where: string, problem: string, code: ErrorCode = 'MANIFEST_INVALID'): never {
  throw new ImgportError(code, `${where}: ${problem}`, { where });
}

const lineAt = (text: string, index: number) => `manifest.xml line ${text.slice(0, index).split('\n').length}`;

function refuseDangerous(text: string): void {
  if (text.length > MAX_MANIFEST_CHARS) {
    throw new ImgportError('LIMIT_EXCEEDED', `manifest.xml is ${text.length} characters long (limit ${MAX_MANIFEST_CHARS})`);
  }
  const decl = /<!(DOCTYPE|ENTITY)/i.exec(text);
  if (decl) fail(lineAt(text, decl.index), `<!${decl[1]}> declarations are not allowed`);
  const ref = /&(?!(?:amp|lt|gt|quot|apos);)/.exec(text);
  if (ref) fail(lineAt(text, ref.index), `only &amp; &lt; &gt; &quot; &apos; may be used, found ${quote(text.slice(ref.index, ref.index + 10))}`);
}

function readRoot(text: string): Node {
  refuseDangerous(text);
  const valid = XMLValidator.validate(text);
  if (valid !== true) fail(`manifest.xml line ${valid.err.line}`, valid.err.msg);
  const parser = new XMLParser({
    ignoreAttributes: true,
    parseTagValue: false,
    trimValues: true,
    ignoreDeclaration: true,
    ignorePiTags: true,
    processEntities: true,
    htmlEntities: false,
    // One element or several: the repeatable rows always come back as arrays.
    isArray: (_name: string, jpath: unknown) => ROW_TAGS.some((tag) => jpath === `${ROOT}.${tag}`),
  });
  let doc: Node;
  try {
    doc = parser.parse(text) as Node;
  } catch (err) {
    fail('manifest.xml', err instanceof Error ? err.message : String(err));
  }
  const roots = Object.keys(doc);
  if (roots.length !== 1 || roots[0] !== ROOT) {
    fail('manifest.xml', `the root element must be <${ROOT}>, found ${roots.map((r) => `<${r}>`).join(', ') || 'none'}`);
  }
  const root = doc[ROOT];
  if (root === '') return {};
  if (typeof root !== 'object' || root === null || Array.isArray(root)) fail(`manifest.xml <${ROOT}>`, 'expected one element holding elements');
  return root as Node;
}

function unknownElement(name: string): never {
  if (name === 'rawimagefiles') fail('manifest.xml <rawimagefiles>', 's390x raw images are not supported', 'UNSUPPORTED');
  if (name === '#text') fail(`manifest.xml <${ROOT}>`, 'text outside any element');
  fail(`manifest.xml <${name}>`, 'unknown element');
}

function wrapper(root: Node, table: ImageTable): Node {
  const v = root[table];
  if (v === undefined || v === '') return {};
  if (Array.isArray(v)) fail(`manifest.xml <${table}>`, `appears ${v.length} times`);
  if (typeof v !== 'object' || v === null) fail(`manifest.xml <${table}>`, 'expected column elements, found text');
  for (const col of Object.keys(v)) {
    if (!isColumn(table, col)) fail(`manifest.xml <${table}><${col}>`, `not a column of xCAT's ${table} table`);
  }
  return v as Node;
}

function sections(root: Node): Sections {
  const flat = !('osimage' in root) && !('linuximage' in root);
  const s: Sections = { flat, top: {}, osimage: flat ? {} : wrapper(root, 'osimage'), linuximage: flat ? {} : wrapper(root, 'linuximage') };
  for (const [name, value] of Object.entries(root)) {
    if (!flat && (name === 'osimage' || name === 'linuximage')) continue;
    // xCAT 2.7: a name both tables have (imagename, comments, disable) goes to both.
    const tables = flat ? (['osimage', 'linuximage'] as const).filter((t) => isColumn(t, name)) : [];
    for (const t of tables) s[t][name] = value;
    if (tables.length) continue;
    if (!TOP_TEXT.has(name) && !ROW_TAGS.includes(name)) unknownElement(name);
    s.top[name] = value;
  }
  return s;
}

const pathOf = (s: Sections, table: ImageTable, col: string) => (s.flat ? `<${col}>` : `<${table}><${col}>`);

function text(value: unknown, where: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) fail(where, `appears ${value.length} times`);
  return fail(where, 'expected text, found child elements');
}

function column(s: Sections, table: ImageTable, col: string): string | undefined {
  return text(s[table][col], `manifest.xml ${pathOf(s, table, col)}`);
}

function required(s: Sections, col: string): string {
  return column(s, 'osimage', col) ?? fail('manifest.xml', `missing ${pathOf(s, 'osimage', col)}`);
}

function imageName(s: Sections): string {
  const os = column(s, 'osimage', 'imagename');
  const linux = column(s, 'linuximage', 'imagename');
  if (os !== undefined && linux !== undefined && os !== linux) {
    fail('manifest.xml', `<osimage><imagename> ${quote(os)} and <linuximage><imagename> ${quote(linux)} differ`);
  }
  const name = os ?? linux ?? fail('manifest.xml', `missing ${pathOf(s, 'osimage', 'imagename')}`);
  return validateImageName(name, `manifest.xml ${pathOf(s, os !== undefined ? 'osimage' : 'linuximage', 'imagename')}`);
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
  const s = sections(readRoot(text));
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

export { serializeManifestXml, type XmlWriteOptions } from './manifest-xml-write.js';
