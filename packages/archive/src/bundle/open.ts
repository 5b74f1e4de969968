import { createReadStream, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  extraMemberCandidates,
  parseManifestCfg,
  parseManifestXml,
  parseSha256Sums,
  referencedMembers,
  type BundleManifest,
  type FileRef,
} from '@imgport/format';
import { ImgportError } from '@imgport/runtime';
import { expandRootImage, rootImageKind } from '../rootimg.js';
import type { ExpandReport } from '../types.js';
import { stageBundle, type StageOptions, type StagedBundle, type StagedMember } from './reader.js';

export const MANIFEST_NAMES = ['manifest.cfg', 'manifest.xml'] as const;
const MAX_TEXT_BYTES = 4 * 1024 * 1024;

/** A bundle staged on disk, its manifest parsed and every listed checksum verified. */
export interface OpenedBundle {
  stagingDir: string;
  manifest: BundleManifest;
  manifestName: (typeof MANIFEST_NAMES)[number];
  /** '' for the native top-level layout, '<dir>/' for xCAT's '<imagename>/' layout. */
  prefix: string;
  /** Members by their name relative to the image root (prefix removed). */
  files: Map<string, StagedMember>;
  /** The expanded root filesystem, for netboot/statelite images with an expandable archive. */
  rootimg?: { member: string; dir: string; report: ExpandReport };
  checksums: 'verified' | 'absent';
  warnings: string[];
  compression: StagedBundle['compression'];
  bytesIn: number;
}

/**
 * Reads an untrusted bundle in one pass into `stagingDir` and checks it: layout, manifest,
 * SHA256SUMS, every file the manifest names. On any failure the staging directory is removed.
 */
export async function openBundle(input: Readable, stagingDir: string, opts: StageOptions = {}): Promise<OpenedBundle> {
  const staged = await stageBundle(input, stagingDir, opts);
  try {
    return await interpret(staged, stagingDir, opts);
  } catch (err) {
    rmSync(stagingDir, { recursive: true, force: true });
    throw err;
  }
}

async function interpret(staged: StagedBundle, stagingDir: string, opts: StageOptions): Promise<OpenedBundle> {
  const { prefix, manifestName } = findLayout(staged.members);
  const files = new Map<string, StagedMember>();
  for (const m of staged.members) {
    if (!m.stored.startsWith(prefix) && m.stored + '/' !== prefix) {
      throw new ImgportError('BUNDLE_INVALID', `bundle member "${m.stored}" lies outside the image directory "${prefix}"`, { where: m.stored });
    }
    const rel = m.stored.slice(prefix.length);
    if (rel) files.set(rel, m);
  }
  const warnings: string[] = [];
  // Checksums first: a changed manifest is a changed bundle, whatever else is wrong with it.
  const checksums = verifyChecksums(files, warnings);
  const manifestText = readText(files, manifestName);
  const manifest = manifestName === 'manifest.cfg' ? parseManifestCfg(manifestText) : parseManifestXml(manifestText);
  checkReferences(manifest, files);
  const rootimg = await settleRootImage(manifest, staged, prefix, stagingDir, files, warnings, opts);
  return {
    stagingDir,
    manifest,
    manifestName,
    prefix,
    files,
    ...(rootimg ? { rootimg } : {}),
    checksums,
    warnings,
    compression: staged.compression,
    bytesIn: staged.bytesIn,
  };
}

/** Native bundles keep manifest.cfg at the top; xCAT's imgexport puts everything in '<imagename>/'. */
function findLayout(members: StagedMember[]): { prefix: string; manifestName: OpenedBundle['manifestName'] } {
  const names = new Set(members.filter((m) => m.type === 'file').map((m) => m.stored));
  for (const mf of MANIFEST_NAMES) if (names.has(mf)) return { prefix: '', manifestName: mf };
  const tops = new Set(members.map((m) => m.stored.split('/')[0]));
  if (tops.size === 1) {
    const [top] = [...tops];
    for (const mf of MANIFEST_NAMES) if (names.has(`${top}/${mf}`)) return { prefix: `${top}/`, manifestName: mf };
  }
  throw new ImgportError(
    'BUNDLE_INVALID',
    'the bundle has no manifest: expected manifest.cfg or manifest.xml at the top or inside one image directory',
  );
}

function readText(files: Map<string, StagedMember>, name: string): string {
  const m = files.get(name);
  if (!m) throw new ImgportError('BUNDLE_INVALID', `the bundle has no ${name}`);
  if (m.size > MAX_TEXT_BYTES) {
    throw new ImgportError('LIMIT_EXCEEDED', `${name} is ${m.size} bytes; the limit is ${MAX_TEXT_BYTES}`, { where: name });
  }
  return readFileSync(m.path, 'utf8');
}

