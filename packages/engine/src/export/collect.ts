/**
 * Export step 2: find every file the image's method needs (SPEC §5) and give each its member
 * name. Nothing is read or packed here yet; a missing file is an error naming the column it
 * came from and the path.
 */
import { stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { formatLitefileCsv, toBundlePath, LIST_KINDS, LIST_TABLE, METHODS, type BundleManifest, type FileRef, type ListKind, type LitefileRow, type Method } from '@imgport/format';
import { ImgportError } from '@imgport/runtime';
import type { ImageRows, Row, TableStore } from '@imgport/tables';
import { collectExtras } from './extras.js';
import { columnValue, type ImageFacts } from './facts.js';
import { collectKits, kitComponentsOf, type KitElements } from './kits.js';
import { Members, type Payload } from './members.js';
import { initrdName, ROOTIMG_ARCHIVES } from '../layout.js';

export type BundleFormat = 'native' | 'xcat';
export { columnValue, imageFacts, type ImageFacts } from './facts.js';

export interface CollectOptions {
  format: BundleFormat;
  include: readonly ListKind[];
  /** The lists were not asked for (the xcat format carries them by default): a missing file is a warning. */
  listsByDefault?: boolean;
  extras: readonly string[];
  installRoot: string;
  allow: readonly string[];
  /** Where the kit rows are read from (xcat format). */
  tables?: TableStore;
}

/** The manifest's file references, and the payload members behind them in bundle order. */
export interface Collection {
  refs: Pick<BundleManifest, 'template' | 'kernel' | 'initrd' | 'rootimg' | 'rootimgtree' | 'litefile' | 'lists' | 'extras'>;
  payload: Payload[];
  warnings: string[];
  kits: KitElements;
}

export async function collectFiles(img: ImageFacts, opts: CollectOptions): Promise<Collection> {
  const members = new Members();
  const warnings: string[] = [];
  const refs: Collection['refs'] = { lists: {}, extras: [] };
  if (img.method === 'install') {
    const path = requireColumn(img, 'linuximage', 'template');
    refs.template = await fileRef(members, opts, path, 'linuximage.template');
  } else {
    await collectBootFiles(img, opts, members, refs);
  }
  await collectLists(img, opts, members, refs, warnings);
  refs.extras = await collectExtras(opts.extras, { format: opts.format, installRoot: opts.installRoot, allow: opts.allow }, members, warnings);
  let kits: KitElements = { kits: [], kitrepos: [], kitcomps: [] };
  if (opts.format === 'xcat' && opts.tables) kits = await collectKits(img, opts.tables, opts.installRoot, members, warnings);
  else if (kitComponentsOf(img).length > 0) {
    warnings.push(`osimage.kitcomponents names kits; the native format does not carry them (export with --format xcat to carry the kits)`);
  }
  for (const kind of LIST_KINDS) {
    if (!opts.include.includes(kind) && columnValue(img.rows[LIST_TABLE[kind]], kind) !== undefined) {
      warnings.push(`${LIST_TABLE[kind]}.${kind} not exported: its files are carried only when included`);
    }
  }
  return { refs, payload: members.items, warnings, kits };
}

function requireColumn(img: ImageFacts, table: 'osimage' | 'linuximage', column: string): string {
  const v = columnValue(img.rows[table], column);
  if (v === undefined) {
    throw new ImgportError('FILE_MISSING', `image ${img.name}: ${table}.${column} is not set`, { where: `${table}.${column}` });
  }
  return v;
}

/** Checks that `path` (from `column`) is a readable regular file; relative paths are taken from the install root. */
async function requireFile(path: string, column: string, installRoot: string): Promise<string> {
  const abs = resolve(installRoot, path);
  const st = await stat(abs).catch(() => undefined);
  if (!st?.isFile()) {
    throw new ImgportError('FILE_MISSING', `${column}: file ${abs} is missing${st ? ' (not a regular file)' : ''}`, { where: column });
  }
  return abs;
}

/** A file stored flat by its basename (both layouts do this; stock imgimport expects it). */
async function fileRef(members: Members, opts: CollectOptions, path: string, column: string, precompressed = false): Promise<FileRef> {
  const abs = await requireFile(path, column, opts.installRoot);
  const member = members.addFile(basename(abs), abs, column, precompressed);
  return ref(opts, member, abs);
}

/** Native manifests name members only; xCAT ones name the file's path, in the bundle's /install/ spelling. */
function ref(opts: Pick<CollectOptions, 'format' | 'installRoot'>, member: string, origin: string): FileRef {
  return opts.format === 'xcat' ? { member, origin: toBundlePath(origin, opts.installRoot) } : { member };
}

async function collectBootFiles(img: ImageFacts, opts: CollectOptions, members: Members, refs: Collection['refs']): Promise<void> {
  const dir = resolve(opts.installRoot, requireColumn(img, 'linuximage', 'rootimgdir'));
  refs.kernel = await fileRef(members, opts, join(dir, 'kernel'), 'linuximage.rootimgdir', true);
  refs.initrd = await fileRef(members, opts, join(dir, initrdName(img.method)), 'linuximage.rootimgdir', true);
  if (img.method === 'statelite' && opts.format === 'xcat') {
    // Stock imgimport requires rootimgtree.gz for statelite and expands it into rootimgdir.
    const tree = await requireTree(dir);
    refs.rootimgtree = ref(opts, members.addPack('rootimgtree.gz', { tree, layout: 'rootimgtree' }, 'linuximage.rootimgdir'), join(dir, 'rootimgtree.gz'));
  } else {
    refs.rootimg = await rootImage(dir, opts, members);
  }
  if (img.method === 'statelite') {
    const csv = formatLitefileCsv(img.rows.litefile.filter((r) => r.file).map((r) => litefileRow(img.name, r, opts.format)));
    refs.litefile = ref(opts, members.addData('litefile.csv', csv, 'litefile'), join(dir, 'litefile.csv'));
  }
}

/** The first archive xCAT would boot from; else the rootimg/ tree, packed later into rootimg.cpio.gz. */
async function rootImage(dir: string, opts: CollectOptions, members: Members): Promise<FileRef> {
  for (const name of ROOTIMG_ARCHIVES) {
    const st = await stat(join(dir, name)).catch(() => undefined);
    if (st?.isFile()) return fileRef(members, opts, join(dir, name), 'linuximage.rootimgdir', true);
  }
  const tree = await requireTree(dir);
  return ref(opts, members.addPack('rootimg.cpio.gz', { tree, layout: 'cpio' }, 'linuximage.rootimgdir'), join(dir, 'rootimg.cpio.gz'));
}

/** xCAT bundles: as stock imgexport prints them, options defaulting to tmpfs, no comments or disable. */
function litefileRow(image: string, r: Row, format: BundleFormat): LitefileRow {
  if (format === 'xcat') return { image, file: r.file ?? '', options: r.options || 'tmpfs', comments: '', disable: '' };
  return { image, file: r.file ?? '', options: r.options ?? '', comments: r.comments ?? '', disable: r.disable ?? '' };
}

async function requireTree(dir: string): Promise<string> {
  const tree = join(dir, 'rootimg');
  const st = await stat(tree).catch(() => undefined);
  if (!st?.isDirectory()) {
    throw new ImgportError(
      'FILE_MISSING',
      `linuximage.rootimgdir: no root image in ${dir} (none of ${ROOTIMG_ARCHIVES.join(', ')}, and no rootimg/ tree at ${tree})`,
      { where: 'linuximage.rootimgdir' },
    );
  }
  return tree;
}

/** Asked-for list columns; each may name several comma-separated files. */
async function collectLists(img: ImageFacts, opts: CollectOptions, members: Members, refs: Collection['refs'], warnings: string[]): Promise<void> {
  for (const kind of LIST_KINDS) {
    if (!opts.include.includes(kind)) continue;
    const column = `${LIST_TABLE[kind]}.${kind}`;
    const value = columnValue(img.rows[LIST_TABLE[kind]], kind);
    if (value === undefined) continue;
    const files = value.split(',').map((f) => f.trim()).filter((f) => f !== '');
    const list: FileRef[] = [];
    for (const f of files) {
      try {
        list.push(await fileRef(members, opts, f, column));
      } catch (err) {
        // As stock imgexport ("Couldn't find file ... Skip."), but the manifest then does not name it either.
        if (!opts.listsByDefault || !(err instanceof ImgportError) || err.code !== 'FILE_MISSING') throw err;
        warnings.push(`${column}: ${f} is missing; not carried (ask for it with --include to make this an error)`);
      }
    }
    if (list.length > 0) refs.lists[kind] = list;
  }
}
