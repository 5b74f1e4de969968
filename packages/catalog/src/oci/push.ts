/**
 * Publishing a bundle file to a registry: one pass hashes every member, then each member the
 * registry lacks is uploaded in chunks (a HEAD first, a cross-repository mount where it can),
 * the manifest is put under the tag, and a detached signature of the manifest is attached as a
 * referrer (with the tag-schema fallback where the registry has no referrers API).
 */
import { ImgportError } from '@imgport/runtime';
import { bundleMembers, summarizeBundle, type Decompress } from '../bundle-file.js';
import { sha256 } from '../digest.js';
import type { Registry } from './registry.js';
import { bundleManifest, EMPTY_BYTES, EMPTY_CONFIG, fallbackTag, INDEX_TYPE, MANIFEST_TYPE, referrersIndex, SIGNATURE_TYPE, signatureManifest, type Member, type OsImageInfo } from './artifact.js';
import { manifestRef, type OciReference } from './reference.js';

export interface PushOptions {
  /** Repositories of the same registry to mount unchanged blobs from. */
  mountFrom?: readonly string[];
  /** Signs the manifest's bytes (an sshsig); the signature becomes a referrer. */
  sign?: (data: Buffer) => Promise<Buffer>;
  decompress?: Decompress;
  signal?: AbortSignal;
  onProgress?: (p: { phase: string; bytesDone: number; bytesTotal: number }) => void;
  created?: string;
}

export interface PushedLayer extends Member {
  /** uploaded, present (HEAD found it), mounted (from another repository). */
  how: 'uploaded' | 'present' | 'mounted';
}

export interface PushResult {
  reference: string;
  digest: string;
  image: OsImageInfo;
  layers: PushedLayer[];
  /** Bytes sent to the registry (bodies of every request, resends included). */
  bytesUploaded: number;
  /** Bytes of all members. */
  bytesTotal: number;
  /** The config media type the registry took: the empty descriptor, or the OCI 1.0 fallback. */
  config: 'empty' | 'legacy';
  signature?: { digest: string; via: 'referrers' | 'tag' };
}

export async function pushBundle(file: string, registry: Registry, ref: OciReference, o: PushOptions = {}): Promise<PushResult> {
  const repo = ref.repository;
  const tag = manifestRef(ref);
  const sentBefore = registry.stats.bytesUploaded;
  o.onProgress?.({ phase: 'hashing', bytesDone: 0, bytesTotal: 0 });
  const summary = await summarizeBundle(file, o.decompress, o.signal);
  const layers = await uploadMembers(file, registry, repo, summary.members, summary.bytes, o);
  await ensureBlob(registry, repo, EMPTY_CONFIG.digest, EMPTY_BYTES);

  let config: PushResult['config'] = 'empty';
  let manifest = bundleManifest(summary.members, summary.image, o.created ? { created: o.created } : {});
  try {
    await registry.putManifest(repo, tag, manifest, MANIFEST_TYPE);
  } catch (err) {
    // OCI 1.0 registries may refuse the empty config's media type; ORAS then puts the artifact
    // type in config.mediaType.
    if (!(err instanceof ImgportError) || err.code !== 'UNSUPPORTED') throw err;
    config = 'legacy';
    manifest = bundleManifest(summary.members, summary.image, { ...(o.created ? { created: o.created } : {}), legacyConfig: true });
    await registry.putManifest(repo, tag, manifest, MANIFEST_TYPE);
  }
  const digest = sha256(manifest);
  const result: PushResult = {
    reference: `oci://${ref.host}/${repo}:${tag}`,
    digest,
    image: summary.image,
    layers,
    bytesUploaded: 0,
    bytesTotal: summary.bytes,
    config,
  };
  if (o.sign) result.signature = await attachSignature(registry, repo, { mediaType: MANIFEST_TYPE, digest, size: manifest.length }, await o.sign(manifest), config === 'legacy');
  result.bytesUploaded = registry.stats.bytesUploaded - sentBefore;
  return result;
}

