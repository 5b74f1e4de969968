import { join } from 'node:path';
import type { Method } from '@imgport/format';

/** Where xCAT keeps a netboot/statelite image's files by default. */
export function defaultRootImgDir(installRoot: string, os: string, arch: string, profile: string): string {
  return join(installRoot, 'netboot', os, arch, profile);
}

/** The initrd's name in rootimgdir: genimage writes one per method. */
export function initrdName(method: Method): string {
  return method === 'statelite' ? 'initrd-statelite.gz' : 'initrd-stateless.gz';
}

/**
 * Root image archives in the order xCAT's packimage/nodeset prefer them when several exist
 * (cpio before tar, gzip before xz, the legacy rootimg.gz last but before squashfs).
 */
export const ROOTIMG_ARCHIVES = [
  'rootimg.cpio.gz',
  'rootimg.cpio.xz',
  'rootimg.tar.gz',
  'rootimg.tar.xz',
  'rootimg.gz',
  'rootimg.sfs',
] as const;

/** Files the archive layer should store without deflating again. */
export function isPrecompressed(name: string): boolean {
  return /\.(gz|xz|bz2|zst|sfs|tgz)$/.test(name) || name === 'kernel' || name.endsWith('/kernel');
}

/** imgport's own working area inside the install root: same filesystem, so commits are renames. */
export function workDir(installRoot: string): string {
  return join(installRoot, '.imgport');
}

/** Where install-method templates of native bundles go (SPEC §4). */
export function customDir(installRoot: string, os: string, arch: string): string {
  return join(installRoot, 'custom', os, arch);
}
