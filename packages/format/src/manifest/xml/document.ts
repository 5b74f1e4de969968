/**
 * Reading manifest.xml into its sections, safely. Untrusted input: any DOCTYPE or ENTITY
 * declaration is refused before parsing (no entity bombs, no external entities) and only the
 * five predefined entities may appear; a character reference (&#...;) is refused too, since
 * XML::Simple never writes one. xCAT 2.7 manifests have no <osimage>/<linuximage> wrappers:
 * their columns are sorted into the two tables by xCAT's column lists, as imgport.pm's
 * manifest_adapter does.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { ImgportError, type ErrorCode } from '@imgport/runtime';
import { isColumn, type ImageTable } from '../../columns.js';
import { MAX_MANIFEST_CHARS, quote } from '../../util.js';

export type Node = Record<string, unknown>;

export interface Sections {
  flat: boolean;
  top: Node;
  osimage: Node;
  linuximage: Node;
}

const ROOT = 'xcatimage';
const ROW_TAGS = ['extra', 'kit', 'kitrepo', 'kitcomp'];
export const TOP_FILES = { kernel: 'kernel', ramdisk: 'initrd', rootimg: 'rootimg', rootimgtree: 'rootimgtree', litefile: 'litefile' } as const;
// A top-level <imagename> beside the wrappers is tolerated as a fallback name (never written).
const TOP_TEXT = new Set(['imagename', 'media', 'postscripts', 'postbootscripts', ...Object.keys(TOP_FILES)]);

export function fail(where: string, problem: string, code: ErrorCode = 'MANIFEST_INVALID'): never {
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

export function readSections(text: string): Sections {
  const root = readRoot(text);
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

export const pathOf = (s: Sections, table: ImageTable, col: string) => (s.flat ? `<${col}>` : `<${table}><${col}>`);

export function text(value: unknown, where: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) fail(where, `appears ${value.length} times`);
  return fail(where, 'expected text, found child elements');
}
