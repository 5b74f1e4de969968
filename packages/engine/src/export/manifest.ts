/**
 * Export step 3: the manifest model of the image. Every non-empty column travels: the ones the
 * model has a field for (name, os, template, lists...) through that field, the others verbatim
 * in the carried records. The serializers render it as manifest.cfg or manifest.xml.
 */
import { COLUMNS } from '@imgport/tables';
import { isCarriedColumn, mapPathList, PATH_COLUMNS, serializeManifestCfg, serializeManifestXml, toBundlePath, type BundleManifest } from '@imgport/format';
import type { BundleFormat, Collection } from './collect.js';
import { columnValue, type ImageFacts } from './facts.js';

/** `installRoot`: this node's, mapped to the bundles' `/install/` in every path column carried. */
export function buildManifest(img: ImageFacts, files: Collection, format: BundleFormat, installRoot: string): BundleManifest {
  const m: BundleManifest = {
    format: 1,
    flavor: format,
    name: img.name,
    os: img.os,
    arch: img.arch,
    profile: img.profile,
    method: img.method,
    lists: files.refs.lists,
    extras: files.refs.extras,
    osimage: carried(img, 'osimage', installRoot),
    linuximage: carried(img, 'linuximage', installRoot),
    kits: files.kits.kits,
    kitrepos: files.kits.kitrepos,
    kitcomps: files.kits.kitcomps,
  };
  // xCAT's imgexport marks every diskful image: its packages come from the OS media (copycds).
  if (img.method === 'install') m.media = 'required';
  for (const key of ['template', 'kernel', 'initrd', 'rootimg', 'rootimgtree', 'litefile'] as const) {
    const ref = files.refs[key];
    if (ref) m[key] = ref;
  }
  return m;
}

function carried(img: ImageFacts, table: 'osimage' | 'linuximage', installRoot: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const column of COLUMNS[table]) {
    const v = columnValue(img.rows[table], column);
    if (v === undefined || !isCarriedColumn(table, column)) continue;
    out[column] = PATH_COLUMNS.has(column) ? mapPathList(v, (p) => toBundlePath(p, installRoot)) : v;
  }
  return out;
}

/** The manifest member: its name and its text in the format's own syntax. */
export function renderManifest(m: BundleManifest): { member: string; text: string } {
  return m.flavor === 'xcat'
    ? { member: 'manifest.xml', text: serializeManifestXml(m) }
    : { member: 'manifest.cfg', text: serializeManifestCfg(m) };
}
