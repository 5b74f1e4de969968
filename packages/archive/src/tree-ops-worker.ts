/**
 * The worker thread of tree-ops.ts: decodes each batch and does its filesystem calls in order,
 * synchronously (only device nodes and FIFOs, made by one xargs(1) running mknod(1) per batch, are
 * made beside it until something needs them), then gives the batch back. Regular files of 64 KiB
 * and more are written past the page cache (new-file.ts), the others the ordinary way. It decides
 * nothing (TreeWriter did); it imports only Node's own modules, tree-fs and new-file, so it starts
 * fast and small. The first failing call stops it: the error goes back with the path, and later
 * batches are not touched.
 */
import fs from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { Meta, Op, Shared } from './tree-ops-codes.js';
import type { WorkerSetup } from './tree-ops.js';
import { NodeBatch } from './tree-fs.js';
import { NewFile } from './new-file.js';

const port = parentPort!;
/** Who this worker is: the first message (it may be started before its writer exists). */
let setup: WorkerSetup;
let counters: Int32Array;
const KINDS = ['c', 'b', 'p'] as const;

/** The regular file being written. */
let file: NewFile | undefined;
let failed = false;
/** The path being worked on, for the error. */
let current = '';

/** A device node or FIFO being made (NodeBatch); its owner, mode and time follow it. */
interface PendingNode {
  path: string;
  flags: number;
  uid: number;
  gid: number;
  mode: number;
  mtime: number;
}
let pending: PendingNode[] = [];
const nodes = new NodeBatch();

/** Operations that must see every node made before them: a link to one, a replacement, a directory's times. */
const WAITS_FOR_NODES = new Set<number>([Op.Link, Op.Unlink, Op.DirMeta]);

/** Waits for the nodes being made, then sets what mknod cannot. */
async function settleNodes(): Promise<void> {
  const made = pending;
  pending = [];
  if (made.length === 0) return;
  current = made[0]!.path;
  await nodes.settle();
  for (const n of made) {
    current = n.path;
    if (n.flags & Meta.Chown) fs.lchownSync(n.path, n.uid, n.gid);
    // mknod(1) takes permission bits only; the node was just made here, so chmod is safe.
    if (n.flags & Meta.Chmod) fs.chmodSync(n.path, n.mode);
    fs.lutimesSync(n.path, n.mtime, n.mtime);
  }
}

/**
 * Runs the batch's operations from `start`; returns where it stopped: the end, or an operation
 * that has to wait for the pending nodes.
 */
function run(buf: ArrayBuffer, start: number, length: number): number {
  const view = new DataView(buf);
  const bytes = Buffer.from(buf);
  let at = start;
  const u8 = (): number => view.getUint8(at++);
  const u32 = (): number => {
    const n = view.getUint32(at, true);
    at += 4;
    return n;
  };
  const f64 = (): number => {
    const n = view.getFloat64(at, true);
    at += 8;
    return n;
  };
  const str = (): string => {
    const n = u32();
    const s = bytes.toString('utf8', at, at + n);
    at += n;
    return s;
  };
  while (at < length) {
    if (pending.length > 0 && WAITS_FOR_NODES.has(view.getUint8(at))) return at;
    const op = u8();
    switch (op) {
      case Op.Mkdir: {
        current = str();
        fs.mkdirSync(current, u32());
        break;
      }
      case Op.Open: {
        current = str();
        const mode = u32();
        // One tree per worker: a filesystem that refuses direct writes is asked once.
        file = NewFile.create(current, mode, { size: f64(), where: 0 });
        break;
      }
      case Op.Data: {
        const n = u32();
        file!.write(bytes, at, n);
        at += n;
        break;
      }
      case Op.Close: {
        const flags = u8();
        const uid = u32();
        const gid = u32();
        const mode = u32();
        const mtime = f64();
        const done = file!;
        file = undefined;
        try {
          done.endSync();
          const f = done.fd;
          // chown clears setuid/setgid and security.capability, so it comes first.
          if (flags & Meta.Chown) fs.fchownSync(f, uid, gid);
          if (flags & Meta.Chmod) fs.fchmodSync(f, mode);
          fs.futimesSync(f, mtime, mtime);
        } finally {
          done.closeSync();
        }
        break;
      }
      case Op.Symlink: {
        current = str();
        const target = str();
        const flags = u8();
        const uid = u32();
        const gid = u32();
        const mtime = f64();
        fs.symlinkSync(target, current);
        if (flags & Meta.Chown) fs.lchownSync(current, uid, gid);
        fs.lutimesSync(current, mtime, mtime);
        break;
      }
      case Op.Link: {
        const target = str();
        current = str();
        fs.linkSync(target, current);
        break;
      }
      case Op.Unlink: {
        current = str();
        fs.unlinkSync(current);
        break;
      }
      case Op.Mknod: {
        current = str();
        const kind = KINDS[u8()]!;
        const mode = u32();
        const major = u32();
        const minor = u32();
        const flags = u8();
        const uid = u32();
        const gid = u32();
        const mtime = f64();
        nodes.add(current, kind, mode, major, minor);
        pending.push({ path: current, flags, uid, gid, mode, mtime });
        break;
      }
      case Op.DirMeta: {
        current = str();
        const flags = u8();
        const uid = u32();
        const gid = u32();
        const mode = u32();
        const mtime = f64();
        if (flags & Meta.Chown) fs.chownSync(current, uid, gid);
        if (flags & Meta.Chmod) fs.chmodSync(current, mode);
        if (flags & Meta.Times) fs.utimesSync(current, mtime, mtime);
        break;
      }
      case Op.Fence: {
        // The other worker makes something this batch needs (a parent directory, a link target).
        const w = u8();
        const seq = u32();
        for (let n = Atomics.load(counters, w); n < seq; n = Atomics.load(counters, w)) {
          if (Atomics.load(counters, Shared.Stop)) throw new Error('stopped while waiting for the other writer thread');
          Atomics.wait(counters, w, n, 100);
        }
        break;
      }
      default:
        throw new Error(`unknown operation ${op} at byte ${at - 1} of a batch`);
    }
  }
  return at;
}

/** The whole batch; the nodes it made exist when it is given back (the other writer may link to them). */
async function runBatch(buf: ArrayBuffer, length: number): Promise<void> {
  for (let at = 0; at < length; ) {
    at = run(buf, at, length);
    await settleNodes();
  }
  await settleNodes();
}

type Message = WorkerSetup | { type: 'batch'; buf: ArrayBuffer; length: number } | { type: 'end' };

async function handle(m: Message): Promise<void> {
  if (m.type === 'setup') {
    setup = m;
    counters = new Int32Array(m.shared);
    return;
  }
  if (failed) return;
  if (m.type === 'end') {
    port.postMessage({ type: 'done' });
    port.close();
    return;
  }
  try {
    await runBatch(m.buf, m.length);
    Atomics.add(counters, setup.index, 1);
    Atomics.notify(counters, setup.index);
    port.postMessage({ type: 'batch', buf: m.buf }, [m.buf]);
  } catch (err) {
    failed = true;
    file?.closeSync();
    file = undefined;
    await nodes.settle().catch(() => undefined);
    pending = [];
    const e = err as NodeJS.ErrnoException;
    port.postMessage({ type: 'error', error: { message: e.message, code: e.code, syscall: e.syscall, path: current } });
  }
}

// A batch may wait for mknod(1) processes: the next message waits for it, so batches stay in order.
let queue = Promise.resolve();
port.on('message', (m: Message) => {
  queue = queue.then(() => handle(m));
});
