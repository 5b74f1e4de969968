/**
 * Pulling a bundle artifact: its manifest, its signature referrer, and its layers rebuilt into
 * the bundle's tar in layer order — as a stream for an import (each layer's digest is checked
 * before the next header is emitted, and the end of the archive only once all are), or into a
 * file that an interrupted pull resumes from where it stopped, inside a layer.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { ImgportError } from '@imgport/runtime';
import { chunks } from '../http.js';
import { TAR_END, padding, tarHeader, tarLayout, type TarSlot } from '../tar.js';
import type { Registry } from './registry.js';
import { fallbackTag, indexEntries, readBundleManifest, SIGNATURE_TYPE, type Member, type OsImageInfo } from './artifact.js';
import { manifestRef, type OciReference } from './reference.js';

export interface Artifact {
  registry: Registry;
  ref: OciReference;
  digest: string;
  manifest: Buffer;
  members: Member[];
  image?: OsImageInfo;
  /** Bytes of the rebuilt tar. */
  size: number;
}

export interface Progress {
  (p: { phase: string; bytesDone: number; bytesTotal: number }): void;
}

export async function resolveArtifact(registry: Registry, ref: OciReference): Promise<Artifact> {
  const where = `oci://${ref.host}/${ref.repository}:${manifestRef(ref)}`;
  const got = await registry.getManifest(ref.repository, manifestRef(ref));
  if (!got) throw new ImgportError('NOT_FOUND', `${where}: no such manifest in the registry`);
  if (ref.digest && got.digest !== ref.digest) throw new ImgportError('CHECKSUM_MISMATCH', `${where}: the registry sent a manifest hashing to ${got.digest}`);
  const read = readBundleManifest(got.bytes, where);
  return { registry, ref, digest: got.digest, manifest: got.bytes, members: read.members, ...(read.image ? { image: read.image } : {}), size: tarLayout(read.members).total };
}

/** The detached signature of the artifact's manifest, from the referrers API or its fallback tag. */
export async function findSignature(a: Artifact): Promise<Buffer | undefined> {
  const repo = a.ref.repository;
  const index = (await a.registry.referrers(repo, a.digest, SIGNATURE_TYPE)) ?? (await a.registry.getManifest(repo, fallbackTag(a.digest)))?.bytes;
  if (!index) return undefined;
  for (const d of indexEntries(index, SIGNATURE_TYPE)) {
    const m = await a.registry.getManifest(repo, d.digest);
    if (!m || m.digest !== d.digest) continue;
    const doc = JSON.parse(m.bytes.toString('utf8')) as { subject?: { digest?: string }; layers?: Array<{ digest?: string; size?: number }> };
    const layer = doc.layers?.[0];
    if (doc.subject?.digest !== a.digest || !layer?.digest || !layer.size || layer.size > 16 * 1024) continue;
    const parts: Buffer[] = [];
    await fetchBlob(a.registry, repo, { name: 'signature', digest: layer.digest, size: layer.size }, 0, createHash('sha256'), (c) => void parts.push(c));
    return Buffer.concat(parts);
  }
  return undefined;
}

/**
 * The bundle's tar as a stream. A failed connection is resumed with a Range request; a layer
 * that does not hash to its digest fails the stream before its padding, so an import reading it
 * never sees a complete archive.
 */
export function artifactStream(a: Artifact, o: { signal?: AbortSignal; onProgress?: Progress } = {}): Readable {
  const { slots, total } = tarLayout(a.members);
  async function* generate(): AsyncGenerator<Buffer> {
    let done = 0;
    for (const [i, slot] of slots.entries()) {
      yield tarHeader(slot.name, slot.size);
      const hash = createHash('sha256');
      const member = a.members[i]!;
      for await (const c of blobPieces(a.registry, a.ref.repository, member, 0, hash, o.signal)) {
        done += c.length;
        o.onProgress?.({ phase: 'downloading', bytesDone: done, bytesTotal: total });
        o.signal?.throwIfAborted();
        yield c;
      }
      checkDigest(member, hash);
      const pad = padding(slot.size);
      if (pad) yield Buffer.alloc(pad);
    }
    yield TAR_END;
  }
  return Readable.from(generate(), { objectMode: false, highWaterMark: 1024 * 1024 });
}

export interface PullFileResult {
  file: string;
  /** Bytes fetched from the registry by this run. */
  bytesFetched: number;
  /** Bytes found already in place from an interrupted run (and checked again). */
  bytesResumed: number;
}

/**
 * Writes the rebuilt tar to `part` (a `.part` file the caller renames once it has verified it).
 * When `part` holds the start of the same artifact (`sameArtifact`), what it holds is checked
 * again locally and the pull goes on from its end.
 */
