/**
 * `imgport publish`, `imgport pull` and `imgport catalog build|list|mirror` (issue 13): sharing
 * bundles through OCI registries and static catalogs. packages/catalog speaks the protocols; the
 * engine exports, signs and imports; this file only parses flags and prints.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { SourceContext } from '@imgport/catalog';
import type { Config } from '@imgport/runtime';
import { parseCount, sub } from './program.js';
import { importSummary } from './report.js';
import type { Cli, CommonFlags, Ui } from './run.js';
import { formatBytes } from './units.js';

interface NetFlags extends CommonFlags {
  plainHttp?: boolean;
}

export function defineCatalog(program: Command, cli: Cli): void {
  sub<NetFlags & { sign?: string; unsigned?: boolean; mountFrom: string[]; chunkMib?: number }>(
    program,
    cli,
    'publish <image-or-snapshot> <destination>',
    'publish an image or snapshot: oci://host[:port]/repo:tag, or a catalog directory (file:///dir) whose index.json is rebuilt',
    ([what, dest], f) => ({
      inline: async (s, ui) => {
        const { PublishService } = await import('@imgport/engine');
        const service = new PublishService({ ...s.publishDeps });
        const r = await service.run(what!, dest!, {
          ...(f.unsigned ? { sign: false as const } : f.sign !== undefined ? { sign: f.sign } : {}),
          ...(f.plainHttp ? { plainHttp: true } : {}),
          ...(f.mountFrom.length ? { mountFrom: f.mountFrom } : {}),
          ...(f.chunkMib ? { chunkBytes: f.chunkMib * 1024 * 1024 } : {}),
          signal: ui.signal,
          onProgress: (p) => ui.progress.update(p),
        });
        const lines = [`Published ${r.image} (${formatBytes(r.bundle.bytes)}, ${r.bundle.signed ? 'signed' : 'unsigned'}) to ${r.destination}`];
        if (r.oci) {
          lines.push(`  digest ${r.oci.digest}; uploaded ${formatBytes(r.oci.bytesUploaded)} of ${formatBytes(r.oci.bytesTotal)}`);
          for (const l of r.oci.layers) lines.push(`  ${l.how.padEnd(8)} ${l.name} (${formatBytes(l.size)})`);
          if (r.oci.signature) lines.push(`  signature ${r.oci.signature.digest} (${r.oci.signature.via === 'tag' ? 'referrers tag fallback' : 'referrers API'})`);
        }
        if (r.catalog) lines.push(`  ${r.catalog.file} in ${r.catalog.dir}; index.json version ${r.catalog.version}, ${r.catalog.entries} entries`);
        return { doc: r, human: lines.join('\n') };
      },
    }),
  )
    .option('--sign <key>', 'sign with this OpenSSH key (default IMGPORT_SIGNING_KEY)')
    .option('--unsigned', 'publish without a signature even when IMGPORT_SIGNING_KEY is set')
    .option('--plain-http', 'speak plain HTTP to the registry (a local test registry)')
    .option('--mount-from <repo>', 'mount unchanged blobs from this repository of the same registry (repeatable)', collect, [])
    .option('--chunk-mib <n>', 'MiB per chunk of an upload (default 8)', parseCount);

  sub<NetFlags & { import?: boolean; force?: boolean; output?: string; profile?: string }>(
    program,
    cli,
    'pull <source> [name]',
    'fetch a bundle (oci://host/repo:tag, https://site/index.json#entry, file:///dir#entry), verified; --import imports it as it streams, under [name] if given',
    ([source, name], f) => ({
      inline: async (s, ui) => {
        const { openPull, pullFile } = await import('@imgport/catalog');
        const ctx = sourceContext(s.config, cli, ui, f, s.judge);
        if (f.import) {
          const opened = await openPull(source!, ctx);
          const result = await s.imports.run(opened.stream, {
            sizeHint: opened.size,
            ...(name ? { name } : {}),
            ...(f.profile ? { profile: f.profile } : {}),
            force: f.force === true,
            fromRoot: s.config.fromRoot,
            signal: ui.signal,
            onProgress: (p) => ui.progress.update(p),
          });
          return { doc: { source, signature: opened.signature ?? null, ...result }, human: `Pulled ${source}\n${importSummary(result)}` };
        }
        const { verifyBundle } = await import('@imgport/engine');
        const r = await pullFile(source!, resolve(f.output ?? name ?? '.'), { ...ctx, verify: async (part) => void (await verifyBundle(part, { trust: s.trust, limits: s.config.limits }, ui.signal)) });
        const resumed = r.bytesResumed ? `, ${formatBytes(r.bytesResumed)} resumed from an earlier pull` : '';
        return { doc: r, human: `Pulled ${source} to ${r.file} (${formatBytes(r.bytesFetched)} fetched${resumed}); verified` };
      },
    }),
  )
    .option('--import', 'import the bundle as it arrives (no copy kept)')
    .option('--force', 'with --import: replace an existing image (snapshotted first)')
    .option('-f, --profile <profile>', 'with --import: re-profile')
    .option('-o, --output <path>', 'without --import: directory or file to write (default: here)')
    .option('--plain-http', 'speak plain HTTP to the registry');

  const catalog = program.command('catalog').description('static catalogs (index.json) on web servers and directories');
  sub<CommonFlags & { sign?: string; expiresDays?: number; version?: number }>(catalog, cli, 'build <dir>', 'write <dir>/index.json listing every bundle under <dir>, signed with the key given', ([dir], f) => ({
    standalone: async () => {
      const [{ buildCatalog }, { loadConfig }, { loadSigningKey }] = await Promise.all([import('@imgport/catalog'), import('@imgport/runtime'), import('@imgport/engine')]);
      const config = loadConfig(cli.env);
      const keyPath = f.sign ?? config.signatures.signingKey;
      const key = keyPath ? loadSigningKey(keyPath) : undefined;
      const warnings: string[] = [];
      const doc = await buildCatalog(resolve(dir!), {
        ...(key ? { sign: (ns: string, data: Buffer) => key.signAs(ns, data) } : {}),
        ...(f.expiresDays ? { expiresDays: f.expiresDays } : {}),
        ...(f.version ? { version: f.version } : {}),
        onWarning: (m) => warnings.push(m),
      });
      return {
        doc: { ...doc, signed: key !== undefined, warnings },
        human: [`Wrote ${dir}/index.json: version ${doc.version}, ${doc.entries.length} bundles, expires ${doc.expires}${key ? ', signed' : ', UNSIGNED'}`, ...warnings.map((w) => `  warning: ${w}`)].join('\n'),
      };
    },
  }))
    .option('--sign <key>', 'sign index.json (namespace imgport-catalog) with this key (default IMGPORT_SIGNING_KEY)')
    .option('--expires-days <n>', 'clients refuse the index after this many days (default 30)', parseCount)
    .option('--version <n>', 'at least this version (default: one above the index replaced)', parseCount);

  sub<NetFlags>(catalog, cli, 'list <source>', 'list a catalog (https://…/index.json, file:///dir, a directory) or an OCI repository (oci://host/repo)', ([source], f) => ({
    standalone: async (ui) => {
      const { listSource } = await import('./catalog-list.js');
      return listSource(cli, ui, source!, f);
    },
  })).option('--plain-http', 'speak plain HTTP to the registry');

  sub<CommonFlags & { sign?: string; expiresDays?: number }>(catalog, cli, 'mirror <source> <dir>', "copy a catalog and every bundle into <dir>, verifying each digest; upstream signatures are kept, --sign adds this site's", ([source, dir], f) => ({
    standalone: async (ui) => {
      const { mirrorTo } = await import('./catalog-list.js');
      return mirrorTo(cli, ui, source!, dir!, f);
    },
  }))
    .option('--sign <key>', "re-sign the mirror's index.json with this site's key (upstream's index and signature are kept under upstream/)")
    .option('--expires-days <n>', 'with --sign: days until the mirror index expires (default 30)', parseCount);
}

/** The catalog's network and trust settings for one command. */
export function sourceContext(config: Config, cli: Cli, ui: Ui, f: NetFlags, judge: SourceContext['judge']): SourceContext {
  return {
    judge,
    stateDir: `${config.dataDir}/catalogs`,
    signal: ui.signal,
    ...(f.plainHttp ? { plainHttp: true } : {}),
    plainHosts: config.catalog.plainHttp,
    ...(config.catalog.registryAuth ? { credentials: config.catalog.registryAuth } : {}),
    ...(config.catalog.token ? { token: config.catalog.token } : {}),
    onWarning: (m) => void cli.err.write(`${cli.name}: warning: ${m}\n`),
    onProgress: (p) => ui.progress.update({ phase: 'receive', percent: p.bytesTotal ? Math.floor((100 * p.bytesDone) / p.bytesTotal) : 0, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal }),
  };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
