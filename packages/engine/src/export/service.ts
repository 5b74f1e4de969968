/**
 * Export one osimage as a bundle (SPEC §5): load rows → collect files → pack → manifest →
 * write to a temp name → rename. The image itself is only read.
 */
import { rename, stat, writeFile } from 'node:fs/promises';
import { prestartHashThread, writeBundle, type BundleEntry } from '@imgport/archive';
import { LIST_KINDS, validateImageName, type ListKind } from '@imgport/format';
import { ImgportError } from '@imgport/runtime';
import type { ImageRows } from '@imgport/tables';
import { collectFiles, imageFacts, type BundleFormat, type Collection, type ImageFacts } from './collect.js';
import { buildManifest, renderManifest } from './manifest.js';
import { resolveDestination, writeAtomically, type Destination } from './output.js';
import { packPayload } from './pack.js';
import { throttled, type Reporter } from './progress.js';
import type { EngineDeps, ExportOptions, ExportResult } from '../types.js';
import { loadSigningKey, type SigningKey } from '../trust/signing.js';
import { decodeSshSig, fingerprint } from '@imgport/trust';

interface Run {
  image: string;
  format: BundleFormat;
  opts: ExportOptions;
  report: Reporter;
  started: number;
}

export class ExportService {
  constructor(private readonly deps: EngineDeps) {}

  async run(image: string, opts: ExportOptions = {}): Promise<ExportResult> {
    validateImageName(image, 'image', 'BAD_REQUEST');
    // Every byte is hashed on a thread of its own: it boots while the rows and files are gathered.
    prestartHashThread();
    const run: Run = { image, format: checkFormat(opts.format), opts, report: throttled(opts.onProgress), started: Date.now() };
    try {
      return await this.export(run);
    } catch (err) {
      // An abort surfaces as whatever the interrupted stream threw; name it for what it is.
      if (opts.signal?.aborted && !(err instanceof ImgportError && err.code === 'CANCELLED')) {
        throw new ImgportError('CANCELLED', `export of ${image} cancelled`, { cause: err });
      }
      throw err;
    }
  }

  private async export(run: Run): Promise<ExportResult> {
    const { image, format, opts, report } = run;
    const dest = await resolveDestination(image, opts.destination);
    const img = imageFacts(image, await this.loadRows(image, format));
    report('collect', 0, 0, true);
    const files = await collectFiles(img, {
      format,
      include: includedLists(opts.include, format),
      listsByDefault: opts.include === undefined,
      extras: opts.extras ?? [],
      installRoot: this.deps.installRoot,
      allow: this.deps.allow ?? [],
      tables: this.deps.tables,
    });
    opts.signal?.throwIfAborted();
    const written = await this.packAndWrite(run, img, files, dest);
    report('done', written.bytes, written.bytes, true);
    this.deps.log?.info({ image, path: dest.path, bytes: written.bytes, format }, 'image exported');
    return {
      image,
      method: img.method,
      format,
      path: dest.path,
      bytes: written.bytes,
      sha256: written.sha256,
      members: written.members,
      warnings: files.warnings,
      durationMs: Date.now() - run.started,
      ...(written.signer ? { signer: written.signer } : {}),
    };
  }

  /** Both rows are required: an image missing from either table cannot be rebuilt elsewhere. */
  private async loadRows(image: string, format: BundleFormat): Promise<ImageRows> {
    const rec = await this.deps.tables.getImage(image);
    if (!rec.osimage) throw notFound(image, 'osimage');
    if (!rec.linuximage) throw notFound(image, 'linuximage');
    let litefile = rec.litefile;
    if (format === 'xcat' && rec.osimage.provmethod === 'statelite') {
      // As stock imgexport: the rows filed under no image, then ALL's (or the image's groups'),
      // then the image's own, all written under the image's name.
      const groups = rec.osimage.groups;
      litefile = [...(await this.deps.tables.litefileRows(['', groups ? groups : 'ALL'])), ...litefile];
    }
    return { osimage: rec.osimage, linuximage: rec.linuximage, litefile };
  }

