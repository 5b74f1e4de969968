/**
 * The one internal model of a bundle manifest. manifest.cfg (native) and manifest.xml (stock
 * xCAT) both parse to it and serialize from it; the engine only ever sees this.
 */

export const METHODS = ['install', 'netboot', 'statelite'] as const;
export type Method = (typeof METHODS)[number];

// From its own module, not the package's index, which would also set up the job and request
// schemas (zod) at every start of an import (~5 ms).
/** The optional list files a bundle may carry (SPEC §3.1, §5 `include`). */
import { LIST_KINDS, type ListKind } from '@imgport/contract/lists';

export { LIST_KINDS, type ListKind };

/** Which xCAT table carries each list column. */
export const LIST_TABLE: Record<ListKind, 'osimage' | 'linuximage'> = {
  pkglist: 'linuximage',
  otherpkglist: 'linuximage',
  exlist: 'linuximage',
  postinstall: 'linuximage',
  synclists: 'osimage',
};

/**
 * A file the manifest names.
 * - `member`: its path inside the bundle, relative, '/'-separated, already normalised (no './',
 *   no '<imagename>/' prefix).
 * - `origin`: where it lived on the exporting node (xCAT manifests give absolute paths; native
 *   manifests usually do not). The engine rebases it onto the install root (SPEC §4).
 */
export interface FileRef {
  member: string;
  origin?: string;
}

/** An extra file or directory: payload member(s) in the bundle and the directory it goes to. */
export interface ExtraRef extends FileRef {
  /** Destination directory: absolute (rebased by the engine) or relative to the install root. */
  dest: string;
}

export type ManifestFlavor = 'native' | 'xcat';

export interface BundleManifest {
  /** Bundle format version (native `format` key); xCAT bundles are 1. */
  format: number;
  flavor: ManifestFlavor;
  name: string;
  os: string;
  arch: string;
  profile: string;
  method: Method;
  /** `required`: the OS media must exist on the target (copycds). */
  media?: 'required';
  /** install: the kickstart/autoyast template. */
  template?: FileRef;
  /** netboot/statelite boot files. */
  kernel?: FileRef;
  initrd?: FileRef;
  /** The packed root filesystem (any kind in SPEC §2). */
  rootimg?: FileRef;
  /** xCAT statelite: gzip cpio of the rootimg/ directory, entries prefixed 'rootimg/'. */
  rootimgtree?: FileRef;
  /** statelite: CSV in litefile row format. */
  litefile?: FileRef;
  /** Optional list files, each column may name several comma-separated files. */
  lists: Partial<Record<ListKind, FileRef[]>>;
  extras: ExtraRef[];
  /**
   * Every other column of the two tables, carried verbatim (values are strings, as xCAT stores
   * them). Keys are column names without the table prefix. Path columns the engine rewrites
   * (template, rootimgdir, list columns) may also appear here as the exporter had them.
   */
  osimage: Record<string, string>;
  linuximage: Record<string, string>;
  /** xCAT-only top-level elements, kept for round trips to stock xCAT. */
  postscripts?: string;
  postbootscripts?: string;
  kits: Record<string, string>[];
  kitrepos: Record<string, string>[];
  kitcomps: Record<string, string>[];
}

/** Members a manifest references, in a stable order (for checks that every file is present). */
export function referencedMembers(m: BundleManifest): string[] {
  const out: string[] = [];
  for (const f of [m.template, m.kernel, m.initrd, m.rootimg, m.rootimgtree, m.litefile]) {
    if (f) out.push(f.member);
  }
  for (const kind of LIST_KINDS) for (const f of m.lists[kind] ?? []) out.push(f.member);
  return out;
}