function verifyChecksums(files: Map<string, StagedMember>, warnings: string[]): OpenedBundle['checksums'] {
  if (!files.has('SHA256SUMS')) {
    warnings.push('the bundle has no SHA256SUMS: its files were not verified (stock xCAT bundles carry none)');
    return 'absent';
  }
  const listed = parseSha256Sums(readText(files, 'SHA256SUMS'));
  for (const [name, expected] of listed) {
    const m = files.get(name);
    if (!m || m.type !== 'file') {
      throw new ImgportError('CHECKSUM_MISMATCH', `SHA256SUMS lists "${name}" but the bundle has no such file`, { where: name });
    }
    if (m.sha256 !== expected.toLowerCase()) {
      throw new ImgportError('CHECKSUM_MISMATCH', `${name}: sha256 mismatch (SHA256SUMS says ${expected}, the data hashes to ${m.sha256})`, { where: name });
    }
  }
  for (const [name, m] of files) {
    if (m.type === 'file' && name !== 'SHA256SUMS' && name !== 'SHA256SUMS.sig' && !listed.has(name)) {
      throw new ImgportError('CHECKSUM_MISMATCH', `bundle file "${name}" is not listed in SHA256SUMS`, { where: name });
    }
  }
  return 'verified';
}

function checkReferences(m: BundleManifest, files: Map<string, StagedMember>): void {
  for (const member of referencedMembers(m)) {
    if (files.get(member)?.type !== 'file') {
      throw new ImgportError('BUNDLE_INVALID', `the manifest names "${member}" but the bundle has no such file`, { where: member });
    }
  }
  for (const extra of m.extras) {
    if (!extraMemberCandidates(extra).some((c: string) => hasMember(files, c))) {
      throw new ImgportError('BUNDLE_INVALID', `the manifest names extra "${extra.member}" but the bundle has no such file or directory`, {
        where: extra.member,
      });
    }
  }
}

/** A file or directory member; a directory may exist only through the files below it. */
export function hasMember(files: Map<string, StagedMember>, name: string): boolean {
  if (files.has(name)) return true;
  // Every directory implied by a member name, built once per map: one lookup per extra, not a scan.
  let cached = IMPLIED_DIRS.get(files);
  if (cached?.size !== files.size) {
    const dirs = new Set<string>();
    for (const key of files.keys()) for (let i = key.indexOf('/'); i > 0; i = key.indexOf('/', i + 1)) dirs.add(key.slice(0, i));
    cached = { size: files.size, dirs };
    IMPLIED_DIRS.set(files, cached);
  }
  return cached.dirs.has(name);
}

const IMPLIED_DIRS = new WeakMap<Map<string, StagedMember>, { size: number; dirs: Set<string> }>();

/** The archive the manifest names for expansion: rootimg, or xCAT statelite's rootimgtree. */
function expandable(m: BundleManifest): { ref: FileRef; stripPrefix?: string } | undefined {
  if (m.method === 'install') return undefined;
  if (m.rootimg) return { ref: m.rootimg };
  if (m.rootimgtree) return { ref: m.rootimgtree, stripPrefix: 'rootimg/' };
  return undefined;
}

async function settleRootImage(
  m: BundleManifest,
  staged: StagedBundle,
  prefix: string,
  stagingDir: string,
  files: Map<string, StagedMember>,
  warnings: string[],
  opts: StageOptions,
): Promise<OpenedBundle['rootimg']> {
  const want = expandable(m);
  const guessed = staged.expanded;
  const dir = join(stagingDir, 'rootimg');
  const kind = want ? rootImageKind(want.ref.member.split('/').pop() ?? '') : undefined;
  const hit = want && guessed && guessed.stored === prefix + want.ref.member;
  if (hit) return { member: want.ref.member, dir, report: guessed.report };
  if (guessed) rmSync(guessed.dir, { recursive: true, force: true });
  if (!want) return undefined;
  if (kind === 'sfs') {
    warnings.push(`${want.ref.member} is a squashfs image: stored as it is, not expanded into rootimg/`);
    return undefined;
  }
  const source = files.get(want.ref.member);
  if (!source) return undefined;
  const report = await expandRootImage(createReadStream(source.path, { highWaterMark: 1024 * 1024 }), dir, {
    ...(opts.limits ? { limits: opts.limits } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    ...(want.stripPrefix ? { stripPrefix: want.stripPrefix } : {}),
  });
  return { member: want.ref.member, dir, report };
}
