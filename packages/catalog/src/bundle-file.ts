/**
 * Reading a bundle file member by member, as a stream: what publishing needs (digests, sizes,
 * the manifest's osimage) and what it uploads. The outer compression is recognised by its magic
 * bytes; xz (and anything else) is opened by the `decompress` the caller hands in.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { extract as tarExtract } from 'tar-stream';
import { parseManifestCfg, parseManifestXml } from '@imgport/format';
import { ImgportError } from '@imgport/runtime';
import type { Member, OsImageInfo } from './oci/artifact.js';
import { safeName } from './oci/artifact.js';

/** Opens the tar inside a (compressed) bundle stream. */
export type Decompress = (input: Readable) => Promise<Readable>;

export interface MemberEntry {
  name: string;
  size: number;
  data: AsyncIterable<Buffer>;
}

/** gzip or plain tar; anything else needs a `decompress` from the caller. */
export async function gzipOrPlain(input: Readable): Promise<Readable> {
  const head = await peek(input);
  if (head[0] === 0x1f && head[1] === 0x8b) {
    const gunzip = createGunzip();
    input.on('error', (e) => gunzip.destroy(e));
    return input.pipe(gunzip);
  }
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) {
    throw new ImgportError('UNSUPPORTED', 'the bundle is xz-compressed; publish reads gzip or plain tar bundles');
  }
  return input;
}

/** The regular-file members of a bundle, in order, each to be consumed before the next. */
export async function* bundleMembers(file: string, decompress: Decompress = gzipOrPlain, signal?: AbortSignal): AsyncGenerator<MemberEntry> {
  const raw = createReadStream(file, { highWaterMark: 1024 * 1024 });
  const tar = await decompress(raw);
  const extractor = tarExtract();
  tar.on('error', (e) => extractor.destroy(e));
  tar.pipe(extractor);
  try {
    for await (const entry of extractor) {
      signal?.throwIfAborted();
      const h = entry.header;
      if (h.type === 'directory') {
        entry.resume();
        continue;
      }
      const name = h.name.replace(/^(\.\/)+/, '');
      if (h.type !== 'file' || !safeName(name)) throw new ImgportError('BUNDLE_INVALID', `${file}: member "${h.name}" is not a regular file with a safe name`, { where: h.name });
      yield { name, size: h.size ?? 0, data: entry as unknown as AsyncIterable<Buffer> };
    }
  } finally {
    raw.destroy();
  }
}

export interface BundleSummary {
  members: Member[];
  image: OsImageInfo;
  /** Bytes of all members. */
  bytes: number;
  /** The bundle's SHA256SUMS.sig, when it is signed. */
  signature?: Buffer;
}

/** One pass over a bundle: every member's digest and size, and the osimage its manifest names. */
export async function summarizeBundle(file: string, decompress?: Decompress, signal?: AbortSignal): Promise<BundleSummary> {
  const members: Member[] = [];
  let manifest: { name: string; text: string } | undefined;
  let bytes = 0;
  let signature: Buffer | undefined;
  for await (const m of bundleMembers(file, decompress, signal)) {
    const hash = createHash('sha256');
    const base = m.name.split('/').at(-1)!;
    const head = m.name.split('/').length <= 2 && m.size <= 16 * 1024 * 1024;
    const keep = head && (base === 'manifest.cfg' || base === 'manifest.xml' || base === 'SHA256SUMS.sig') ? ([] as Buffer[]) : undefined;
    for await (const c of m.data) {
      hash.update(c);
      keep?.push(c);
    }
    if (keep && base === 'SHA256SUMS.sig') signature = Buffer.concat(keep);
    else if (keep) manifest = { name: base, text: Buffer.concat(keep).toString('utf8') };
    members.push({ name: m.name, digest: `sha256:${hash.digest('hex')}`, size: m.size });
    bytes += m.size;
  }
  if (!manifest) throw new ImgportError('BUNDLE_INVALID', `${file} has no manifest.cfg or manifest.xml`);
  const parsed = manifest.name === 'manifest.cfg' ? parseManifestCfg(manifest.text) : parseManifestXml(manifest.text);
  return { members, image: { name: parsed.name, osvers: parsed.os, arch: parsed.arch, provmethod: parsed.method, profile: parsed.profile }, bytes, ...(signature ? { signature } : {}) };
}

/** The first buffered bytes of `input`, put back for whoever reads it next. */
function peek(input: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const done = (head: Buffer) => {
      input.off('readable', onReadable).off('end', onEnd).off('error', reject);
      resolve(head);
    };
    const onReadable = () => {
      const chunk = input.read() as Buffer | null;
      if (chunk === null) return;
      input.unshift(chunk);
      done(chunk);
    };
    const onEnd = () => done(Buffer.alloc(0));
    input.on('readable', onReadable).once('end', onEnd).once('error', reject);
  });
}
