/**
 * A queue of the tree writer's filesystem calls, done in order by its own worker thread
 * (tree-ops-worker.ts; the writer runs two) while the calling thread inflates and parses (PERFORMANCE.md: this is what overlaps the two,
 * and it keeps the caller's event loop free, so a queue job keeps renewing its lock).
 *
 * Operations are encoded into batches: ArrayBuffers of BATCH bytes that cycle between the
 * threads (transferred, never copied, and reused: no garbage per chunk). File data is copied
 * into the batch once, so the zlib chunk it came from can be dropped at once. At most POOL
 * batches are in flight; `drain()` waits until that holds, so memory is bounded whatever the size.
 *
 * The worker only executes: every decision (which path, whether it may be created, what to
 * replace) is made by TreeWriter before an operation is queued. A failing call stops the worker,
 * which reports the error with the path it was working on.
 */
import { Worker } from 'node:worker_threads';
import { ImgportError, toImgportError } from '@imgport/runtime';
import { Op, Shared } from './tree-ops-codes.js';

export { Meta, Op, Shared } from './tree-ops-codes.js';

// 256 KiB batches, up to 4 in flight: 1 MiB of work ahead for the worker, little memory.
const BATCH = 256 * 1024;
const POOL = 4;

export interface WorkerFailure {
  message: string;
  code?: string;
  syscall?: string;
  path?: string;
}

type FromWorker = { type: 'batch'; buf: ArrayBuffer } | { type: 'error'; error: WorkerFailure } | { type: 'done' };

/** The worker holds one batch at a time and a few path strings: a small heap is plenty. */
const LIMITS = { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 };

/**
 * The worker's module: tree-ops-worker.js next to this file in dist. From the TypeScript
 * sources (the tests, under tsx) the worker registers tsx itself first: loader hooks given with
 * --import do not reach worker threads on Node 20.
 */
