/**
 * All path policy in one place, with no I/O (the role node-tar's CHECKPATH step and
 * strip-absolute-path play there). Bundle members and manifest file names are relative and
 * must stay inside their target; absolute paths from a manifest are mapped onto the install
 * root, never trusted (SPEC §4, §9). Every path is POSIX: bundles come from Linux nodes.
 */
import { posix } from 'node:path';
import { ImgportError } from '@imgport/runtime';
import type { Method } from './model.js';
import { validatePathToken } from './names.js';
import { quote } from './util.js';

/** The exporting node's install directory when the import does not say otherwise (--from-root). */
export const DEFAULT_FROM_ROOT = '/install';

/** Names a bundle keeps for itself; a manifest file reference may not use them. */
export const RESERVED_MEMBERS: readonly string[] = ['manifest.cfg', 'manifest.xml', 'SHA256SUMS', 'extra'];

function unsafe(raw: string, problem: string): never {
  throw new ImgportError('UNSAFE_PATH', `unsafe path ${quote(raw)}: ${problem}`, { where: raw });
}

/** Segments of `raw` without empty and "." ones; rejects NUL and ".." (never resolved, refused). */
function cleanSegments(raw: string): string[] {
  if (raw.includes('\0')) unsafe(raw, 'contains a NUL byte');
  const parts = raw.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.includes('..')) unsafe(raw, '".." components are not allowed');
  return parts;
}

/**
 * A bundle member name or a manifest file name, normalised: "./a//b/./c" → "a/b/c". Rejects
 * (UNSAFE_PATH) NUL bytes, absolute names, ".." components and names that are empty once
 * normalised; names longer than `maxPathLength` UTF-8 bytes are LIMIT_EXCEEDED.
 */
export function normalizeMemberName(raw: string, maxPathLength = 4096): string {
  const bytes = Buffer.byteLength(raw, 'utf8');
  if (bytes > maxPathLength) {
    throw new ImgportError('LIMIT_EXCEEDED', `path ${quote(raw)} is ${bytes} bytes long (limit ${maxPathLength})`, {
      where: raw,
    });
  }
  if (raw.startsWith('/')) {
    if (raw.includes('\0')) unsafe(raw, 'contains a NUL byte');
    unsafe(raw, 'absolute paths are not allowed here');
  }
  const parts = cleanSegments(raw);
  if (parts.length === 0) unsafe(raw, 'empty once normalised');
  return parts.join('/');
}

/**
 * Whether a bundle member names the archive's own top directory ("." or "./", as
 * `tar -C dir .` and stock imgexport write first): such a member is skipped, not refused.
 * Absolute names ("/") and anything with ".." or NUL are never the root.
 */
export function isRootMemberName(raw: string): boolean {
  if (raw === '' || raw.startsWith('/') || raw.includes('\0')) return false;
  return raw.split('/').every((s) => s === '' || s === '.');
}

/** A file a manifest names: a normalised member that is not one of the bundle's own names. */
export function normalizeFileMember(raw: string, maxPathLength = 4096): string {
  const name = normalizeMemberName(raw, maxPathLength);
  if (RESERVED_MEMBERS.includes(name)) unsafe(raw, 'the name is reserved for the bundle itself');
  return name;
}

/** An absolute path from a manifest, normalised ("/a//b/./c" → "/a/b/c"); ".." is refused. */
export function normalizeAbsolutePath(raw: string): string {
  if (!raw.startsWith('/')) {
    if (raw.includes('\0')) unsafe(raw, 'contains a NUL byte');
    unsafe(raw, 'expected an absolute path');
  }
  return `/${cleanSegments(raw).join('/')}`;
}

/**
 * A destination directory from a manifest: absolute (normalised, rebased later) or relative to
 * the install root ("." allowed, meaning the install root itself). ".." and NUL are refused.
 */
