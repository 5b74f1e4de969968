/**
 * manifest.cfg, the native manifest (SPEC §3.1): one `key value` per line. A line whose first
 * non-blank character is `#` is a comment; a `#` later in a line is part of the value, so a
 * carried column such as `osimage.comments see ticket #42` survives a round trip. The value is
 * the rest of the line, trimmed. A manifest that is one single line of `key value` pairs, every
 * pair starting with a known key, is the seed document's flattened form.
 */
import { ImgportError } from '@imgport/runtime';
import { KEY_FOR_COLUMN, isCarriedColumn, isColumn, type ImageTable } from '../../columns.js';
import { LIST_KINDS, METHODS, type BundleManifest, type ExtraRef, type FileRef, type Method } from '../../model.js';
import { validateImageName, validatePathToken } from '../../names.js';
import { normalizeDestDir, normalizeFileMember } from '../../paths.js';
import { FILE_KEYS } from './write.js';
import { MAX_MANIFEST_CHARS, at, quote } from '../../util.js';

/** The bundle format version this code reads and writes. */
export const NATIVE_FORMAT = 1;

type FileKey = (typeof FILE_KEYS)[number];
const SINGLE_KEYS = new Set<string>(['format', 'name', 'os', 'arch', 'profile', 'method', 'media', ...FILE_KEYS, ...LIST_KINDS]);
const REQUIRED = ['name', 'os', 'arch', 'profile', 'method'] as const;
const NEEDS: Record<Method, readonly FileKey[]> = {
  install: ['template'],
  netboot: ['kernel', 'initrd', 'rootimg'],
  statelite: ['kernel', 'initrd', 'rootimg'],
};

interface Entry {
  line: number;
  key: string;
  value: string;
}

interface Collected {
  single: Map<string, Entry>;
  extras: Entry[];
  columns: Entry[];
}

const lineOf = (e: Entry) => `manifest.cfg line ${e.line}`;

function fail(e: Entry | undefined, problem: string): never {
  const where = e ? lineOf(e) : 'manifest.cfg';
  throw new ImgportError('MANIFEST_INVALID', `${where}: ${problem}`, { where });
}

function columnKey(key: string): { table: ImageTable; column: string } | undefined {
  const m = /^(osimage|linuximage)\.(.*)$/.exec(key);
  return m ? { table: m[1] as ImageTable, column: m[2] ?? '' } : undefined;
}

function isKnownKey(key: string): boolean {
  const col = columnKey(key);
  return SINGLE_KEYS.has(key) || key === 'extra' || (col !== undefined && isColumn(col.table, col.column));
}

function readEntries(text: string): Entry[] {
  if (text.length > MAX_MANIFEST_CHARS) {
    throw new ImgportError('LIMIT_EXCEEDED', `manifest.cfg is ${text.length} characters long (limit ${MAX_MANIFEST_CHARS})`);
  }
  const lines = text
    .replace(/^\uFEFF/, '')
    .split('\n')
    .map((raw, i) => ({ line: i + 1, text: raw.trim() }))
    .filter((l) => l.text !== '' && !l.text.startsWith('#'));
  const tokens = lines.length === 1 ? (lines[0]?.text.split(/\s+/) ?? []) : [];
  const flattened = tokens.length % 2 === 0 && tokens.every((t, i) => i % 2 === 1 || isKnownKey(t));
  if (lines.length === 1 && flattened) {
    const line = lines[0]?.line ?? 1;
    return tokens.flatMap((key, i) => (i % 2 === 0 ? [{ line, key, value: tokens[i + 1] ?? '' }] : []));
  }
  return lines.map(({ line, text: t }) => {
    const [, key = '', value = ''] = /^(\S+)\s*(.*)$/.exec(t) ?? [];
    return { line, key, value };
  });
}

function checkColumnKey(e: Entry, seen: Set<string>): void {
  const { table, column } = columnKey(e.key) ?? { table: 'osimage', column: '' };
  if (!isColumn(table, column)) fail(e, `unknown column ${quote(column)} in key ${quote(e.key)} (not a column of xCAT's ${table} table)`);
  if (!isCarriedColumn(table, column)) {
    const key = KEY_FOR_COLUMN[column] ?? column;
    fail(e, `key ${quote(e.key)} duplicates key ${quote(key)}; use ${quote(key)}`);
  }
  if (seen.has(e.key)) fail(e, `key ${quote(e.key)} appears twice`);
  seen.add(e.key);
}

