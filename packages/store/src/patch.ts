/**
 * Tree patches: a nightly snapshot's tree is mostly its parent's, and its digests do not
 * compress, so a snapshot may store only the entries that differ from a base tree (a full tree
 * of an earlier snapshot): each changed or added entry in full, each removed path as
 * `{"p":…,"t":"-"}`, in path order. Reading merges base and patch in one streaming pass.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { createGzip } from 'node:zlib';
import { LineCursor } from './diff.js';
import { comparePaths, type TreeEntry } from './tree.js';

/** Writes the patch turning `base` into `full` (both raw tree lines); returns its entry count. */
export async function writePatch(base: AsyncIterable<string[]>, full: AsyncIterable<string[]>, file: string): Promise<number> {
  const gz = createGzip({ level: 6 });
  const out = createWriteStream(file, { flags: 'wx', mode: 0o644 });
  gz.pipe(out);
  const closed = new Promise<void>((resolve, reject) => {
    out.on('close', () => resolve());
    out.on('error', reject);
    gz.on('error', reject);
  });
  const ca = new LineCursor(base, 'base');
  const cb = new LineCursor(full, 'tree');
  let buf: string[] = [];
  let count = 0;
  const emit = async (line: string) => {
    buf.push(line);
    count++;
    if (buf.length >= 2048) {
      const ok = gz.write(`${buf.join('\n')}\n`);
      buf = [];
      if (!ok) await once(gz, 'drain');
    }
  };
  try {
    for (;;) {
      if (ca.needsFill) await ca.fill();
      if (cb.needsFill) await cb.fill();
      const la = ca.line();
      const lb = cb.line();
      if (la === undefined && lb === undefined) break;
      if (la !== undefined && la === lb) {
        ca.skip();
        cb.skip();
        continue;
      }
      const cmp = la === undefined ? 1 : lb === undefined ? -1 : comparePaths(ca.path(), cb.path());
      if (cmp < 0) {
        await emit(JSON.stringify({ p: ca.path(), t: '-' }));
        ca.skip();
      } else {
        await emit(lb!);
        if (cmp === 0) ca.skip();
        cb.skip();
      }
    }
    if (buf.length > 0) gz.write(`${buf.join('\n')}\n`);
  } finally {
    await ca.close();
    await cb.close();
    gz.end();
    await closed;
  }
  return count;
}

/** The full tree: `base` with `patch` applied, in order. */
export async function* applyPatch(base: AsyncIterable<TreeEntry>, patch: AsyncIterable<TreeEntry>): AsyncGenerator<TreeEntry> {
  const ib = base[Symbol.asyncIterator]();
  const ip = patch[Symbol.asyncIterator]();
  let b = await ib.next();
  let p = await ip.next();
  try {
    while (!b.done || !p.done) {
      const cmp = b.done ? 1 : p.done ? -1 : comparePaths(b.value.p, p.value.p);
      if (cmp < 0) {
        yield b.value as TreeEntry;
        b = await ib.next();
        continue;
      }
      const e = p.value as TreeEntry;
      p = await ip.next();
      if (cmp === 0) b = await ib.next();
      if ((e.t as string) !== '-') yield e;
    }
  } finally {
    await ib.return?.(undefined);
    await ip.return?.(undefined);
  }
}

/** applyPatch over raw lines: only the paths are read (linePath), nothing is parsed or serialized again. */
export async function* applyPatchLines(base: AsyncIterable<string[]>, patch: AsyncIterable<string[]>): AsyncGenerator<string[]> {
  const cb = new LineCursor(base, 'base');
  const cp = new LineCursor(patch, 'patch');
  let out: string[] = [];
  try {
    for (;;) {
      if (cb.needsFill) await cb.fill();
      if (cp.needsFill) await cp.fill();
      const lb = cb.line();
      const lp = cp.line();
      if (lb === undefined && lp === undefined) break;
      const cmp = lb === undefined ? 1 : lp === undefined ? -1 : comparePaths(cb.path(), cp.path());
      if (cmp < 0) {
        out.push(lb!);
        cb.skip();
      } else {
        // A removal is the only line that ends right after its type.
        if (!lp!.endsWith(',"t":"-"}')) out.push(lp!);
        if (cmp === 0) cb.skip();
        cp.skip();
      }
      if (out.length >= 4096) {
        yield out;
        out = [];
      }
    }
    if (out.length > 0) yield out;
  } finally {
    await cb.close();
    await cp.close();
  }
}
