import { createHash } from 'node:crypto';
import { closeSync, constants, fchmodSync, futimesSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { extract as tarExtract, type Header } from 'tar-stream';
import { isRootMemberName, normalizeMemberName } from '@imgport/format';
import { ImgportError } from '@imgport/runtime';
import { ExpandBudget } from '../expand-meter.js';
import { rootImageKind, type ExpandOptions } from '../rootimg.js';
import { PipesAhead, startExpansion, type MemberExpansion } from './member-expansion.js';
import { DEFAULT_LIMITS, type ExpandReport, type Limits, type ProgressFn } from '../types.js';
import { programFile, type Compression } from '../decompress.js';
import { ByteCounter, openDecompressed } from './sniff.js';
import { HeadCollector, type HeadGate } from './head.js';
import { chunksPassed } from '../scavenge.js';
import { NewFile } from '../new-file.js';

/** One regular file or directory of the outer bundle, as staged on disk. */
export interface StagedMember {
  /** Name inside the bundle as stored (normalised, before any image-directory prefix is removed). */
  stored: string;
  type: 'file' | 'dir';
  size: number;
  sha256?: string;
  /** Where the bytes now are. */
  path: string;
}

export interface StagedBundle {
  compression: Compression;
  bytesIn: number;
  members: StagedMember[];
  /** The root image expanded while it streamed past (a guess by name, confirmed by the caller). */
  expanded?: { stored: string; dir: string; report: ExpandReport };
}

export interface StageOptions {
  limits?: Partial<Limits>;
  signal?: AbortSignal;
  onProgress?: ProgressFn;
  /** Expand the first root-image-looking member while it streams (default true). */
  expandOnTheFly?: boolean;
  /**
   * Checks SHA256SUMS and SHA256SUMS.sig at the head of the bundle before any other member is
   * written (see head.ts); without it the head is staged like any other member.
   */
  headGate?: HeadGate;
  /**
   * The bundle's path when `input` reads a local file: a gzip (with igzip) or xz bundle is then
   * decompressed by the program reading the file itself, and `input` is not read (programFile).
   */
  file?: string;
}

const EXCL = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * Streams an untrusted bundle onto disk under `stagingDir` (files/<member> and rootimg/), hashing
 * every member as it passes, in one pass. The directory must not exist; on any failure it is
 * removed again, so a rejected bundle leaves nothing behind.
 */
export async function stageBundle(input: Readable, stagingDir: string, opts: StageOptions = {}): Promise<StagedBundle> {
  const limits: Limits = { ...DEFAULT_LIMITS, ...opts.limits };
  mkdirSync(stagingDir, { recursive: false });
  const at: { member?: string | undefined } = {};
  try {
    return await stage(input, stagingDir, limits, opts, at);
  } catch (err) {
    input.destroy();
    rmSync(stagingDir, { recursive: true, force: true });
    throw tarError(err, at.member);
  }
}

async function stage(input: Readable, stagingDir: string, limits: Limits, opts: StageOptions, at: { member?: string | undefined }): Promise<StagedBundle> {
  const fromFile = opts.file === undefined ? undefined : programFile(opts.file, limits.maxBundleBytes, 'the bundle');
  let source: { stream: Readable; compression: Compression; consumed: () => number; bytesIn: () => number };
  if (fromFile) {
    input.destroy();
    source = { ...fromFile, bytesIn: fromFile.read };
  } else {
    const counter = new ByteCounter(limits.maxBundleBytes, 'the bundle');
    input.on('error', (err) => counter.destroy(err));
    input.pipe(counter);
    source = { ...(await openDecompressed(counter)), bytesIn: () => counter.bytes };
  }
  const extractor = tarExtract();
  source.stream.on('error', (err) => extractor.destroy(err));
  source.stream.pipe(extractor);
  try {
    return await stageEntries(extractor, stagingDir, limits, opts, at, source.bytesIn, source.compression, source.consumed);
  } finally {
    // Done or failed: nothing more is read from the inflate.
    source.stream.destroy();
  }
}

async function stageEntries(
  extractor: ReturnType<typeof tarExtract>,
  stagingDir: string,
  limits: Limits,
  opts: StageOptions,
  at: { member?: string | undefined },
  bytesIn: () => number,
  compression: Compression,
  consumed: () => number,
): Promise<StagedBundle> {

  const filesDir = join(stagingDir, 'files');
  mkdirSync(filesDir);
  const seen = new Set<string>();
  const kinds = new Map<string, 'file' | 'dir'>();
  const members: StagedMember[] = [];
  const result: StagedBundle = { compression, bytesIn: 0, members };
  let bytesOut = 0;
  // One budget for every member and the root image expanded from one of them (SPEC §9).
  const budget = new ExpandBudget(limits, consumed);
  const progress = () => opts.onProgress?.({ bytesIn: bytesIn(), bytesOut, entries: members.length });
  const head = opts.headGate ? new HeadCollector(opts.headGate) : undefined;
  const flushHead = async () => {
    for (const h of (await head?.close()) ?? []) {
      const path = join(filesDir, h.name);
      mkdirSync(dirname(path), { recursive: true });
      const fd = openSync(path, EXCL, 0o644);
      try {
        writeAll(fd, h.data);
      } finally {
        closeSync(fd);
      }
      members.push({ stored: h.name, type: 'file', size: h.data.length, sha256: createHash('sha256').update(h.data).digest('hex'), path });
    }
  };

  // The root image's pipes are made while the members before it stage.
  const ahead = opts.expandOnTheFly !== false ? PipesAhead.start(stagingDir) : undefined;
  try {
    for await (const entry of extractor) {
      opts.signal?.throwIfAborted();
      if (entry.header.type === 'directory' && isRootMemberName(entry.header.name)) {
        // "./" from `tar -C dir .`: the bundle's own top directory, nothing to stage.
        entry.resume();
        continue;
      }
      const isHead = head ? head.before(entry.header.name, entry.header.type === 'directory' ? 'dir' : 'file') : false;
      if (head && !isHead && entry.header.type !== 'directory') await flushHead();
      const name = checkMember(entry.header, seen, kinds, members.length + (head?.pending.length ?? 0), limits);
      at.member = name;
      if (isHead) {
        await head!.take(name, entry as unknown as AsyncIterable<Buffer>);
        at.member = undefined;
        continue;
      }
      const path = join(filesDir, name);
      if (entry.header.type === 'directory') {
        mkdirSync(path, { recursive: true });
        members.push({ stored: name, type: 'dir', size: 0, path });
        entry.resume();
        continue;
      }
      mkdirSync(dirname(path), { recursive: true });
      const guess = opts.expandOnTheFly !== false && !result.expanded ? rootImageGuess(name) : undefined;
      const expandInto = guess ? { dir: join(stagingDir, 'rootimg'), scratch: stagingDir, ...(ahead ? { ahead } : {}), ...guess } : undefined;
      const meta = { name, mode: entry.header.mode ?? 0o644, mtime: entry.header.mtime, size: entry.header.size ?? 0 };
      const { size, sha256, report } = await copyMember(entry as unknown as Readable, path, meta, expandInto, limits, opts, bytesIn, budget);
      bytesOut += size;
      members.push({ stored: name, type: 'file', size, sha256, path });
      if (expandInto && report) result.expanded = { stored: name, dir: expandInto.dir, report };
      progress();
      at.member = undefined;
    }
  } finally {
    await ahead?.dispose();
  }
  await flushHead();
  result.bytesIn = bytesIn();
  if (members.length === 0) throw new ImgportError('BUNDLE_INVALID', 'the bundle is empty: no tar members found');
  return result;
}

/** The outer bundle may hold only regular files and directories with safe, unique names. */
export function checkMember(h: Header, seen: Set<string>, kinds: Map<string, 'file' | 'dir'>, count: number, limits: Limits): string {
  const raw = h.name;
  if (count + 1 > limits.maxEntries) {
    throw new ImgportError('LIMIT_EXCEEDED', `the bundle has more than ${limits.maxEntries} members (at "${raw}")`);
  }
  if (h.type !== 'file' && h.type !== 'directory' && h.type !== 'contiguous-file') {
    throw new ImgportError(
      'BUNDLE_INVALID',
      `bundle member "${raw}" is ${TYPE_NAMES[h.type ?? ''] ?? 'of a tar entry type imgport does not know'}; a bundle may hold only regular files and directories (links and devices belong inside the root image)`,
      { where: raw },
    );
  }
  if (h.pax && Object.keys(h.pax).some((k) => k.startsWith('GNU.sparse'))) {
    throw new ImgportError('BUNDLE_INVALID', `bundle member "${raw}" is a GNU sparse file, which is not allowed`, { where: raw });
  }
  const name = normalizeMemberName(raw, limits.maxPathLength);
  if (seen.has(name)) {
    throw new ImgportError('BUNDLE_INVALID', `bundle member "${name}" appears twice`, { where: name });
  }
  // A member below a file, or a file where earlier members made a directory, cannot be staged.
  for (let i = name.indexOf('/'); i > 0; i = name.indexOf('/', i + 1)) {
    const up = name.slice(0, i);
    if (kinds.get(up) === 'file') {
      throw new ImgportError('BUNDLE_INVALID', `bundle member "${name}" lies below "${up}", which is a file in the bundle`, { where: name });
    }
    if (!kinds.has(up)) kinds.set(up, 'dir');
  }
  if (h.type !== 'directory' && kinds.get(name) === 'dir') {
    throw new ImgportError('BUNDLE_INVALID', `bundle member "${name}" is a file, but earlier members are below it`, { where: name });
  }
  seen.add(name);
  kinds.set(name, h.type === 'directory' ? 'dir' : 'file');
  return name;
}

/** tar-stream's own errors (plain Errors, no errno) are the bundle's fault: say what and where. */
function tarError(err: unknown, member: string | undefined): unknown {
  if (err instanceof ImgportError || !(err instanceof Error) || (err as NodeJS.ErrnoException).code !== undefined) return err;
  const at = member === undefined ? 'between members' : `in member "${member}"`;
  if (/unexpected end of data/i.test(err.message)) {
    return new ImgportError('BUNDLE_INVALID', `the bundle ends ${at}: it is truncated (an interrupted copy or download?); fetch it again`, { cause: err, ...(member ? { where: member } : {}) });
  }
  if (/invalid tar header|invalid header/i.test(err.message)) {
    return new ImgportError('BUNDLE_INVALID', `the bundle is not a valid tar archive ${member === undefined ? 'at its start or between members' : `after member "${member}"`}: ${err.message}`, { cause: err, ...(member ? { where: member } : {}) });
  }
  return err;
}

const TYPE_NAMES: Record<string, string> = {
  symlink: 'a symlink',
  link: 'a link (a hard link)',
  'character-device': 'a character device',
  'block-device': 'a block device',
  fifo: 'a FIFO',
};

/**
 * Only a member at the top, or directly inside one image directory, can be the root image; it
 * is recognised by name here and confirmed against the manifest once that has been read.
 */
function rootImageGuess(name: string): { stripPrefix?: string } | undefined {
  const parts = name.split('/');
  const kind = rootImageKind(parts[parts.length - 1] ?? '');
  if (parts.length > 2 || kind === undefined || kind === 'sfs') return undefined;
  // xCAT statelite's rootimgtree.gz holds 'rootimg/...' entries.
  return kind === 'rootimgtree' ? { stripPrefix: 'rootimg/' } : {};
}

async function copyMember(
  entry: Readable,
  path: string,
  meta: { name: string; mode: number; mtime?: Date; size: number },
  expandInto: { dir: string; scratch: string; ahead?: PipesAhead; stripPrefix?: string } | undefined,
  limits: Limits,
  opts: StageOptions,
  bytesIn: () => number,
  budget: ExpandBudget,
): Promise<{ size: number; sha256: string; report?: ExpandReport }> {
  const hash = createHash('sha256');
  // The member's permission bits, less setuid/setgid/sticky and group/other write: boot files
  // must stay readable for the web server, postscripts executable.
  // Queued: the main thread feeds the root image's inflate while the blocks land.
  const file = NewFile.create(path, meta.mode & 0o755, { size: meta.size, where: dirname(path), queued: true });
  let size = 0;
  let expansion: MemberExpansion | undefined;
  const expandOpts: ExpandOptions = {
    limits,
    budget,
    ...(expandInto?.stripPrefix ? { stripPrefix: expandInto.stripPrefix } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onProgress ? { onProgress: (p) => opts.onProgress?.({ ...p, bytesIn: bytesIn() }) } : {}),
  };
  // Each chunk: counted against the limits, hashed, written; a promise while its blocks land.
  const take = (buf: Buffer): Promise<void> | undefined => {
    size += buf.length;
    budget.charge(buf.length, meta.name);
    hash.update(buf);
    const landing = file.write(buf);
    chunksPassed(buf.length);
    return landing;
  };
  try {
    if (expandInto) {
      await copyExpanding(entry, take, async (first) => {
        // Started by the first chunk, which says how the root image is compressed.
        expansion = await startExpansion(first, expandInto.dir, expandInto.scratch, expandOpts, expandInto.ahead);
        // Surface an expansion failure at once, even while we wait on the member.
        expansion.done.catch(() => entry.destroy());
        return expansion;
      });
    } else {
      await copyPlain(entry, take);
    }
    await file.end();
    fchmodSync(file.fd, meta.mode & 0o755); // whatever the umask
    // The bundle's mtime, so an image moved between nodes keeps its files' times.
    if (meta.mtime) futimesSync(file.fd, meta.mtime, meta.mtime);
  } catch (err) {
    // When the expansion failed first, its error says more than "stream destroyed" or EPIPE.
    const failure = await expansion?.abandon();
    if (failure && !(err instanceof ImgportError)) throw failure;
    throw err;
  } finally {
    await file.close();
  }
  // An empty member still expands (into nothing, or the error an empty archive deserves).
  expansion ??= expandInto ? await startExpansion(Buffer.alloc(0), expandInto.dir, expandInto.scratch, expandOpts, expandInto.ahead) : undefined;
  const report = expansion ? await expansion.finish() : undefined;
  return { size, sha256: hash.digest('hex'), ...(report ? { report } : {}) };
}

/*
 * The two loops over a member's chunks are apart so that V8 optimizes each for what it does: one
 * loop for both made TurboFan compile it for the kernel and initrd (nothing expanded) and throw
 * that away at the root image, whose chunks also go to the expansion.
 */
async function copyPlain(entry: Readable, take: (buf: Buffer) => Promise<void> | undefined): Promise<void> {
  for await (const chunk of entry) {
    const landing = take(chunk as Buffer);
    if (landing) await landing;
  }
}

async function copyExpanding(entry: Readable, take: (buf: Buffer) => Promise<void> | undefined, start: (first: Buffer) => Promise<MemberExpansion>): Promise<void> {
  let expansion: MemberExpansion | undefined;
  for await (const chunk of entry) {
    const buf = chunk as Buffer;
    const landing = take(buf);
    if (landing) await landing;
    expansion ??= await start(buf);
    const handed = expansion.write(buf);
    if (handed) await handed;
  }
}

function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

