/**
 * Whether an osimage is ready for `nodeset`: the files xCAT's nodeset reads exist. install
 * needs its template; netboot and statelite need, in rootimgdir, the kernel, the method's
 * initrd and a root image (an archive packimage wrote, or the rootimg/ tree).
 */
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { defaultRootImgDir, initrdName, ROOTIMG_ARCHIVES } from './layout.js';
import type { Row } from '@imgport/tables';

export interface Readiness {
  ready: boolean;
  /** What is not there: paths, or the column that names nothing. */
  missing: string[];
}

const isFile = (p: string) => stat(p).then((s) => s.isFile(), () => false);
const isDir = (p: string) => stat(p).then((s) => s.isDirectory(), () => false);

export async function imageReadiness(installRoot: string, osimage: Row, linuximage: Row | undefined): Promise<Readiness> {
  const method = osimage.provmethod ?? '';
  if (!linuximage) return done(['linuximage row']);
  if (method === 'install') return done(await installMissing(installRoot, linuximage));
  if (method === 'netboot' || method === 'statelite') return done(await netbootMissing(installRoot, method, osimage, linuximage));
  return done([`osimage.provmethod (${method || 'empty'}: expected install, netboot or statelite)`]);
}

function done(missing: string[]): Readiness {
  return { ready: missing.length === 0, missing };
}

async function installMissing(installRoot: string, linuximage: Row): Promise<string[]> {
  const template = linuximage.template;
  if (!template) return ['linuximage.template'];
  const path = resolve(installRoot, template);
  return (await isFile(path)) ? [] : [path];
}

async function netbootMissing(installRoot: string, method: 'netboot' | 'statelite', osimage: Row, linuximage: Row): Promise<string[]> {
  const dir = linuximage.rootimgdir
    ? resolve(installRoot, linuximage.rootimgdir)
    : defaultRootImgDir(installRoot, osimage.osvers ?? '', osimage.osarch ?? '', osimage.profile ?? '');
  const missing: string[] = [];
  for (const name of ['kernel', initrdName(method)]) {
    if (!(await isFile(join(dir, name)))) missing.push(join(dir, name));
  }
  const archives = await Promise.all(ROOTIMG_ARCHIVES.map((a) => isFile(join(dir, a))));
  if (!archives.some(Boolean) && !(await isDir(join(dir, 'rootimg')))) {
    missing.push(`${join(dir, 'rootimg')}/ or ${join(dir, '{' + ROOTIMG_ARCHIVES.join(',') + '}')}`);
  }
  return missing;
}