function startWorker(): Worker {
  const opts = { resourceLimits: LIMITS };
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./tree-ops-worker.js', import.meta.url), opts);
  const entry = JSON.stringify(new URL('./tree-ops-worker.ts', import.meta.url).href);
  return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${entry}); });`, { ...opts, eval: true });
}

/**
 * A worker started ahead (prestartWriterThread) for the next queue to take. Starting one takes
 * a new V8 isolate and Node's bootstrap, ~50 ms of a core on the machines measured, and the
 * first entries of a root image waited for it; started when an import begins, it boots on the
 * other core while the bundle is opened and staged.
 */
let spare: Worker | undefined;

/**
 * Starts a writer thread now for the next tree writer, unless one is waiting already. While it
 * waits it does not keep the process alive, and if it fails it is dropped (the writer then
 * starts its own).
 */
export function prestartWriterThread(): void {
  if (spare) return;
  const w = startWorker();
  const drop = (): void => {
    if (spare === w) spare = undefined;
  };
  w.once('error', drop);
  w.once('exit', drop);
  w.unref();
  spare = w;
}

/**
 * The waiting writer thread, or a new one. The queue's own listeners go on before this thread
 * returns to the event loop, so they see anything that befell the spare since (events are
 * emitted from the loop).
 */
function takeWorker(): Worker {
  const w = spare;
  if (!w) return startWorker();
  spare = undefined;
  w.removeAllListeners('error');
  w.removeAllListeners('exit');
  w.ref();
  return w;
}

/** The first message a worker gets: who it is, before any batch. */
export interface WorkerSetup {
  type: 'setup';
  /** Which of the writer's workers this is (0 or 1): its slot in `shared`. */
  index: number;
  /** Shared counters (tree-ops-codes Shared): batches each worker has done, and a stop flag. */
  shared: SharedArrayBuffer;
}

/**
 * The counters two queues share, so that one worker can wait (a Fence operation) for a batch
 * of the other: a directory made by one before the files the other creates in it.
 */
export function sharedCounters(): SharedArrayBuffer {
  return new SharedArrayBuffer(4 * Shared.Length);
}

export class OpQueue {
  private readonly worker: Worker;
  private readonly counters: Int32Array;
  private readonly free: ArrayBuffer[] = [];
  private buf: ArrayBuffer;
  private view: DataView;
  private bytes: Buffer;
  private at = 0;
  /** Batches sent and not yet given back. */
  private inFlight = 0;
  private failure: ImgportError | undefined;
  private finished = false;
  private wake: (() => void) | undefined;
  /** Called with each batch's sequence number once the worker has done all of it. */
  private sent = 0;
  private doneCount = 0;

  constructor(
    readonly index: number,
    shared: SharedArrayBuffer,
    private readonly onBatchDone: (seq: number) => void = () => {},
  ) {
    this.worker = takeWorker();
    this.worker.postMessage({ type: 'setup', index, shared } satisfies WorkerSetup);
    this.counters = new Int32Array(shared);
    this.buf = new ArrayBuffer(BATCH);
    this.view = new DataView(this.buf);
    this.bytes = Buffer.from(this.buf);
    this.worker.on('message', (m: FromWorker) => {
      if (m.type === 'batch') {
        this.inFlight--;
        this.onBatchDone(++this.doneCount);
        if (this.free.length < POOL) this.free.push(m.buf);
      } else if (m.type === 'error') this.fail(workerError(m.error));
      else this.finished = true;
      this.wake?.();
    });
    this.worker.on('error', (err) => this.fail(toImgportError(err)));
    this.worker.on('exit', (code) => {
      if (!this.finished) this.fail(new ImgportError('INTERNAL', `tree writer worker exited (status ${code}) before it finished`));
      this.wake?.();
    });
  }

  /** The sequence number the batch being filled will have (for onBatchDone). */
  get seq(): number {
    return this.sent + 1;
  }

  /** Batches the worker has done. */
  get done(): number {
    return this.doneCount;
  }

  /** Makes this queue's worker wait until the other worker `w` has done its batch `seq` (already sent). */
  fence(w: number, seq: number): void {
    this.begin(8);
    this.op(Op.Fence).u8(w).u32(seq);
  }

  /** Sends the batch being filled, if any. */
  flush(): void {
    if (this.at > 0) this.send();
  }

  /** Sends what is queued and waits until the worker has done all of it. */
  async settle(): Promise<void> {
    this.flush();
    while (this.inFlight > 0 && !this.failure) await new Promise<void>((r) => (this.wake = r));
    this.wake = undefined;
    if (this.failure) throw this.failure;
  }

  /** The first failure of the worker, if any: thrown by the next drain()/finish(). */
  get error(): ImgportError | undefined {
    return this.failure;
  }

  // --- encoding (synchronous: never waits; drain() is where the caller waits)

  op(op: Op): this {
    this.room(1);
    this.view.setUint8(this.at++, op);
    return this;
  }

  u8(n: number): this {
    this.room(1);
    this.view.setUint8(this.at++, n);
    return this;
  }

  u32(n: number): this {
    this.room(4);
    this.view.setUint32(this.at, n >>> 0, true);
    this.at += 4;
    return this;
  }

  f64(n: number): this {
    this.room(8);
    this.view.setFloat64(this.at, n, true);
    this.at += 8;
    return this;
  }

  str(s: string): this {
    const max = s.length * 3;
    this.room(4 + max);
    const n = this.bytes.write(s, this.at + 4, 'utf8');
    this.view.setUint32(this.at, n, true);
    this.at += 4 + n;
    return this;
  }

  /** Raw bytes with their length (xattr values). Small: always fits in one batch. */
  blob(b: Uint8Array): this {
    this.room(4 + b.length);
    this.view.setUint32(this.at, b.length, true);
    this.bytes.set(b, this.at + 4);
    this.at += 4 + b.length;
    return this;
  }

  /** File data for the open file, split over batches as needed. */
  data(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length) {
      if (BATCH - this.at < 64) this.send();
      const n = Math.min(chunk.length - off, BATCH - this.at - 5);
      this.view.setUint8(this.at, Op.Data);
      this.view.setUint32(this.at + 1, n, true);
      this.bytes.set(chunk.subarray(off, off + n), this.at + 5);
      this.at += 5 + n;
      off += n;
    }
  }

  /** An operation is written whole into one batch: start a new one when it would not fit. */
  begin(room: number): void {
    if (BATCH - this.at < room) this.send();
  }

  private room(n: number): void {
    if (this.at + n > BATCH) throw new ImgportError('INTERNAL', 'tree writer: operation larger than its batch');
  }

  // --- flow

  /**
   * Sends what is queued and waits until at most POOL batches are in flight. A batch less than
   * half full waits for more unless the worker has nothing to do: drain() comes after every
   * input chunk, and sending each partial batch cost a message (and a wake-up) per chunk and queue.
   */
  async drain(): Promise<void> {
    if (this.at > 0 && (this.inFlight === 0 || this.at >= BATCH / 2)) this.send();
    while (this.inFlight > POOL && !this.failure) await new Promise<void>((r) => (this.wake = r));
    this.wake = undefined;
    if (this.failure) throw this.failure;
  }

  /** Sends the rest and waits for the worker to have done everything. */
  async finish(): Promise<void> {
    if (this.at > 0) this.send();
    this.worker.postMessage({ type: 'end' });
    while (!this.finished && !this.failure) await new Promise<void>((r) => (this.wake = r));
    this.wake = undefined;
    if (this.failure) throw this.failure;
    await this.worker.terminate();
  }

  /** Stops the worker (and the other's, should it wait at a fence); once this resolves it makes no more calls. */
  async abort(): Promise<void> {
    Atomics.store(this.counters, Shared.Stop, 1);
    await this.worker.terminate();
  }

  private send(): void {
    if (this.failure) throw this.failure;
    const buf = this.buf;
    this.worker.postMessage({ type: 'batch', buf, length: this.at }, [buf]);
    this.inFlight++;
    this.sent++;
    this.buf = this.free.pop() ?? new ArrayBuffer(BATCH);
    this.view = new DataView(this.buf);
    this.bytes = Buffer.from(this.buf);
    this.at = 0;
  }

  private fail(err: ImgportError): void {
    this.failure ??= err;
  }
}

/** A system error keeps its errno, so it is classified as it would have been in this thread. */
function workerError(f: WorkerFailure): ImgportError {
  if (f.code && f.syscall) {
    const err = Object.assign(new Error(`${f.message}`), { code: f.code, syscall: f.syscall, ...(f.path ? { path: f.path } : {}) });
    return new ImgportError('IO_ERROR', `${f.syscall} failed: ${f.message}`, { cause: err, ...(f.path ? { where: f.path } : {}) });
  }
  return new ImgportError('INTERNAL', `tree writer worker: ${f.message}`, f.path ? { where: f.path } : undefined);
}
