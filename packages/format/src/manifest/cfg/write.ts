/**
 * Writes manifest.cfg (SPEC §3.1) from the model, in canonical key order, and refuses what
 * parseManifestCfg could not read back identically.
 */
import { ImgportError } from '@imgport/runtime';
import { LIST_KINDS, type BundleManifest, type FileRef } from '../../model.js';
import { quote } from '../../util.js';

/** Keys naming one bundle file each. */
export const FILE_KEYS = ['template', 'kernel', 'initrd', 'rootimg', 'litefile'] as const;

function writable(key: string, value: string): string {
  const problem =
    value === '' ? 'the value is empty'
    : /[\r\n]/.test(value) ? 'the value holds a line break'
    : value !== value.trim() ? 'leading or trailing whitespace would be lost'
    : undefined;
  if (problem) throw new ImgportError('MANIFEST_INVALID', `manifest.cfg: cannot write key ${quote(key)}: ${problem} (${quote(value)})`);
  return `${key} ${value}`;
}

function refuseXcatOnly(m: BundleManifest): void {
  const xcatOnly = [
    m.rootimgtree && 'rootimgtree',
    m.postscripts && 'postscripts',
    m.postbootscripts && 'postbootscripts',
    m.kits.length && 'kit',
    m.kitrepos.length && 'kitrepo',
    m.kitcomps.length && 'kitcomp',
  ].filter((x): x is string => typeof x === 'string');
  if (xcatOnly.length) {
    throw new ImgportError('UNSUPPORTED', `manifest.cfg cannot carry ${xcatOnly.join(', ')} (xCAT-only); write manifest.xml instead`);
  }
}

function member(key: string, ref: FileRef, forbidden: string): string {
  if (ref.member.includes(forbidden)) {
    throw new ImgportError('MANIFEST_INVALID', `manifest.cfg: cannot write key ${quote(key)}: file name ${quote(ref.member)} contains ${quote(forbidden)}`);
  }
  return ref.member;
}

/**
 * The manifest in canonical key order. Native manifests name bundle members only: `origin` and
 * `flavor` are not written, empty carried columns are left out, and xCAT-only content
 * (rootimgtree, kits, postscripts) is refused rather than dropped.
 */
export function serializeManifestCfg(m: BundleManifest): string {
  refuseXcatOnly(m);
  const lines = [`format ${m.format}`];
  const put = (key: string, value: string) => lines.push(writable(key, value));
  put('name', m.name);
  put('os', m.os);
  put('arch', m.arch);
  put('profile', m.profile);
  put('method', m.method);
  if (m.media) put('media', m.media);
  for (const key of FILE_KEYS) {
    const ref = m[key];
    if (ref) put(key, ref.member);
  }
  for (const kind of LIST_KINDS) {
    const refs = m.lists[kind] ?? [];
    if (refs.length) put(kind, refs.map((r) => member(kind, r, ',')).join(','));
  }
  for (const e of m.extras) put('extra', `${member('extra', e, ':')}:${e.dest}`);
  for (const table of ['osimage', 'linuximage'] as const) {
    for (const [column, value] of Object.entries(m[table])) if (value !== '') put(`${table}.${column}`, value);
  }
  return `${lines.join('\n')}\n`;
}