  private async packAndWrite(run: Run, img: ImageFacts, files: Collection, dest: Destination) {
    const { opts, report, format } = run;
    const signal = opts.signal ? { signal: opts.signal } : {};
    const packed = await packPayload(files.payload, dest, { ...signal, onProgress: (p) => report('pack', p.bytesIn, 0) });
    try {
      const entries = bundleEntries(format, renderManifest(buildManifest(img, files, format, this.deps.installRoot)), packed.entries);
      const prefix = format === 'xcat' ? `${img.name}/` : '';
      const total = await fileBytes(entries);
      report('write', 0, total, true);
      const keyPath = opts.sign === false ? undefined : (opts.sign ?? this.deps.signingKey);
      const key: SigningKey | undefined = keyPath ? loadSigningKey(keyPath) : undefined;
      let signedBy: string | undefined;
      const sign = key ? { sign: async (sums: Buffer) => { const sig = await key.sign(sums); signedBy = signerOf(sig); return sig; } } : {};
      const written = await writeAtomically(
        dest,
        (out) => writeBundle(out, entries, { prefix, compression: 'gzip', ...signal, ...sign, onProgress: (done) => report('write', done, total) }),
        opts.signal,
      );
      const detached = key && opts.detachedSignature ? await writeDetached(key, dest.path) : undefined;
      const names = entries.map((e) => prefix + e.name);
      // Signed: SHA256SUMS and its signature open the bundle (after xCAT's image directory entry).
      const lead = key && entries[0]?.name === '' ? names.splice(0, 1) : [];
      const members = key ? [...lead, `${prefix}SHA256SUMS`, `${prefix}SHA256SUMS.sig`, ...names] : [...names, `${prefix}SHA256SUMS`];
      return {
        ...written,
        members,
        ...(key && signedBy ? { signer: { fingerprint: signedBy, key: key.path, ...(detached ? { detached } : {}) } } : {}),
      };
    } finally {
      await packed.cleanup();
    }
  }
}

/** `<bundle>.sig`: an sshsig over the whole bundle file, so a catalog's download checks with ssh-keygen alone. */
async function writeDetached(key: SigningKey, bundle: string): Promise<string> {
  const sig = await key.signFile(bundle);
  const path = `${bundle}.sig`;
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, sig, { flag: 'wx', mode: 0o644 });
  await rename(temp, path);
  return path;
}

/** The fingerprint of the key in a signature we just made (ours or ssh-keygen's, already checked). */
function signerOf(sig: Buffer): string {
  return fingerprint(decodeSshSig(sig.toString('utf8')).publicKey);
}

function notFound(image: string, table: 'osimage' | 'linuximage'): ImgportError {
  return new ImgportError('IMAGE_NOT_FOUND', `image ${image} not found in the ${table} table`, { where: `${table}.imagename` });
}

/** Manifest first, then the payload; xCAT bundles open with their image directory, as stock tar does. */
function bundleEntries(format: BundleFormat, manifest: { member: string; text: string }, payload: BundleEntry[]): BundleEntry[] {
  const head: BundleEntry[] = format === 'xcat' ? [{ name: '', source: { dir: true }, mode: 0o755 }] : [];
  head.push({ name: manifest.member, source: { data: manifest.text }, mode: 0o644 });
  const body = [...payload];
  const firstExtra = body.findIndex((e) => e.name.startsWith('extra/'));
  // Stock imgexport creates extra/ and copies into it; its tar lists the directory first.
  if (format === 'xcat' && firstExtra >= 0) body.splice(firstExtra, 0, { name: 'extra/', source: { dir: true }, mode: 0o755 });
  return [...head, ...body];
}

/** Bytes of the files the writer will read: the denominator of write progress. */
async function fileBytes(entries: BundleEntry[]): Promise<number> {
  let n = 0;
  for (const e of entries) if ('file' in e.source) n += (await stat(e.source.file)).size;
  return n;
}

function checkFormat(format: ExportOptions['format']): BundleFormat {
  if (format === undefined) return 'native';
  if (format === 'native' || format === 'xcat') return format;
  throw new ImgportError('BAD_REQUEST', `unknown bundle format "${String(format)}" (expected native or xcat)`, { where: 'format' });
}

/** Native bundles carry list files only when asked; xCAT ones carry them all, as stock imgexport does. */
function includedLists(include: ExportOptions['include'], format: BundleFormat): ListKind[] {
  if (include === undefined) return format === 'xcat' ? [...LIST_KINDS] : [];
  if (include === 'all') return [...LIST_KINDS];
  for (const kind of include) {
    if (!(LIST_KINDS as readonly string[]).includes(kind)) {
      throw new ImgportError('BAD_REQUEST', `unknown list "${String(kind)}" in include (expected ${LIST_KINDS.join(', ')} or all)`, {
        where: 'include',
      });
    }
  }
  return [...include];
}
