/**
 * The walk of a scan on a worker thread: `readdir` and `lstat` of every path under the roots,
 * in tree order (each directory's names sorted), sent in batches, while the main thread compares
 * them with the parent tree and writes the new one: on a large unchanged image the system calls
 * are most of a scan, and they now overlap the rest. The worker runs at most AHEAD batches in
 * front of the reader. Its code is plain JavaScript evaluated in the worker, so it runs the same
 * from the sources (tsx), from dist and from the CLI bundle.
 */
import { Worker } from 'node:worker_threads';
import { ImgportError } from '@imgport/runtime';

/** The fields of fs.Stats a scan reads (times as fs.Stats computes them: ms, a double). */
export interface WalkStat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  ino: number;
  mtimeMs: number;
  ctimeMs: number;
}

const FIELDS = 8;
const AHEAD = 16;

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { lstatSync, readdirSync } = require('node:fs');
const { base, roots, ahead } = workerData;
let rels = [];
let nums = [];
function send(extra) {
  while (Atomics.load(ahead, 0) >= ${AHEAD}) Atomics.wait(ahead, 0, Atomics.load(ahead, 0), 100);
  Atomics.add(ahead, 0, 1);
  const f = new Float64Array(nums);
  parentPort.postMessage({ rels, nums: f, ...extra }, [f.buffer]);
  rels = [];
  nums = [];
}
function visit(rel) {
  const abs = base + '/' + rel;
  let st;
  try {
    st = lstatSync(abs);
  } catch (err) {
    if (err.code === 'ENOENT') return;
    throw Object.assign(err, { where: abs });
  }
  rels.push(rel);
  nums.push(st.mode, st.uid, st.gid, st.size, st.nlink, st.ino, st.mtimeMs, st.ctimeMs);
  if (rels.length >= 1024) send({});
  if (!st.isDirectory()) return;
  let names;
  try {
    names = readdirSync(abs).sort();
  } catch (err) {
    throw Object.assign(err, { where: abs });
  }
  for (const name of names) visit(rel + '/' + name);
}
try {
  for (const root of roots) visit(root);
  send({ end: true });
} catch (err) {
  send({ error: { code: err.code || 'EIO', where: err.where || base } });
}
`;

/** Batches of [relative path, stat] in tree order; `roots` sorted, none below another. */
export async function* walkTree(base: string, roots: readonly string[]): AsyncGenerator<Array<[string, WalkStat]>> {
  const ahead = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(WORKER, { eval: true, workerData: { base, roots, ahead } });
  const queue: Array<{ rels: string[]; nums: Float64Array; end?: boolean; error?: { code: string; where: string } }> = [];
  let wake: (() => void) | undefined;
  let failed: Error | undefined;
  worker.on('message', (m) => {
    queue.push(m);
    wake?.();
  });
  worker.on('error', (err) => {
    failed = err;
    wake?.();
  });
  try {
    for (;;) {
      while (queue.length === 0 && !failed) await new Promise<void>((resolve) => (wake = resolve));
      if (failed) throw failed;
      const m = queue.shift()!;
      Atomics.sub(ahead, 0, 1);
      Atomics.notify(ahead, 0);
      const batch: Array<[string, WalkStat]> = m.rels.map((rel, i) => {
        const n = m.nums.subarray(i * FIELDS, (i + 1) * FIELDS);
        return [rel, { mode: n[0]!, uid: n[1]!, gid: n[2]!, size: n[3]!, nlink: n[4]!, ino: n[5]!, mtimeMs: n[6]!, ctimeMs: n[7]! }];
      });
      if (batch.length > 0) yield batch;
      if (m.error) throw new ImgportError('IO_ERROR', `cannot read ${m.error.where} (${m.error.code})`, { where: m.error.where });
      if (m.end) return;
    }
  } finally {
    await worker.terminate();
  }
}