export function normalizeDestDir(raw: string): string {
  if (raw === '') unsafe(raw, 'empty destination');
  if (raw.startsWith('/')) return normalizeAbsolutePath(raw);
  return cleanSegments(raw).join('/') || '.';
}

function segmentsOf(p: string): string[] {
  return posix
    .normalize(p)
    .split('/')
    .filter((s) => s !== '' && s !== '.');
}

/**
 * Whether `p` is `root` or lies below it, comparing normalised POSIX segments (no I/O, symlinks
 * are the writer's business). An absolute and a relative path are never inside each other.
 */
export function isInside(root: string, p: string): boolean {
  if (root.includes('\0') || p.includes('\0')) return false;
  if (posix.isAbsolute(root) !== posix.isAbsolute(p)) return false;
  const r = segmentsOf(root);
  const q = segmentsOf(p);
  // A normalised relative path keeps its ".." only at the front: one more than the root has escapes it.
  if (q[r.length] === '..') return false;
  return r.length <= q.length && r.every((seg, i) => seg === q[i]);
}

/** Whether `p` lies below `root`, `root` itself not counted (so `/a/..b` is below `/a`, `/a/../b` is not). */
export function isBelow(root: string, p: string): boolean {
  return isInside(root, p) && segmentsOf(p).length > segmentsOf(root).length;
}

/**
 * Bundles spell the install directory as xCAT does, `/install/`, whatever this node's root:
 * a path under `installRoot` → `/install/<rest>`; any other path is kept. Export maps every
 * path it writes through this, import maps `/install/` back (rebaseOrigin), so an image moves
 * between nodes with different install roots with no flag.
 */
export function toBundlePath(abs: string, installRoot: string): string {
  const path = normalizeAbsolutePath(abs);
  const root = normalizeAbsolutePath(posix.resolve(installRoot));
  if (!isInside(root, path)) return path;
  return posix.join(DEFAULT_FROM_ROOT, ...segmentsOf(path).slice(segmentsOf(root).length));
}

/**
 * A path an operator wrote in xCAT's spelling (`-e /install/postscripts/x`), on this node: when
 * it is not already inside the install root (or a directory in `keep`), `/install/<rest>` →
 * `<installRoot>/<rest>`. Anything else is returned as it is.
 */
export function fromBundlePath(abs: string, installRoot: string, keep: readonly string[] = []): string {
  const path = posix.normalize(abs);
  const root = posix.resolve(installRoot);
  if ([root, ...keep].some((d) => isInside(posix.resolve(d), path))) return path;
  if (!isInside(DEFAULT_FROM_ROOT, path)) return path;
  return posix.join(root, ...segmentsOf(path).slice(segmentsOf(DEFAULT_FROM_ROOT).length));
}

/** Columns xCAT stores as paths (comma lists, optionally with a `s:`/`d:` tag as partitionfile has). */
export const PATH_COLUMNS: ReadonlySet<string> = new Set([
  'pkgdir',
  'otherpkgdir',
  'kerneldir',
  'partitionfile',
  'driverupdatesrc',
  'cfmdir',
  'template',
  'rootimgdir',
  'pkglist',
  'otherpkglist',
  'exlist',
  'postinstall',
  'synclists',
]);

/** Applies `map` to every absolute path of a path column's comma list, keeping `x:` tags and relative entries. */
export function mapPathList(value: string, map: (abs: string) => string): string {
  return value
    .split(',')
    .map((token) => {
      const m = /^([a-z]:)?(.*)$/.exec(token.trim());
      const tag = m?.[1] ?? '';
      const p = m?.[2] ?? token;
      return p.startsWith('/') ? tag + map(p) : token.trim();
    })
    .join(',');
}

export interface RebaseOptions {
  /** The exporting node's install directory; default DEFAULT_FROM_ROOT. */
  fromRoot?: string;
  /** Where the files go on this node (INSTALL_ROOT). */
  installRoot: string;
  /** Operator allow-listed absolute directories whose paths are kept as they are. */
  allow?: readonly string[];
}

