/**
 * Writes manifest.xml the way stock imgexport does: Perl XML::Simple with RootName xcatimage
 * and NoAttr, i.e. `<?xml version="1.0"?>`, child elements only, 2-space indentation, and in
 * every element the children in XML::Simple's order (a `name`, `key` or `id` child first, the
 * rest sorted), text escaped as XML::Simple escapes it (& < > " only).
 *
 * Paths: every file is written as its absolute `origin`. A FileRef without one (a native
 * manifest) takes `originOf(field, ref)`; without that option it is an error. A path's basename
 * must equal the member's basename, because stock imgimport finds files by basename.
 */
import { posix } from 'node:path';
import { XMLBuilder } from 'fast-xml-parser';
import { ImgportError } from '@imgport/runtime';
import { isCarriedColumn, type ImageTable } from '../../columns.js';
import { LIST_KINDS, LIST_TABLE, type BundleManifest, type FileRef } from '../../model.js';
import { normalizeAbsolutePath } from '../../paths.js';
import { at, byteOrder, quote } from '../../util.js';

export interface XmlWriteOptions {
  /** The absolute path on this node of a file the model has no origin for. */
  originOf?: (field: string, ref: FileRef) => string;
}

type Node = { [key: string]: string | Node | Node[] };

/** Files stock imgimport's verify_manifest insists on, per method. */
const NEEDS = { install: ['template'], netboot: ['kernel', 'initrd', 'rootimg'], statelite: ['kernel', 'initrd', 'rootimgtree'] } as const;
const KEY_ATTRS = ['name', 'key', 'id'];

function fail(problem: string): never {
  throw new ImgportError('MANIFEST_INVALID', `manifest.xml: ${problem}`);
}

function pathWriter(opts: XmlWriteOptions) {
  return (field: string, ref: FileRef): string => {
    const raw = ref.origin ?? opts.originOf?.(field, ref);
    if (raw === undefined) fail(`${field} ${quote(ref.member)} has no origin path (set origins or pass originOf)`);
    const abs = at(`manifest.xml: ${field}`, () => normalizeAbsolutePath(raw));
    if (posix.basename(abs) !== posix.basename(ref.member)) {
      fail(`${field} ${quote(abs)} and its bundle member ${quote(ref.member)} have different names`);
    }
    return abs;
  };
}

function columns(m: BundleManifest, table: ImageTable): Node {
  const out: Node = {};
  for (const [col, value] of Object.entries(m[table])) {
    if (!isCarriedColumn(table, col)) fail(`${quote(col)} is not a column carried in <${table}>`);
    if (value !== '') out[col] = value;
  }
  return out;
}

function tables(m: BundleManifest, path: (field: string, ref: FileRef) => string): { osimage: Node; linuximage: Node } {
  // imgimport writes the rows verbatim and xCAT needs imagetype to pick its plugin.
  const osimage: Node = { imagetype: 'linux', osname: 'Linux', ...columns(m, 'osimage') };
  Object.assign(osimage, { imagename: m.name, profile: m.profile, provmethod: m.method, osvers: m.os, osarch: m.arch });
  const linuximage: Node = { ...columns(m, 'linuximage'), imagename: m.name };
  if (m.template) linuximage.template = path('template', m.template);
  for (const kind of LIST_KINDS) {
    const refs = m.lists[kind] ?? [];
    const target = LIST_TABLE[kind] === 'osimage' ? osimage : linuximage;
    if (refs.length) target[kind] = refs.map((r) => path(kind, r)).join(',');
  }
  return { osimage, linuximage };
}

function rowList(list: Record<string, string>[], tag: string): Node[] {
  return list.map((row) => {
    for (const k of Object.keys(row)) if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(k)) fail(`<${tag}> has an invalid column name ${quote(k)}`);
    return Object.fromEntries(Object.entries(row).filter(([, v]) => v !== ''));
  });
}

function document(m: BundleManifest, opts: XmlWriteOptions): Node {
  for (const field of NEEDS[m.method]) if (!m[field]) fail(`method ${quote(m.method)} needs ${field}`);
  const path = pathWriter(opts);
  const root: Node = tables(m, path);
  const files = { kernel: m.kernel, ramdisk: m.initrd, rootimg: m.rootimg, rootimgtree: m.rootimgtree, litefile: m.litefile };
  for (const [tag, ref] of Object.entries(files)) if (ref) root[tag] = path(tag === 'ramdisk' ? 'initrd' : tag, ref);
  const texts = { media: m.media, postscripts: m.postscripts, postbootscripts: m.postbootscripts };
  for (const [tag, value] of Object.entries(texts)) if (value) root[tag] = value;
  if (m.extras.length) root.extra = m.extras.map((e) => ({ src: path('extra', e), dest: e.dest }));
  const rows = { kit: m.kits, kitrepo: m.kitrepos, kitcomp: m.kitcomps };
  for (const [tag, list] of Object.entries(rows)) if (list.length) root[tag] = rowList(list, tag);
  return root;
}

/** XML::Simple's XMLout order and escaping (its sorted_keys and escape_value). */
function xmlSimple(node: Node): Node {
  const keys = Object.keys(node);
  const first = KEY_ATTRS.find((k) => keys.includes(k));
  const order = [...(first ? [first] : []), ...keys.filter((k) => k !== first).sort(byteOrder)];
  const out: Node = {};
  for (const key of order) {
    const v = node[key] as string | Node | Node[];
    out[key] = typeof v === 'string' ? escape(v) : Array.isArray(v) ? v.map(xmlSimple) : xmlSimple(v);
  }
  return out;
}

function escape(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function serializeManifestXml(m: BundleManifest, opts: XmlWriteOptions = {}): string {
  const builder = new XMLBuilder({ format: true, indentBy: '  ', ignoreAttributes: false, processEntities: false, suppressEmptyNode: false });
  return builder.build({ '?xml': { '@_version': '1.0' }, xcatimage: xmlSimple(document(m, opts)) }) as string;
}
