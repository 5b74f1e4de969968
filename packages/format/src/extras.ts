/**
 * Where an `extra` payload sits in a bundle and where it lands.
 *
 * Stock xCAT (imgport.pm): imgexport copies a file extra to `extra/<basename(src)>` and a
 * directory extra's *contents* to `extra/<src>` (its full source path under extra/, e.g.
 * `extra/install/custom/files/gpu/`). imgimport's moveExtra first checks for a directory at
 * `extra/<src>` and copies its contents into `dest`; otherwise it copies `extra/<basename(src)>`
 * into `dest`. A manifest cannot tell a file from a directory, so an xCAT ExtraRef has
 * `member = extra/<basename(src)>` (the file form) and `origin = src`, and the directory form
 * is the other candidate.
 *
 * Native bundles (SPEC §3.1): `extra <file>:<destdir>` names the payload relative to the bundle,
 * stored under `extra/` (the layout SPEC §3.1 shows) or, from hand-made bundles, at top level.
 * It lands at `<destdir>/<basename(file)>`, a directory included (SPEC §4).
 */
import { posix } from 'node:path';
import type { ExtraRef } from './model.js';
import { normalizeAbsolutePath, normalizeMemberName } from './paths.js';
import { at, quote } from './util.js';

/** Bundle member of a stock xCAT file extra. */
export function xcatExtraFileMember(src: string): string {
  return at(`extra source ${quote(src)}`, () => `extra/${normalizeMemberName(posix.basename(normalizeAbsolutePath(src)))}`);
}

/** Bundle directory of a stock xCAT directory extra. */
export function xcatExtraDirMember(src: string): string {
  return at(`extra source ${quote(src)}`, () => normalizeMemberName(`extra${normalizeAbsolutePath(src)}`));
}

/**
 * Bundle paths where the payload may be, in the order to try them: the first that exists in
 * the bundle (as a file, or as a directory: members below it) is the payload. xCAT extras try
 * the directory form first, as stock imgimport does.
 */
export function extraMemberCandidates(e: ExtraRef): string[] {
  if (e.origin !== undefined) return unique([xcatExtraDirMember(e.origin), e.member]);
  if (e.member.startsWith('extra/')) return [e.member];
  return [`extra/${e.member}`, e.member];
}

/**
 * The path, relative to the resolved destination directory, where a found payload goes:
 * '' means "copy the directory's contents into dest itself" (xCAT directory extras), otherwise
 * the payload keeps its base name under dest.
 */
export function extraTargetName(e: ExtraRef, found: { member: string; directory: boolean }): string {
  if (e.origin !== undefined && found.directory && found.member === xcatExtraDirMember(e.origin)) return '';
  return posix.basename(found.member);
}

function unique(list: string[]): string[] {
  return [...new Set(list)];
}
