/**
 * Where a JSON import may read from: an http(s) URL (the worker fetches it) or a path that,
 * with every symlink resolved, lies inside one of IMGPORT_SOURCE_DIRS.
 */
import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { ImgportError, urlAllowed } from '@imgport/runtime';
import type { ImportSource } from '@imgport/jobs';

export function isInside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

function urlSource(source: string, urlAllow: readonly string[]): ImportSource {
  let url: URL;
  try {
    url = new URL(source);
  } catch {
    throw new ImgportError('BAD_REQUEST', `body.source: ${JSON.stringify(source)} is not a valid URL`, { where: 'source' });
  }
  if (url.username || url.password) {
    throw new ImgportError('BAD_REQUEST', 'body.source: credentials in the URL are not accepted', { where: 'source' });
  }
  // The worker fetches what it is given, from inside the network: only what the operator allowed.
  if (urlAllow.length === 0) {
    throw new ImgportError('BAD_REQUEST', `body.source: URL sources are not accepted: IMGPORT_URL_ALLOW is empty, so the server fetches no URL; upload the bundle instead`, { where: 'source' });
  }
  if (!urlAllowed(url.href, urlAllow)) {
    throw new ImgportError('BAD_REQUEST', `body.source: ${url.href} is not under an allowed URL prefix (IMGPORT_URL_ALLOW: ${urlAllow.join(', ')})`, { where: 'source' });
  }
  return { kind: 'url', url: url.href };
}

async function pathSource(source: string, sourceDirs: readonly string[]): Promise<ImportSource> {
  const bad = (why: string) => new ImgportError('BAD_REQUEST', `body.source: ${why}`, { where: 'source' });
  if (!isAbsolute(source) || source.includes('\0')) {
    throw bad(`${JSON.stringify(source)} is neither an absolute path nor an http(s):// URL`);
  }
  if (sourceDirs.length === 0) throw bad(`${source} is not accepted: IMGPORT_SOURCE_DIRS is empty, so no path on the server may be imported`);
  const outside = bad(`${source} is outside IMGPORT_SOURCE_DIRS (${sourceDirs.join(', ')})`);
  const dirs = await realDirs(sourceDirs);
  // Checked by name first, so the answer never says whether a file outside the directories exists.
  if (!dirs.some((d) => isInside(d.given, resolve(source)) || isInside(d.real, resolve(source)))) throw outside;
  const real = await realpath(source).catch(() => undefined);
  const st = real === undefined ? undefined : await stat(real).catch(() => undefined);
  if (real === undefined || !st?.isFile()) throw bad(`${source} is not a file on the server`);
  // A symlink inside a source directory must not lead out of all of them.
  if (!dirs.some((d) => isInside(d.real, real))) throw outside;
  return { kind: 'path', path: real };
}

async function realDirs(dirs: readonly string[]): Promise<Array<{ given: string; real: string }>> {
  return Promise.all(dirs.map(async (d) => ({ given: resolve(d), real: await realpath(d).catch(() => resolve(d)) })));
}

export async function resolveSource(source: string, sourceDirs: readonly string[], urlAllow: readonly string[] = []): Promise<ImportSource> {
  return /^(https?|oci):\/\//i.test(source) ? urlSource(source, urlAllow) : pathSource(source, sourceDirs);
}
