/**
 * Columns of xCAT's osimage and linuximage tables, in xCAT's order (SPEC §7, Schema.pm), and
 * which of them the manifest model holds in dedicated fields instead of the carried records.
 */
import { LIST_KINDS, LIST_TABLE } from './model.js';

export const OSIMAGE_COLUMNS = [
  'imagename', 'groups', 'profile', 'imagetype', 'description', 'provmethod', 'rootfstype', 'nfsrootopts',
  'osdistroname', 'osupdatename', 'cfmdir', 'osname', 'osvers', 'osarch', 'synclists', 'postscripts',
  'postbootscripts', 'serverrole', 'isdeletable', 'kitcomponents', 'environvar', 'comments', 'disable',
] as const;

export const LINUXIMAGE_COLUMNS = [
  'imagename', 'template', 'boottarget', 'addkcmdline', 'pkglist', 'pkgdir', 'otherpkglist', 'otherpkgdir',
  'exlist', 'postinstall', 'rootimgdir', 'kerneldir', 'nodebootif', 'otherifce', 'netdrivers', 'kernelver',
  'krpmver', 'permission', 'dump', 'crashkernelsize', 'partitionfile', 'driverupdatesrc', 'comments', 'disable',
] as const;

export type ImageTable = 'osimage' | 'linuximage';

const COLUMNS: Record<ImageTable, readonly string[]> = { osimage: OSIMAGE_COLUMNS, linuximage: LINUXIMAGE_COLUMNS };

const listColumns = (table: ImageTable): string[] => LIST_KINDS.filter((k) => LIST_TABLE[k] === table);

/** Columns with a field of their own in BundleManifest (name, os, template, lists...). */
export const MODELLED_COLUMNS: Record<ImageTable, readonly string[]> = {
  osimage: ['imagename', 'profile', 'provmethod', 'osvers', 'osarch', ...listColumns('osimage')],
  linuximage: ['imagename', 'template', ...listColumns('linuximage')],
};

/** The manifest.cfg key that carries a modelled column. */
export const KEY_FOR_COLUMN: Readonly<Record<string, string>> = {
  imagename: 'name',
  profile: 'profile',
  provmethod: 'method',
  osvers: 'os',
  osarch: 'arch',
  template: 'template',
  ...Object.fromEntries(LIST_KINDS.map((k) => [k, k])),
};

export function isColumn(table: ImageTable, column: string): boolean {
  return COLUMNS[table].includes(column);
}

/** A column that travels verbatim in BundleManifest.osimage / .linuximage. */
export function isCarriedColumn(table: ImageTable, column: string): boolean {
  return isColumn(table, column) && !MODELLED_COLUMNS[table].includes(column);
}
