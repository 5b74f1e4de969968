import { basename, dirname, join } from 'node:path';
import {
  LIST_KINDS,
  extraMemberCandidates,
  extraTargetName,
  rebaseOrigin,
  resolveExtraDest,
  customPlacement,
  reprofiledName,
  validateImageName,
  validatePathToken,
  type BundleManifest,
  type FileRef,
  type Method,
} from '@imgport/format';
import { hasMember, type OpenedBundle } from '@imgport/archive';
import { ImgportError } from '@imgport/runtime';
import { KEYS, type ImageRows, type KitRows, type Row } from '@imgport/tables';
import { customDir, defaultRootImgDir, initrdName } from '../layout.js';
import { buildRows, type RowsContext } from './rows.js';

/** One rename of the commit: a staged file or tree onto its final place. */
export interface Move {
  from: string;
  to: string;
  /** What it is, for messages: `kernel`, `rootimg/`, `extra myscript`. */
  what: string;
  dir: boolean;
  /** sha256 of a staged file, to recognise an identical file already in place. */
  sha256?: string;
}

export interface ImportPlan {
  name: string;
  method: Method;
  os: string;
  arch: string;
  moves: Move[];
  rows: ImageRows;
  warnings: string[];
}

export interface PlanContext extends RowsContext {
  name?: string;
  profile?: string;
}

/**
 * Decides where every file goes and which rows are written (SPEC §4), from the verified bundle
 * alone: no I/O. Native bundles, and renamed or re-profiled imports, follow the standard layout;
 * a stock xCAT bundle goes where its manifest paths say, rebased onto the install root.
 */
export function planImport(bundle: OpenedBundle, ctx: PlanContext): ImportPlan {
  const m = bundle.manifest;
  for (const [what, v] of [['os', m.os], ['arch', m.arch], ['profile', ctx.profile ?? m.profile]] as const) {
    validatePathToken(v, what);
  }
  const profile = ctx.profile ?? m.profile;
  const name = validateImageName(
    ctx.name ?? (ctx.profile ? reprofiledName(m.os, m.arch, m.method, ctx.profile) : m.name),
    ctx.name ? '--name' : ctx.profile ? '--profile' : 'manifest name',
  );
  const standard = m.flavor === 'native' || ctx.name !== undefined || ctx.profile !== undefined;
  const reprofile = ctx.profile !== undefined && ctx.profile !== m.profile ? { from: m.profile, to: ctx.profile } : undefined;
  // Templates and lists: a re-profiled xCAT bundle keeps their (rebased) directories, as stock's -f does.
  const standardFiles = m.flavor === 'native' || (ctx.name !== undefined && reprofile === undefined);
  const place = new Placer(bundle, ctx, standard, standardFiles, reprofile, m.os, m.arch, m.method);
  const warnings: string[] = [];
  const linux: Row = {};
  let rootimgdir: string | undefined;

  if (m.method === 'install') {
    linux.template = place.file(need(m.template, 'template'), 'template', customDir(ctx.installRoot, m.os, m.arch), warnings);
  } else {
    rootimgdir = standard ? defaultRootImgDir(ctx.installRoot, m.os, m.arch, profile) : place.xcatRootImgDir(m);
    linux.rootimgdir = rootimgdir;
    place.fixed(need(m.kernel, 'kernel'), 'kernel', join(rootimgdir, 'kernel'));
    place.fixed(need(m.initrd, 'initrd'), 'initrd', join(rootimgdir, initrdName(m.method)));
    if (m.rootimg) place.fixed(m.rootimg, 'rootimg', join(rootimgdir, basename(m.rootimg.member)));
    if (bundle.rootimg) place.tree(bundle.rootimg.dir, join(rootimgdir, 'rootimg'));
  }
  const lists = placeLists(m, place, ctx, warnings);
  place.extras(m);

  const rows = buildRows(m, { name, profile, linux, lists, ctx, warnings });
  if (m.kits.length + m.kitrepos.length + m.kitcomps.length > 0) rows.kits = place.kits(m, warnings);
  return { name, method: m.method, os: m.os, arch: m.arch, moves: place.moves, rows, warnings };
}

