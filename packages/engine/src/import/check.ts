/**
 * Checks an import plan before anything moves (SPEC §9): a plan that could not commit, or that
 * would touch imgport's bookkeeping or another image, is refused here with a message naming the
 * destination, instead of failing half-way at a rename.
 */
import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { posix } from 'node:path';
import { isInside } from '@imgport/format';
import { ImgportError } from '@imgport/runtime';
import type { Row, TableStore } from '@imgport/tables';
import { workDir } from '../layout.js';
import { assertConfined } from './confine.js';
import type { ImportPlan, Move } from './plan.js';

export interface CheckContext {
  installRoot: string;
  allow: readonly string[];
  tables: Pick<TableStore, 'listImages'>;
}

/** Columns naming files of an image that no other image's import may replace (comma lists). */
const OWNED_FILE_COLUMNS = ['template', 'pkglist', 'otherpkglist', 'exlist', 'postinstall', 'synclists', 'partitionfile'] as const;

/** Refuses (with a clear error) a plan that is inconsistent, unsafe on disk, or touches another image. */
export async function checkPlan(plan: ImportPlan, ctx: CheckContext): Promise<void> {
  checkConsistent(plan);
  const owners = await otherImages(plan, ctx);
  const work = workDir(posix.normalize(ctx.installRoot));
  const walked = new Set<string>();
  const ownTrees = ownRootimgDirs(plan);
  for (const mv of plan.moves) {
    if (isInside(work, mv.to)) {
      throw new ImgportError('UNSAFE_PATH', `${mv.to} (${mv.what}) lies inside imgport's own work area ${work}: bundles may not place files there`, { where: mv.to });
    }
    const o = ownerOf(owners, mv.to);
    if (o) {
      throw new ImgportError(
        'CONFLICT',
        `${mv.to} (${mv.what}) would touch ${o.dir}, which belongs to the image ${o.image}: an import never changes another image; import under another profile (--profile) or name`,
        { where: mv.to },
      );
    }
    const tree = isOwnTree(mv);
    if (!tree) {
      for (const dir of rootimgDirs(ownTrees, ctx.installRoot, mv.to)) {
        if (isInside(dir, mv.to)) {
          throw new ImgportError(
            'UNSAFE_PATH',
            `${mv.to} (${mv.what}) lies inside the root filesystem ${dir}: only an image's own root image is expanded there; put the file into the root image, or place it elsewhere`,
            { where: mv.to },
          );
        }
      }
    }
    const st = assertConfined(ctx.installRoot, mv.to, ctx.allow, walked);
    checkKind(mv, st);
    const owner = owners.files.get(mv.to);
    if (owner && st && !(st.isFile() && mv.sha256 && (await sha256(mv.to)) === mv.sha256)) {
      throw new ImgportError(
        'CONFLICT',
        `${mv.to} (${mv.what}) is the ${owner.column} of the image ${owner.image} and has other content: an import never replaces another image's files, even with --force; place this one elsewhere`,
        { where: mv.to },
      );
    }
  }
}

/** Pure checks of the plan against itself. */
function checkConsistent(plan: ImportPlan): void {
  const from = new Map<string, Move>();
  const to = new Map<string, Move>();
  for (const mv of plan.moves) {
    const first = from.get(mv.from);
    if (first) {
      throw new ImgportError(
        'MANIFEST_INVALID',
        `one file of the bundle would be placed twice, as ${first.what} at ${first.to} and as ${mv.what} at ${mv.to}: name each bundle file once in the manifest`,
        { where: mv.to },
      );
    }
    from.set(mv.from, mv);
    to.set(mv.to, mv);
  }
  for (const mv of plan.moves) {
    for (let d = posix.dirname(mv.to); d !== posix.dirname(d); d = posix.dirname(d)) {
      const outer = to.get(d);
      if (!outer) continue;
      if (isOwnTree(outer)) {
        throw new ImgportError(
          'UNSAFE_PATH',
          `${mv.to} (${mv.what}) lies inside the image's root filesystem ${outer.to}: only the root image itself is expanded there; put the file into the root image, or place it elsewhere`,
          { where: mv.to },
        );
      }
      throw new ImgportError('MANIFEST_INVALID', `${mv.to} (${mv.what}) would be placed below ${outer.to}, which the bundle places as ${outer.what}: a path cannot be both a file and a directory`, { where: mv.to });
    }
  }
}