async function uploadMembers(file: string, registry: Registry, repo: string, members: Member[], total: number, o: PushOptions): Promise<PushedLayer[]> {
  const out: PushedLayer[] = [];
  const done = new Set<string>();
  let bytesDone = 0;
  let i = 0;
  for await (const m of bundleMembers(file, o.decompress, o.signal)) {
    const want = members[i++];
    if (!want || want.name !== m.name || want.size !== m.size) throw new ImgportError('IO_ERROR', `${file} changed while it was published (member ${m.name}); publish again`);
    let how: PushedLayer['how'];
    if (done.has(want.digest) || (await registry.hasBlob(repo, want.digest))) how = 'present';
    else how = await sendBlob(registry, repo, want, m.data, o, (n) => o.onProgress?.({ phase: 'uploading', bytesDone: bytesDone + n, bytesTotal: total }));
    if (how !== 'uploaded') for await (const _ of m.data) void _;
    done.add(want.digest);
    bytesDone += want.size;
    o.onProgress?.({ phase: 'uploading', bytesDone, bytesTotal: total });
    out.push({ ...want, how });
  }
  if (i !== members.length) throw new ImgportError('IO_ERROR', `${file} changed while it was published; publish again`);
  return out;
}

/** Mounts the blob from another repository if one has it, else uploads it in chunks. */
async function sendBlob(registry: Registry, repo: string, m: Member, data: AsyncIterable<Buffer>, o: PushOptions, progress: (n: number) => void): Promise<'uploaded' | 'mounted'> {
  let location: URL | undefined;
  for (const from of o.mountFrom ?? []) {
    if (from === repo) continue;
    const started = await registry.startUpload(repo, { digest: m.digest, from });
    if (started === true) return 'mounted';
    location = started;
    break;
  }
  location ??= (await registry.startUpload(repo)) as URL;
  const size = registry.chunkBytes;
  let pending: Buffer[] = [];
  let have = 0;
  let offset = 0;
  for await (const c of data) {
    pending.push(c);
    have += c.length;
    while (have >= size) {
      const all = Buffer.concat(pending);
      const chunk = all.subarray(0, size);
      // A blob that fits in one chunk goes with the PUT that completes it.
      if (offset === 0 && m.size <= size) break;
      location = await registry.patchChunk(repo, location, chunk, offset, o.signal);
      offset += chunk.length;
      pending = [all.subarray(size)];
      have = pending[0]!.length;
      progress(offset);
    }
  }
  const rest = Buffer.concat(pending);
  if (offset + rest.length !== m.size) throw new ImgportError('IO_ERROR', `member ${m.name} changed while it was published; publish again`);
  if (offset === 0) {
    await registry.finishUpload(repo, location, m.digest, rest);
  } else {
    if (rest.length > 0) location = await registry.patchChunk(repo, location, rest, offset, o.signal);
    await registry.finishUpload(repo, location, m.digest);
  }
  return 'uploaded';
}

async function ensureBlob(registry: Registry, repo: string, digest: string, bytes: Buffer): Promise<void> {
  if (await registry.hasBlob(repo, digest)) return;
  const at = (await registry.startUpload(repo)) as URL;
  await registry.finishUpload(repo, at, digest, bytes);
}

/**
 * The signature as an artifact whose subject is the bundle's manifest. A registry with the
 * referrers API says so with OCI-Subject; otherwise the referrers list is kept under the tag
 * `sha256-<hex>` of the subject (distribution spec 1.1, "referrers tag schema").
 */
async function attachSignature(registry: Registry, repo: string, subject: { mediaType: string; digest: string; size: number }, sig: Buffer, legacy: boolean): Promise<{ digest: string; via: 'referrers' | 'tag' }> {
  const sigDigest = sha256(sig);
  await ensureBlob(registry, repo, sigDigest, sig);
  const manifest = signatureManifest(subject, { digest: sigDigest, size: sig.length }, { legacyConfig: legacy });
  const digest = sha256(manifest);
  const put = await registry.putManifest(repo, digest, manifest, MANIFEST_TYPE);
  if (put.subject) return { digest, via: 'referrers' };
  const tag = fallbackTag(subject.digest);
  const existing = await registry.getManifest(repo, tag, [INDEX_TYPE]);
  const index = referrersIndex(existing?.bytes, { mediaType: MANIFEST_TYPE, digest, size: manifest.length, artifactType: SIGNATURE_TYPE });
  await registry.putManifest(repo, tag, index, INDEX_TYPE);
  return { digest, via: 'tag' };
}