export async function pullToFile(a: Artifact, part: string, o: { resume: boolean; signal?: AbortSignal; onProgress?: Progress }): Promise<PullFileResult> {
  const { slots, total } = tarLayout(a.members);
  const have = o.resume ? await stat(part).then((s) => s.size, () => 0) : 0;
  const fh = await open(part, have > 0 ? 'r+' : 'w');
  let fetched = 0;
  let resumed = 0;
  try {
    for (const [i, slot] of slots.entries()) {
      const member = a.members[i]!;
      const hash = createHash('sha256');
      let from = 0;
      if (have > slot.data) {
        from = Math.min(have, slot.data + slot.size) - slot.data;
        await hashRegion(part, slot.data, from, hash);
        resumed += from;
        if (from === slot.size) {
          // What an earlier run left is not this layer: fetch everything again.
          if (!digestOk(member, hash)) return await restart(fh, a, part, o);
          await writePad(fh, slot);
          continue;
        }
      } else {
        await fh.write(tarHeader(slot.name, slot.size), 0, 512, slot.header);
      }
      let at = slot.data + from;
      for await (const c of blobPieces(a.registry, a.ref.repository, member, from, hash, o.signal)) {
        await fh.write(c, 0, c.length, at);
        at += c.length;
        fetched += c.length;
        o.onProgress?.({ phase: 'downloading', bytesDone: resumed + fetched, bytesTotal: total });
        o.signal?.throwIfAborted();
      }
      checkDigest(member, hash);
      await writePad(fh, slot);
    }
    await fh.write(TAR_END, 0, TAR_END.length, total - TAR_END.length);
    await fh.truncate(total);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return { file: part, bytesFetched: fetched, bytesResumed: resumed };
}

async function restart(fh: Awaited<ReturnType<typeof open>>, a: Artifact, part: string, o: { signal?: AbortSignal; onProgress?: Progress }): Promise<PullFileResult> {
  await fh.truncate(0);
  return pullToFile(a, part, { ...o, resume: false });
}

async function writePad(fh: Awaited<ReturnType<typeof open>>, slot: TarSlot): Promise<void> {
  const pad = padding(slot.size);
  if (pad) await fh.write(Buffer.alloc(pad), 0, pad, slot.data + slot.size);
}

async function hashRegion(file: string, start: number, length: number, hash: Hash): Promise<void> {
  if (length === 0) return;
  for await (const c of createReadStream(file, { start, end: start + length - 1, highWaterMark: 1024 * 1024 })) hash.update(c as Buffer);
}

/** The bytes of one blob from `from` on, hashed into `hash`, resumed by Range after a failure. */
async function* blobPieces(registry: Registry, repo: string, m: Member, from: number, hash: Hash, signal?: AbortSignal): AsyncGenerator<Buffer> {
  let offset = from;
  let etag: string | undefined;
  for (let attempt = 1; offset < m.size || (m.size === 0 && attempt === 1); attempt++) {
    try {
      const { res, start } = await registry.openBlob(repo, m.digest, offset, etag);
      etag = typeof res.headers.etag === 'string' ? res.headers.etag : etag;
      let skip = offset - start;
      for await (let c of chunks(res, `blob ${m.name}`)) {
        registry.stats.bytesDownloaded += c.length;
        if (skip > 0) {
          const n = Math.min(skip, c.length);
          c = c.subarray(n);
          skip -= n;
          if (c.length === 0) continue;
        }
        if (offset + c.length > m.size) throw new ImgportError('CHECKSUM_MISMATCH', `layer ${m.name} is longer than the ${m.size} bytes its descriptor says`, { where: m.name });
        hash.update(c);
        offset += c.length;
        yield c;
      }
      if (m.size === 0) return;
    } catch (err) {
      const e = err instanceof ImgportError ? err : new ImgportError('IO_ERROR', (err as Error).message, { cause: err });
      if (!e.retryable || attempt >= 6 || signal?.aborted) throw e;
      await new Promise((r) => setTimeout(r, 250 * 2 ** (attempt - 1)));
    }
  }
}

async function fetchBlob(registry: Registry, repo: string, m: Member, from: number, hash: Hash, sink: (c: Buffer) => void): Promise<void> {
  for await (const c of blobPieces(registry, repo, m, from, hash)) sink(c);
  checkDigest(m, hash);
}

function digestOk(m: Member, hash: Hash): boolean {
  return `sha256:${hash.digest('hex')}` === m.digest;
}

function checkDigest(m: Member, hash: Hash): void {
  const got = `sha256:${hash.digest('hex')}`;
  if (got !== m.digest) throw new ImgportError('CHECKSUM_MISMATCH', `layer ${m.name}: the registry sent bytes hashing to ${got}, not ${m.digest}; nothing was kept`, { where: m.name });
}