function collect(entries: Entry[]): Collected {
  const out: Collected = { single: new Map(), extras: [], columns: [] };
  const seenColumns = new Set<string>();
  for (const e of entries) {
    if (SINGLE_KEYS.has(e.key)) {
      const first = out.single.get(e.key);
      if (first) fail(e, `key ${quote(e.key)} appears twice (first on line ${first.line})`);
      out.single.set(e.key, e);
    } else if (e.key === 'extra') out.extras.push(e);
    else if (columnKey(e.key)) {
      checkColumnKey(e, seenColumns);
      out.columns.push(e);
    } else fail(e, `unknown key ${quote(e.key)}`);
    if (e.value === '') fail(e, `key ${quote(e.key)} has no value`);
  }
  return out;
}

function parseFormat(e: Entry | undefined): number {
  if (!e) return NATIVE_FORMAT;
  if (e.value !== String(NATIVE_FORMAT)) fail(e, `format ${quote(e.value)} is not supported (this version reads format ${NATIVE_FORMAT})`);
  return NATIVE_FORMAT;
}

function parseMethod(e: Entry): Method {
  const method = METHODS.find((m) => m === e.value);
  if (!method) fail(e, `unknown method ${quote(e.value)} (expected install, netboot or statelite)`);
  return method;
}

const fileRef = (e: Entry, raw: string): FileRef => ({ member: at(`${lineOf(e)}: ${e.key}`, () => normalizeFileMember(raw)) });

function parseList(e: Entry): FileRef[] {
  return e.value.split(',').map((item) => {
    if (item.trim() === '') fail(e, `${e.key}: empty file name in ${quote(e.value)}`);
    return fileRef(e, item.trim());
  });
}

function parseExtra(e: Entry): ExtraRef {
  const colon = e.value.indexOf(':');
  const file = e.value.slice(0, colon).trim();
  const dest = e.value.slice(colon + 1).trim();
  if (colon < 0 || file === '' || dest === '') fail(e, `extra must be "<file>:<destdir>", found ${quote(e.value)}`);
  return { ...fileRef(e, file), dest: at(`${lineOf(e)}: extra`, () => normalizeDestDir(dest)) };
}

function header(c: Collected): Pick<BundleManifest, 'format' | 'flavor' | 'name' | 'os' | 'arch' | 'profile' | 'method'> {
  for (const key of REQUIRED) if (!c.single.has(key)) fail(undefined, `missing required key ${quote(key)}`);
  const e = (key: string) => c.single.get(key) as Entry;
  return {
    format: parseFormat(c.single.get('format')),
    flavor: 'native',
    name: validateImageName(e('name').value, `${lineOf(e('name'))}: name`),
    os: validatePathToken(e('os').value, 'os', lineOf(e('os'))),
    arch: validatePathToken(e('arch').value, 'arch', lineOf(e('arch'))),
    profile: validatePathToken(e('profile').value, 'profile', lineOf(e('profile'))),
    method: parseMethod(e('method')),
  };
}

export function parseManifestCfg(text: string): BundleManifest {
  const c = collect(readEntries(text));
  const m: BundleManifest = { ...header(c), lists: {}, extras: [], osimage: {}, linuximage: {}, kits: [], kitrepos: [], kitcomps: [] };
  const media = c.single.get('media');
  if (media && media.value !== 'required') fail(media, `media must be "required", found ${quote(media.value)}`);
  if (media) m.media = 'required';
  for (const key of NEEDS[m.method]) {
    if (!c.single.has(key)) fail(c.single.get('method'), `method ${quote(m.method)} needs key ${quote(key)}`);
  }
  for (const key of FILE_KEYS) {
    const e = c.single.get(key);
    if (e) m[key] = fileRef(e, e.value);
  }
  for (const kind of LIST_KINDS) {
    const e = c.single.get(kind);
    if (e) m.lists[kind] = parseList(e);
  }
  m.extras = c.extras.map(parseExtra);
  for (const e of c.columns) {
    const { table, column } = columnKey(e.key) ?? { table: 'osimage', column: '' };
    m[table][column] = e.value;
  }
  return m;
}

export { serializeManifestCfg } from './write.js';
