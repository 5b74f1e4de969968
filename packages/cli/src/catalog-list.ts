/** `imgport catalog list` and `imgport catalog mirror`: no database, only the network and the trust store. */
import { resolve } from 'node:path';
import type { Cli, CommonFlags, Outcome, Ui } from './run.js';
import { formatBytes } from './units.js';

async function standaloneContext(cli: Cli, ui: Ui, plainHttp: boolean) {
  const [{ loadConfig }, { judgeSignature, loadSigningKey }, { trustOptions }, { sourceContext }] = await Promise.all([
    import('@imgport/runtime'),
    import('@imgport/engine'),
    import('./context.js'),
    import('./catalog-commands.js'),
  ]);
  const config = loadConfig(cli.env);
  const trust = trustOptions(config);
  const ctx = sourceContext(config, cli, ui, plainHttp ? { plainHttp: true } : {}, (sig, msg, o) => judgeSignature(sig, msg, trust, o));
  return { config, ctx, loadSigningKey };
}

export async function listSource(cli: Cli, ui: Ui, source: string, f: CommonFlags & { plainHttp?: boolean }): Promise<Outcome> {
  const { ctx } = await standaloneContext(cli, ui, f.plainHttp === true);
  const cat = await import('@imgport/catalog');
  if (cat.isOciReference(source)) {
    const ref = cat.parseOciReference(source);
    const registry = cat.registryFor(ref.host, ctx);
    const tags = ref.tag || ref.digest ? [cat.manifestRef(ref)] : await registry.tags(ref.repository);
    const items = [];
    for (const tag of tags.filter((t) => !/^sha256-[0-9a-f]{64}$/.test(t))) {
      try {
        const a = await cat.resolveArtifact(registry, { ...ref, tag });
        items.push({ tag, digest: a.digest, image: a.image ?? null, size: a.size });
      } catch {
        // Not a bundle (a container image, a signature index): not listed.
      }
    }
    const human = items.length === 0 ? `No bundles in ${source}` : items.map((i) => `${i.tag.padEnd(24)} ${i.image ? `${i.image.name} ${i.image.osvers} ${i.image.arch} ${i.image.provmethod}` : '?'}  ${formatBytes(i.size)}  ${i.digest.slice(0, 19)}`).join('\n');
    return { doc: { source, artifacts: items }, human };
  }
  const loaded = await cat.loadCatalog(source, ctx);
  const d = loaded.doc;
  const signer = loaded.signature.signer ? `${loaded.signature.signer.principal ?? 'untrusted'} ${loaded.signature.signer.fingerprint}` : 'nobody (unsigned)';
  const head = `${cat.redactUrl(loaded.indexUrl)}: version ${d.version}, expires ${d.expires}, signed by ${signer}`;
  const rows = d.entries.map((e) => `${`${e.name}@${e.stamp}`.padEnd(48)} ${e.osvers} ${e.arch} ${e.method}  ${formatBytes(e.size)}  ${e.signer ? e.signer.fingerprint : 'unsigned'}`);
  return { doc: { source, version: d.version, expires: d.expires, signature: loaded.signature, entries: d.entries }, human: [head, ...rows].join('\n') };
}

export async function mirrorTo(cli: Cli, ui: Ui, source: string, dir: string, f: CommonFlags & { sign?: string; expiresDays?: number }): Promise<Outcome> {
  const { ctx, loadSigningKey } = await standaloneContext(cli, ui, false);
  const { mirrorCatalog } = await import('@imgport/catalog');
  const key = f.sign ? loadSigningKey(f.sign) : undefined;
  const lines: string[] = [];
  const r = await mirrorCatalog(source, resolve(dir), ctx, {
    ...(key ? { sign: (ns: string, data: Buffer) => key.signAs(ns, data) } : {}),
    ...(f.expiresDays ? { expiresDays: f.expiresDays } : {}),
    onEntry: (e, how, bytes) => lines.push(`  ${how.padEnd(7)} ${e.name}@${e.stamp} (${formatBytes(bytes || e.size)})`),
    onBytes: (done, total) => ui.progress.update({ phase: 'receive', percent: total ? Math.floor((100 * done) / total) : 0, bytesDone: done, bytesTotal: total }),
  });
  return { doc: r, human: [`Mirrored ${source} to ${r.dir}: ${r.entries} bundles, ${formatBytes(r.bytesFetched)} fetched; index version ${r.version} signed by ${r.signedBy}`, ...lines].join('\n') };
}
