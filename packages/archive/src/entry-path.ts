/**
 * The one place that decides whether an archive member's path may be written, and what it
 * becomes. Pure: no I/O. Modelled on node-tar's CHECKPATH step (src/unpack.ts) but stricter:
 * absolute names are refused, not stripped (SPEC §9).
 */
import { ImgportError } from '@imgport/runtime';

export interface PathPolicy {
  /** Longest accepted member path, in bytes. */
  maxPathLength: number;
  /** A leading directory every member must be under, removed from the result ('rootimg/'). */
  stripPrefix?: string;
}

/**
 * Returns the member's path relative to the target directory, normalised ('./a//b/' → 'a/b';
 * '' for the target directory itself). Throws UNSAFE_PATH for NUL, absolute paths and '..'
 * components, LIMIT_EXCEEDED for an over-long path, BUNDLE_INVALID for a member outside the
 * prefix.
 */
export function checkEntryPath(raw: string, policy: PathPolicy): string {
  if (raw.includes('\0')) throw unsafe(`member ${shown(raw)} contains a NUL byte`, raw);
  // UTF-16 length bounds the UTF-8 length from below and 3× from above: count bytes rarely.
  if (raw.length > policy.maxPathLength || (raw.length * 3 > policy.maxPathLength && Buffer.byteLength(raw) > policy.maxPathLength)) {
    throw new ImgportError('LIMIT_EXCEEDED', `maxPathLength: member ${shown(raw)} is longer than ${policy.maxPathLength} bytes`, { where: raw.slice(0, 200) });
  }
  // The parsers decode names as UTF-8; bytes that are not come out as U+FFFD, and two such
  // names would collapse into one file. Refused rather than merged (SPEC §9).
  if (raw.includes('\uFFFD')) throw notUtf8(`member ${shown(raw)}`, raw);
  if (raw.startsWith('/')) throw unsafe(`member ${shown(raw)} is an absolute path`, raw);
  if (policy.stripPrefix === undefined) {
    // As `find .` names them ('./usr/bin/sh'): already normal past the leading './', no split.
    const rest = raw.startsWith('./') ? raw.slice(2) : raw;
    if (isNormal(rest)) return rest;
  }
  let parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw unsafe(`member ${shown(raw)} has a '..' component`, raw);
  if (policy.stripPrefix !== undefined) parts = stripLeading(parts, policy.stripPrefix, shown(raw));
  return parts.join('/');
}

/**
 * True when `p` is its own normal form: it has components, none empty (no leading, trailing or
 * doubled '/'), none '.' or '..'. Splitting, dropping '' and '.', and joining would give it back.
 */
export function isNormal(p: string): boolean {
  return p !== '' && p[0] !== '/' && p[p.length - 1] !== '/' && !p.includes('//') && !DOT_PART.test(p);
}

const DOT_PART = /(?:^|\/)\.\.?(?:\/|$)/;

/** The member's name for messages, quoted and cut short. */
function shown(raw: string): string {
  return JSON.stringify(raw.length > 200 ? `${raw.slice(0, 200)}...` : raw);
}

function stripLeading(parts: string[], prefix: string, quoted: string): string[] {
  const want = prefix.split('/').filter((p) => p !== '' && p !== '.');
  for (let i = 0; i < want.length; i++) {
    if (parts[i] !== want[i]) {
      throw new ImgportError('BUNDLE_INVALID', `member ${quoted} is not under ${want.join('/')}/`, { where: quoted });
    }
  }
  return parts.slice(want.length);
}

/** A symlink target is kept verbatim (absolute ones are normal in a root image) but must be sane. */
export function checkLinkTarget(target: string, member: string): void {
  if (target === '' || target.includes('\0') || Buffer.byteLength(target) > 4095) {
    throw unsafe(`symlink ${JSON.stringify(member)} has an empty, over-long or NUL-containing target`, member);
  }
  if (target.includes('\uFFFD')) throw notUtf8(`the target of symlink ${JSON.stringify(member)}`, member);
}

function notUtf8(what: string, where: string): ImgportError {
  return new ImgportError(
    'UNSAFE_PATH',
    `${what} is not valid UTF-8 (shown with U+FFFD for the bytes that are not): imgport keeps root image names as UTF-8 and refuses others rather than merge two names into one; rename it in the source image (e.g. with convmv) and pack it again`,
    { where: where.slice(0, 200) },
  );
}

function unsafe(message: string, where: string): ImgportError {
  return new ImgportError('UNSAFE_PATH', message, { where: where.slice(0, 200) });
}
