/**
 * The conformance corpus: bundles and root images made at test time by the standard tools (GNU
 * tar, bsdtar, cpio, gzip, pigz, xz, sha256sum), the way administrators and stock xCAT's
 * imgexport make them, never by our own writer. Every tool runs without a shell unless a pipe is
 * needed, and then only over paths this file made.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { treeListing, type ListingEntry } from '@imgport/archive';
import type { Row } from '@imgport/tables';
import { FIXTURES, makeRootTree, tempDir } from '../support/bundles.js';

export { FIXTURES, makeRootTree, tempDir };

/** Runs a tool with arguments (no shell); returns stdout. */
export function tool(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

/** `sh -c script` where the script names only "$1".."$n": our own temp paths, never bundle content. */
export function pipe(script: string, ...paths: string[]): void {
  execFileSync('sh', ['-ec', script, 'sh', ...paths], { stdio: ['ignore', 'ignore', 'inherit'] });
}

export type RootPacker = 'cpio|gzip' | 'cpio|pigz' | 'cpio|xz' | 'tar-gz' | 'tar-xz-posix-xattrs';

/** The member name each packer's output goes by in a bundle. */
export const ROOTIMG_NAME: Record<RootPacker, string> = {
  'cpio|gzip': 'rootimg.cpio.gz',
  'cpio|pigz': 'rootimg.cpio.gz',
  'cpio|xz': 'rootimg.cpio.xz',
  'tar-gz': 'rootimg.tar.gz',
  'tar-xz-posix-xattrs': 'rootimg.tar.xz',
};

/** Packs a root tree as xCAT's genimage/packimage and admins do: `cd tree; find . | cpio -H newc -o | gzip`. */
export function packRoot(tree: string, out: string, how: RootPacker): void {
  switch (how) {
    case 'cpio|gzip':
      return pipe('cd "$1"; find . | cpio -H newc -o --quiet | gzip -c > "$2"', tree, out);
    case 'cpio|pigz':
      return pipe('cd "$1"; find . | cpio -H newc -o --quiet | pigz -c > "$2"', tree, out);
    case 'cpio|xz':
      return pipe('cd "$1"; find . | cpio -H newc -o --quiet | xz -T1 -0 -c > "$2"', tree, out);
    case 'tar-gz':
      tool('tar', ['-czf', out, '-C', tree, '.']);
      return;
    case 'tar-xz-posix-xattrs':
      tool('tar', ['--xattrs', '--format=posix', '-cJf', out, '-C', tree, '.']);
      return;
  }
}

export type OuterPacker = 'tar czf' | 'tar cf' | 'tar cJf' | 'bsdtar czf' | 'tar --xattrs --format=posix czf';

/** Packs a staged bundle directory with `tar ... -C dir .`: the first member is "./". */
export function packOuter(dir: string, out: string, how: OuterPacker): void {
  const args: Record<OuterPacker, [string, string[]]> = {
    'tar czf': ['tar', ['czf', out, '-C', dir, '.']],
    'tar cf': ['tar', ['cf', out, '-C', dir, '.']],
    'tar cJf': ['tar', ['cJf', out, '-C', dir, '.']],
    'bsdtar czf': ['bsdtar', ['-czf', out, '-C', dir, '.']],
    'tar --xattrs --format=posix czf': ['tar', ['--xattrs', '--format=posix', '-czf', out, '-C', dir, '.']],
  };
  const [cmd, a] = args[how];
  tool(cmd, a);
}

/** SHA256SUMS as `sha256sum` writes it, for every file under dir (relative names). */
export function writeSha256Sums(dir: string): void {
  const files: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else files.push(r);
    }
  };
  walk('');
  writeFileSync(join(dir, 'SHA256SUMS'), files.length ? tool('sha256sum', ['--', ...files.sort()], dir) : '');
}

/** A row without its NULL columns: whole-value comparisons stay readable. */
export function setColumns(row: Row | undefined): Record<string, string> | undefined {
  if (!row) return undefined;
  return Object.fromEntries(Object.entries(row).filter((e): e is [string, string] => e[1] !== null && e[1] !== undefined));
}

/** A tree as the tests compare it: no directory mtimes (cpio -i and tar disagree on them). */
export function listing(dir: string): Record<string, ListingEntry> {
  return treeListing(dir, { dirMtimes: false, root: false });
}

/** Member names as a standard tool lists them, "./" prefixes and trailing slashes removed, sorted. */
export function names(raw: string): string[] {
  return raw
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.replace(/^\.\//, '').replace(/\/$/, ''))
    .filter((l) => l !== '' && l !== '.')
    .sort();
}

/** Every file and directory under dir, relative, sorted (for comparing what an import placed). */
export function paths(dir: string, skip = new Set(['.imgport'])): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      if (!rel && skip.has(e.name)) continue;
      const r = rel ? `${rel}/${e.name}` : e.name;
      out.push(r);
      if (e.isDirectory() && e.name !== 'rootimg') walk(r);
    }
  };
  walk('');
  return out.sort();
}

export function fixture(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8');
}

export function fresh(dir: string): string {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}
