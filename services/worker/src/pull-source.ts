/**
 * The worker's resolver for pull sources (oci://, catalog entries): packages/catalog opens them
 * as verified streams under the same trust policy the import applies to the bundle itself.
 */
import { isPullSource, openPull } from '@imgport/catalog';
import { judgeSignature, type DownloadOptions, type SourceResolver } from '@imgport/engine';
import type { WorkerDeps } from './context.js';

export function pullResolver(deps: WorkerDeps, warn: (message: string) => void): SourceResolver {
  const trust = deps.trust ?? { policy: 'off' as const, allowedSigners: '/nonexistent' };
  return async (source, signal) => {
    if (!isPullSource(source)) return undefined;
    const c = deps.catalog;
    const opened = await openPull(source, {
      judge: (sig, msg, o) => judgeSignature(sig, msg, trust, o),
      stateDir: `${deps.dataDir}/catalogs`,
      plainHosts: c?.plainHttp ?? [],
      ...(c?.registryAuth ? { credentials: c.registryAuth } : {}),
      ...(c?.token ? { token: c.token } : {}),
      ...(signal ? { signal } : {}),
      onWarning: warn,
    });
    return { stream: opened.stream, size: opened.size, label: source };
  };
}

export function pullDownloads(deps: WorkerDeps, warn: (message: string) => void): DownloadOptions {
  return { resolvers: [pullResolver(deps, warn)] };
}