function isOwnTree(mv: Move): boolean {
  return mv.dir && mv.what === 'rootimg/';
}

/**
 * rootimg/ directories no file of this import may go into: its own expansion's, and any in xCAT's
 * standard layout (`netboot/<os>/<arch>/<profile>/rootimg`), rows or not (an image whose rows
 * were removed still has its tree).
 */
function rootimgDirs(own: readonly string[], installRoot: string, to: string): string[] {
  const out = [...own];
  const root = posix.normalize(installRoot);
  const parts = isInside(root, to) ? posix.relative(root, to).split('/') : [];
  if (parts[0] === 'netboot' && parts[4] === 'rootimg') out.push(posix.join(root, ...parts.slice(0, 5)));
  return out;
}

/** The image's own rootimg/: where its expansion goes, by the plan and by its rows. */
function ownRootimgDirs(plan: ImportPlan): string[] {
  const out = plan.moves.filter(isOwnTree).map((m) => m.to);
  const dir = plan.rows.linuximage.rootimgdir;
  if (dir && posix.isAbsolute(dir)) out.push(posix.join(posix.normalize(dir), 'rootimg'));
  return out;
}

/** A file never lands on a directory, nor a directory on a file (not even with --force). */
function checkKind(mv: Move, st: Stats | undefined): void {
  if (!st || st.isSymbolicLink()) return;
  if (!mv.dir && st.isDirectory()) {
    throw new ImgportError('CONFLICT', `${mv.to} is a directory; the bundle would replace it with a file (${mv.what}): remove it or place the file elsewhere`, { where: mv.to });
  }
  if (mv.dir && !st.isDirectory()) {
    throw new ImgportError('CONFLICT', `${mv.to} is a file; the bundle would replace it with a directory (${mv.what}): remove it or place the directory elsewhere`, { where: mv.to });
  }
}

interface Owners {
  /** Directories of other images (their rootimgdir): nothing of this import goes in or over them. */
  dirs: Map<string, string>;
  /** Every directory above one of those, with the owned directory below it. */
  above: Map<string, { dir: string; image: string }>;
  /** Files other images' rows name (template, lists), by path. */
  files: Map<string, { image: string; column: string }>;
}

/** What the rows of every other image point at. A forced import replaces only its own image. */
async function otherImages(plan: ImportPlan, ctx: CheckContext): Promise<Owners> {
  const owners: Owners = { dirs: new Map(), above: new Map(), files: new Map() };
  for (const img of await ctx.tables.listImages()) {
    const image = img.osimage.imagename;
    if (!image || image === plan.name) continue;
    const linux: Row = img.linuximage ?? {};
    const dir = linux.rootimgdir;
    if (dir && posix.isAbsolute(dir) && posix.normalize(dir) !== '/') {
      const d = posix.normalize(dir).replace(/\/+$/, '');
      owners.dirs.set(d, image);
      for (let up = posix.dirname(d); up !== posix.dirname(up); up = posix.dirname(up)) owners.above.set(up, { dir: d, image });
    }
    for (const column of OWNED_FILE_COLUMNS) {
      const value = linux[column] ?? img.osimage[column];
      for (const token of (value ?? '').split(',')) {
        const p = token.trim().replace(/^[a-z]:/, '');
        if (posix.isAbsolute(p)) owners.files.set(posix.normalize(p), { image, column });
      }
    }
  }
  return owners;
}

/** The other image whose directory `to` lies in, is, or lies above; linear in the path's depth. */
function ownerOf(owners: Owners, to: string): { dir: string; image: string } | undefined {
  const below = owners.above.get(to);
  if (below) return below;
  for (let d = to; d !== posix.dirname(d); d = posix.dirname(d)) {
    const image = owners.dirs.get(d);
    if (image) return { dir: d, image };
  }
  return undefined;
}

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) h.update(chunk as Buffer);
  return h.digest('hex');
}
