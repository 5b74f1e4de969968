/**
 * Confinement by the filesystem, not by strings (SPEC §9). A destination that passes the path
 * policy of @imgport/format can still leave the install root through a symlink on the way
 * (`rootimg/hostetc -> /etc` is normal inside a root image), and mkdir/rename follow those.
 * So every destination is walked from its trusted base one component at a time with lstat,
 * never following a link: at plan time and again just before each mkdir and rename.
 */
import { lstatSync, statSync, type Stats } from 'node:fs';
import { posix } from 'node:path';
import { isInside } from '@imgport/format';
import { ImgportError } from '@imgport/runtime';

/**
 * The directory a destination is walked from: the install root, or the IMGPORT_ALLOW directory
 * holding it (the operator's own paths, trusted as they are, links included).
 */
export function confinementBase(installRoot: string, path: string, allow: readonly string[] = []): string {
  const root = posix.normalize(installRoot);
  if (!posix.isAbsolute(path) || posix.normalize(path) !== path) {
    throw new ImgportError('UNSAFE_PATH', `destination ${JSON.stringify(path)} is not a normalised absolute path`, { where: path });
  }
  // The deepest base wins: an operator who keeps, say, netboot/ on another disk through a link
  // lists that link in IMGPORT_ALLOW, and it is then trusted as it is.
  const bases = [root, ...allow.map((d) => posix.normalize(d))].filter((b) => isInside(b, path));
  if (bases.length > 0) return bases.reduce((a, b) => (b.length > a.length ? b : a));
  throw new ImgportError('UNSAFE_PATH', `${path} lies outside the install root ${root}; allow its directory with IMGPORT_ALLOW to import it`, { where: path });
}

/**
 * Throws UNSAFE_PATH unless every existing component of `path` below its base (the install root
 * or an allow-listed directory) is a real directory, not a symlink. The last component may be
 * missing, or anything that is not a symlink to pass through: a rename replaces it, never
 * follows it. Missing components are fine (the commit creates them, checking each again).
 * Returns what the last component is now: undefined when it does not exist. `known` caches the
 * directories already walked within one check (a plan of many files), never across a commit.
 */
export function assertConfined(installRoot: string, path: string, allow: readonly string[] = [], known?: Set<string>): Stats | undefined {
  const base = confinementBase(installRoot, path, allow);
  const rest = posix.relative(base, path).split('/').filter(Boolean);
  let at = base;
  for (let i = -1; i < rest.length; i++) {
    // The base itself first: the operator's own directory, trusted as it is but possibly absent.
    if (i >= 0) at = posix.join(at, rest[i] as string);
    if (known?.has(at) && i < rest.length - 1) continue;
    let st: Stats;
    try {
      st = i < 0 ? statSync(at) : lstatSync(at);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      throw new ImgportError('IO_ERROR', `cannot check ${at} on the way to ${path}: ${(err as Error).message}`, { cause: err, where: at });
    }
    const last = i === rest.length - 1;
    if (i >= 0 && st.isSymbolicLink() && !last) {
      throw new ImgportError(
        'UNSAFE_PATH',
        `${path} would be written through the symlink ${at}: imgport never follows a link on the way to a destination; remove the link or choose another destination`,
        { where: at },
      );
    }
    if (last) return st;
    if (!st.isDirectory()) {
      throw new ImgportError('CONFLICT', `${path} cannot be created: ${at} exists and is not a directory`, { where: at });
    }
    known?.add(at);
  }
  return undefined;
}
