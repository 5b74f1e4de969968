/**
 * Reads a bundle as a stream and hashes every member without writing anything: what
 * `imgport verify` needs. The same member rules and head gate as staging apply.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { extract as tarExtract } from 'tar-stream';
import { isRootMemberName } from '@imgport/format';
import { DEFAULT_LIMITS, type Limits } from '../types.js';
import { ImgportError } from '@imgport/runtime';
import { HeadCollector, headRole, SUMS_MEMBER, type HeadGate } from './head.js';

const MAX_SUMS_BYTES = 4 * 1024 * 1024;
import { checkMember } from './reader.js';
import { ByteCounter, openDecompressed } from './sniff.js';

export interface ScannedBundle {
  /** sha256 of every regular file, by its stored name. */
  files: Map<string, string>;
  /** The content of SHA256SUMS (top level or in the image directory), wherever it came. */
  sums?: { name: string; data: Buffer };
  bytesIn: number;
}

export async function scanBundle(input: Readable, opts: { limits?: Partial<Limits>; headGate?: HeadGate; signal?: AbortSignal } = {}): Promise<ScannedBundle> {
  const limits: Limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const counter = new ByteCounter(limits.maxBundleBytes, 'the bundle');
  input.on('error', (err) => counter.destroy(err));
  input.pipe(counter);
  try {
    const { stream } = await openDecompressed(counter);
    const extractor = tarExtract();
    stream.on('error', (err) => extractor.destroy(err));
    stream.pipe(extractor);
    const head = opts.headGate ? new HeadCollector(opts.headGate) : undefined;
    const seen = new Set<string>();
    const kinds = new Map<string, 'file' | 'dir'>();
    const files = new Map<string, string>();
    let count = 0;
    let sums: ScannedBundle['sums'];
    const flush = async () => {
      for (const h of (await head?.close()) ?? []) {
        files.set(h.name, createHash('sha256').update(h.data).digest('hex'));
        if (headRole(h.name)?.base === SUMS_MEMBER) sums = { name: h.name, data: h.data };
      }
    };
    for await (const entry of extractor) {
      opts.signal?.throwIfAborted();
      if (entry.header.type === 'directory' && isRootMemberName(entry.header.name)) {
        entry.resume();
        continue;
      }
      const type = entry.header.type === 'directory' ? 'dir' : 'file';
      const isHead = head ? head.before(entry.header.name, type) : false;
      if (head && !isHead && type === 'file') await flush();
      const name = checkMember(entry.header, seen, kinds, count++, limits);
      if (isHead) {
        await head!.take(name, entry as unknown as AsyncIterable<Buffer>);
        continue;
      }
      if (type === 'dir') {
        entry.resume();
        continue;
      }
      const hash = createHash('sha256');
      const keep = headRole(name)?.base === SUMS_MEMBER && !sums ? ([] as Buffer[]) : undefined;
      let kept = 0;
      for await (const c of entry as unknown as AsyncIterable<Buffer>) {
        hash.update(c);
        if (keep && (kept += c.length) <= MAX_SUMS_BYTES) keep.push(c);
      }
      if (keep && kept > MAX_SUMS_BYTES) throw new ImgportError('LIMIT_EXCEEDED', `${name} is larger than ${MAX_SUMS_BYTES} bytes`, { where: name });
      if (keep) sums = { name, data: Buffer.concat(keep) };
      files.set(name, hash.digest('hex'));
    }
    await flush();
    return { files, ...(sums ? { sums } : {}), bytesIn: counter.bytes };
  } finally {
    input.destroy();
  }
}