export type Rebased = { kind: 'rebased'; path: string } | { kind: 'allowed'; path: string } | { kind: 'outside' };

/**
 * Maps an absolute path from a manifest (SPEC §4): under `fromRoot` → the same relative path
 * under `installRoot`; under an allow-listed directory → kept; anything else → outside (the
 * caller decides: custom placement for templates and lists, an error for the rest).
 */
export function rebaseOrigin(abs: string, opts: RebaseOptions): Rebased {
  const path = normalizeAbsolutePath(abs);
  const from = normalizeAbsolutePath(opts.fromRoot ?? DEFAULT_FROM_ROOT);
  if (isInside(from, path)) {
    const rest = segmentsOf(path).slice(segmentsOf(from).length);
    return { kind: 'rebased', path: posix.join(posix.normalize(opts.installRoot), ...rest) };
  }
  for (const dir of opts.allow ?? []) {
    if (isInside(normalizeAbsolutePath(dir), path)) return { kind: 'allowed', path };
  }
  return { kind: 'outside' };
}

/**
 * The real directory an `extra` goes to: relative → under the install root; absolute →
 * rebased or allow-listed; anything else is UNSAFE_PATH naming the destination.
 */
export function resolveExtraDest(dest: string, opts: RebaseOptions): string {
  const clean = normalizeDestDir(dest);
  if (!clean.startsWith('/')) return posix.join(posix.normalize(opts.installRoot), clean);
  const r = rebaseOrigin(clean, opts);
  if (r.kind === 'outside') {
    const from = opts.fromRoot ?? DEFAULT_FROM_ROOT;
    throw new ImgportError(
      'UNSAFE_PATH',
      `extra destination ${quote(dest)} is outside the install root (${from}) and not in the allow-list`,
      { where: dest },
    );
  }
  return r.path;
}

/**
 * xCAT's platform directory for an os, as SvrUtils::getplatform computes it (same order, same
 * unanchored matches): it names the share directories /opt/xcat/share/xcat/{install,netboot}/
 * <platform>/ and the customised copies under <installdir>/custom/. Rocky, Alma and CentOS
 * have their own directories there, only RHEL-like names containing "rh" map to "rh". For an
 * os xCAT does not know (it returns undef) we use the os's leading letters, so a path exists.
 */
const PLATFORMS: ReadonlyArray<readonly [RegExp, string]> = [
  [/rh/, 'rh'],
  [/sles/, 'sles'],
  [/suse/, 'suse'],
  [/centos/, 'centos'],
  [/alma/, 'alma'],
  [/rocky/, 'rocky'],
  [/fedora/, 'fedora'],
  [/esxi/, 'esxi'],
  [/esx/, 'esx'],
  [/SL/, 'SL'],
  [/ol/, 'ol'],
  [/debian/, 'debian'],
  [/ubuntu/, 'ubuntu'],
  [/AIX/, 'AIX'],
  [/win/, 'windows'],
];

export function xcatPlatform(os: string): string {
  for (const [re, platform] of PLATFORMS) if (re.test(os)) return platform;
  return /^[A-Za-z]+/.exec(os)?.[0] ?? 'other';
}

/**
 * Where xCAT keeps a customised template or list file: `<root>/custom/<install|netboot>/
 * <platform>/<basename>`; statelite images use the netboot tree (imgport.pm change_profile).
 * Takes an os ("rhels8.5.0") or a platform ("rh"): xcatPlatform maps both to the platform.
 */
export function customPlacement(installRoot: string, method: Method, osOrPlatform: string, basename: string): string {
  validatePathToken(osOrPlatform, 'os or platform');
  const name = normalizeMemberName(basename);
  if (name.includes('/')) unsafe(basename, 'expected a file name, not a path');
  const tree = method === 'install' ? 'install' : 'netboot';
  return posix.join(posix.normalize(installRoot), 'custom', tree, xcatPlatform(osOrPlatform), name);
}