function need(ref: FileRef | undefined, key: string): FileRef {
  if (!ref) throw new ImgportError('MANIFEST_INVALID', `the manifest names no ${key}`, { where: key });
  return ref;
}

function placeLists(m: BundleManifest, place: Placer, ctx: PlanContext, warnings: string[]): Partial<Record<string, string>> {
  const out: Partial<Record<string, string>> = {};
  for (const kind of LIST_KINDS) {
    const refs = m.lists[kind];
    if (!refs?.length) continue;
    out[kind] = refs.map((r) => place.file(r, kind, customDir(ctx.installRoot, m.os, m.arch), warnings)).join(',');
  }
  return out;
}

/** Computes destinations and records the moves; path policy itself lives in @imgport/format. */
class Placer {
  readonly moves: Move[] = [];
  private readonly taken = new Set<string>();

  constructor(
    private readonly bundle: OpenedBundle,
    private readonly ctx: PlanContext,
    private readonly standard: boolean,
    private readonly standardFiles: boolean,
    private readonly reprofile: { from: string; to: string } | undefined,
    private readonly os: string,
    private readonly arch: string,
    private readonly method: Method,
  ) {}

  private rebase(abs: string): { kind: 'rebased' | 'allowed'; path: string } | { kind: 'outside' } {
    return rebaseOrigin(abs, { fromRoot: this.ctx.fromRoot, installRoot: this.ctx.installRoot, allow: this.ctx.allow });
  }

  xcatRootImgDir(m: BundleManifest): string {
    const raw = m.linuximage.rootimgdir;
    if (!raw) return defaultRootImgDir(this.ctx.installRoot, m.os, m.arch, m.profile);
    const r = this.rebase(raw);
    if (r.kind === 'outside') throw outside('linuximage.rootimgdir', raw);
    return r.path;
  }

  /** Boot files: the standard place, or the rebased origin (refused outside the install root). */
  fixed(ref: FileRef, what: string, standardPath: string): string {
    let to = standardPath;
    if (!this.standard && ref.origin) {
      const r = this.rebase(ref.origin);
      if (r.kind === 'outside') throw outside(what, ref.origin);
      to = r.path;
    }
    return this.add(ref.member, to, what);
  }

  /**
   * Templates and lists: outside the exporter's install root they go to xCAT's custom dir.
   * Re-profiled (-f), the file keeps its directory and its name follows the profile, as stock
   * imgimport renames it: the old profile in the name becomes the new one (compute.synclist →
   * gpu.synclist), a name without it gets the new profile in front (gpu.base.pkglist).
   */
  file(ref: FileRef, what: string, standardDir: string, warnings: string[]): string {
    let to = join(standardDir, this.renamed(basename(ref.member)));
    if (!this.standardFiles && ref.origin) {
      const name = this.renamed(basename(ref.origin));
      const r = this.rebase(ref.origin);
      if (r.kind !== 'outside') to = join(dirname(r.path), name);
      else {
        to = customPlacement(this.ctx.installRoot, this.method, this.os, name);
        warnings.push(`${what} ${ref.origin} lies outside the exporting node's install directory: placed at ${to}`);
      }
    }
    return this.add(ref.member, to, what);
  }

  private renamed(file: string): string {
    if (!this.reprofile) return file;
    const { from, to } = this.reprofile;
    const at = file.indexOf(from);
    return at < 0 ? `${to}.${file}` : file.slice(0, at) + to + file.slice(at + from.length);
  }

  tree(from: string, to: string): void {
    this.moves.push({ from, to, what: 'rootimg/', dir: true });
    this.taken.add(to);
  }

  /**
   * Extras: a file goes into its destination directory; a directory's files are placed one by
   * one (merged into what is there, each checked for conflicts), xCAT's directory form
   * (`extra/<src>`) into the destination itself, as stock imgimport copies it.
   */
  extras(m: BundleManifest): void {
    const opts = { fromRoot: this.ctx.fromRoot, installRoot: this.ctx.installRoot, allow: this.ctx.allow };
    for (const e of m.extras) {
      const member = extraMemberCandidates(e).find((c) => hasMember(this.bundle.files, c));
      if (!member) throw new ImgportError('BUNDLE_INVALID', `extra "${e.member}" is not in the bundle`, { where: e.member });
      const dest = resolveExtraDest(e.dest, opts);
      const staged = this.bundle.files.get(member);
      if (staged?.type === 'file') {
        this.add(member, join(dest, extraTargetName(e, { member, directory: false })), `extra ${basename(member)}`);
        continue;
      }
      const target = join(dest, extraTargetName(e, { member, directory: true }));
      for (const name of this.filesBelow(member)) this.add(name, join(target, name.slice(member.length + 1)), `extra ${name}`);
    }
  }

