/**
 * Extras (`SRC[:DESTDIR]`, xCAT's imgexport -e): extra files or whole directories carried in
 * the bundle with the directory they go to. DESTDIR defaults to SRC's own directory, so an
 * extra lands where it came from. Both ends must lie inside the install root or an
 * allow-listed directory: an export request must not be a way to read any file on the server,
 * and an import would refuse any other destination anyway (SPEC §9).
 */
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fromBundlePath, isInside, toBundlePath, xcatExtraDirMember, xcatExtraFileMember, type ExtraRef } from '@imgport/format';
import { ImgportError } from '@imgport/runtime';
import type { Members } from './members.js';

export interface ExtrasOptions {
  format: 'native' | 'xcat';
  installRoot: string;
  allow: readonly string[];
}

interface Extra {
  spec: string;
  src: string;
  destDir: string;
  isDir: boolean;
}

export async function collectExtras(specs: readonly string[], opts: ExtrasOptions, members: Members, warnings: string[]): Promise<ExtraRef[]> {
  const refs: ExtraRef[] = [];
  for (const spec of specs) {
    const extra = await checkExtra(spec, opts);
    const member = memberName(extra, opts);
    if (extra.isDir) await addTree(members, extra.src, member, spec, warnings);
    else members.addFile(member, await realpath(extra.src), `extra ${spec}`);
    refs.push(extraRef(extra, opts));
  }
  return refs;
}

async function checkExtra(spec: string, opts: ExtrasOptions): Promise<Extra> {
  const colon = spec.indexOf(':');
  const rawSrc = colon < 0 ? spec : spec.slice(0, colon);
  const rawDest = colon < 0 ? '' : spec.slice(colon + 1);
  if (rawSrc === '') throw new ImgportError('BAD_REQUEST', `extra "${spec}": expected SRC[:DESTDIR]`, { where: 'extra' });
  // `/install/...` is xCAT's spelling of the install directory, whatever this node's root is.
  const src = fromBundlePath(resolve(rawSrc), opts.installRoot, opts.allow);
  // The one place a symlink is followed: the operator named SRC, and we check where it really is.
  const st = await stat(src).catch(() => undefined);
  if (!st || !(st.isFile() || st.isDirectory())) {
    throw new ImgportError('FILE_MISSING', `extra ${spec}: ${src} is missing${st ? ' (not a file or directory)' : ''}`, { where: 'extra' });
  }
  const real = await realpath(src);
  // SPEC §4: a relative DESTDIR is relative to the install root, not to the current directory.
  const destDir = rawDest === '' ? dirname(src) : fromBundlePath(resolve(opts.installRoot, rawDest), opts.installRoot, opts.allow);
  if (!(await permitted(real, opts))) {
    throw new ImgportError('UNSAFE_PATH', `extra ${spec}: ${real} is outside the install root (${opts.installRoot}) and the allow-list`, { where: 'extra' });
  }
  if (!(await permitted(destDir, opts))) {
    throw new ImgportError('UNSAFE_PATH', `extra ${spec}: destination ${destDir} is outside the install root (${opts.installRoot}) and the allow-list`, {
      where: 'extra',
    });
  }
  return { spec, src, destDir, isDir: st.isDirectory() };
}

/** Inside the install root or an allow-listed directory, compared after resolving their own links. */
async function permitted(path: string, opts: ExtrasOptions): Promise<boolean> {
  for (const root of [opts.installRoot, ...opts.allow]) {
    const real = await realpath(root).catch(() => resolve(root));
    if (isInside(real, path) || isInside(resolve(root), path)) return true;
  }
  return false;
}

/**
 * native: `extra/<basename>`. xcat: a file is `extra/<basename>` and a directory
 * `extra/<its absolute path>`, which is where stock imgimport looks for them (imgport.pm
 * make_bundle / moveExtra).
 */
function memberName(extra: Extra, opts: ExtrasOptions): string {
  const src = toBundlePath(extra.src, opts.installRoot);
  if (opts.format === 'xcat') return extra.isDir ? xcatExtraDirMember(src) : xcatExtraFileMember(src);
  return `extra/${basename(extra.src)}`;
}

/**
 * native: the destination is relative to the install root when it lies inside it (portable
 * between nodes with different install roots), absolute otherwise. xcat: absolute, and for a
 * directory it names the directory itself, because stock imgimport copies a directory's
 * contents into <dest>.
 */
function extraRef(extra: Extra, opts: ExtrasOptions): ExtraRef {
  if (opts.format === 'xcat') {
    // The model's xCAT convention: member is the file form, origin tells where a directory sits.
    const dest = extra.isDir ? join(extra.destDir, basename(extra.src)) : extra.destDir;
    const src = toBundlePath(extra.src, opts.installRoot);
    return { member: xcatExtraFileMember(src), origin: src, dest: toBundlePath(dest, opts.installRoot) };
  }
  const root = resolve(opts.installRoot);
  const dest = isInside(root, extra.destDir) ? relative(root, extra.destDir) || '.' : extra.destDir;
  return { member: `extra/${basename(extra.src)}`, dest };
}

/** Walks a directory without following symlinks; what a bundle cannot carry is reported, not followed. */
export async function addTree(members: Members, dir: string, member: string, spec: string, warnings: string[]): Promise<void> {
  const st = await lstat(dir);
  members.addDir(member, st.mode & 0o7777, st.mtime, `extra ${spec}`);
  const names = (await readdir(dir)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const name of names) {
    const path = join(dir, name);
    const child = await lstat(path);
    if (child.isDirectory()) await addTree(members, path, `${member}/${name}`, spec, warnings);
    else if (child.isFile()) members.addFile(`${member}/${name}`, path, `extra ${spec}`);
    else warnings.push(`extra ${spec}: ${path} skipped (${child.isSymbolicLink() ? 'symlink' : 'special file'}; only files and directories are carried)`);
  }
}