  /** Bundle files below each directory, built once: directory extras in linear time, not one scan each. */
  private below?: Map<string, string[]>;

  private filesBelow(dir: string): string[] {
    if (!this.below) {
      this.below = new Map();
      for (const [name, f] of this.bundle.files) {
        if (f.type !== 'file') continue;
        for (let i = name.indexOf('/'); i > 0; i = name.indexOf('/', i + 1)) {
          const up = name.slice(0, i);
          const list = this.below.get(up);
          if (list) list.push(name);
          else this.below.set(up, [name]);
        }
      }
    }
    return this.below.get(dir) ?? [];
  }

  /**
   * Kits, as stock imgimport installs them: each `<kit>`'s directory (`<name>/` in the bundle)
   * goes to `<dirname of its kitdir>/<name>` (rebased, confined like every file), and the rows
   * of kit, kitrepo and kitcomponent are written keyed by each element's name.
   */
  kits(m: BundleManifest, warnings: string[]): KitRows {
    const rows: KitRows = { kit: [], kitrepo: [], kitcomponent: [] };
    const keyed = (table: keyof KitRows, el: Record<string, string>): Row => {
      const key = KEYS[table][0]!;
      const { name, ...cols } = el;
      const value = name ?? cols[key];
      if (!value) throw new ImgportError('MANIFEST_INVALID', `a <${table === 'kitcomponent' ? 'kitcomp' : table}> element has no name`, { where: table });
      const row: Row = { ...cols, [key]: value };
      for (const col of ['kitdir', 'kitrepodir']) {
        const v = row[col];
        if (typeof v === 'string' && v.startsWith('/')) {
          const r = this.rebase(v);
          if (r.kind !== 'outside') row[col] = r.path;
        }
      }
      return row;
    };
    for (const el of m.kits) {
      const row = keyed('kit', el);
      const kitname = validatePathToken(row.kitname!, 'kit name');
      rows.kit.push(row);
      const kitdir = el.kitdir;
      if (!kitdir) continue;
      const r = this.rebase(kitdir);
      if (r.kind === 'outside') throw outside(`kit ${kitname} kitdir`, kitdir);
      const target = join(dirname(r.path), kitname);
      row.kitdir = r.path;
      const prefix = `${kitname}/`;
      let placed = 0;
      for (const [member, f] of this.bundle.files) {
        if (f.type === 'file' && member.startsWith(prefix)) {
          this.add(member, join(target, member.slice(prefix.length)), `kit ${kitname}`);
          placed++;
        }
      }
      if (placed === 0) warnings.push(`kit ${kitname}: the bundle carries no ${prefix} directory; only its rows are written`);
    }
    for (const el of m.kitrepos) rows.kitrepo.push(keyed('kitrepo', el));
    for (const el of m.kitcomps) rows.kitcomponent.push(keyed('kitcomponent', el));
    return rows;
  }

  private add(member: string, to: string, what: string): string {
    const staged = this.bundle.files.get(member);
    if (!staged) throw new ImgportError('BUNDLE_INVALID', `the manifest names "${member}" but the bundle has no such file`, { where: member });
    if (this.taken.has(to)) {
      throw new ImgportError('MANIFEST_INVALID', `two files of the bundle would both be placed at ${to} (the second is ${what})`, { where: member });
    }
    this.taken.add(to);
    this.moves.push({ from: staged.path, to, what, dir: staged.type === 'dir', ...(staged.sha256 ? { sha256: staged.sha256 } : {}) });
    return to;
  }
}

function outside(what: string, path: string): ImgportError {
  return new ImgportError(
    'UNSAFE_PATH',
    `${what} ${path} lies outside the install root; allow its directory with IMGPORT_ALLOW to import it`,
    { where: path },
  );
}
