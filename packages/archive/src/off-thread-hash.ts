/**
 * SHA-256 on another thread. An export hashes every byte twice (each member for SHA256SUMS, the
 * whole bundle for its digest) and Node's hashes run on the calling thread: on a 100 MB bundle
 * that was 90% of the main thread's time while the bytes streamed, and the stream waited for it.
 * Here the bytes are copied into a ring shared with one worker thread per process, which hashes
 * them while the main thread reads, packs and writes the next; the copy costs a tenth of the hash.
 *
 * Memory is the ring (8 MiB) whatever the speeds: `update` resolves once its bytes are in the ring,
 * which waits while the worker is a ring behind. Messages are handled in order, so the ring is
 * freed in the order it was filled, for every hash in progress alike.
 */
import { Worker } from 'node:worker_threads';

const RING = 8 * 1024 * 1024;
/** Larger chunks go in pieces, so a few always fit. */
const PIECE = 1024 * 1024;

// The worker needs only node:crypto, so it is evaluated from this string (no file to find in a
// bundle, no TypeScript loader in tests).
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const ring = workerData.ring;
const hashes = new Map();
parentPort.on('message', (m) => {
  if (m.op === 'update') {
    let h = hashes.get(m.id);
    if (!h) hashes.set(m.id, (h = createHash('sha256')));
    h.update(new Uint8Array(ring, m.off, m.len));
    parentPort.postMessage({ op: 'ack' });
  } else if (m.op === 'digest') {
    const h = hashes.get(m.id) ?? createHash('sha256');
    hashes.delete(m.id);
    parentPort.postMessage({ op: 'digest', id: m.id, hex: h.digest('hex') });
  } else if (m.op === 'drop') {
    hashes.delete(m.id);
  }
});
`;

type Reply = { op: 'ack' } | { op: 'digest'; id: number; hex: string };

/** A chunk waiting for room in the ring, or a message to send after the chunks before it. */
type Waiting = { kind: 'chunk'; id: number; bytes: Uint8Array; done: () => void } | { kind: 'after'; send: () => void };

/** The process's hashing thread: started on first use, not keeping the process alive while idle. */
class HashThread {
  private readonly ring = new SharedArrayBuffer(RING);
  private readonly view = new Uint8Array(this.ring);
  private readonly worker: Worker;
  private nextId = 1;
  private open = 0;
  /** Where the next bytes go, and the ring's bytes each unacknowledged update holds (with any gap before it). */
  private head = 0;
  private used = 0;
  private readonly held: number[] = [];
  private readonly queue: Waiting[] = [];
  private readonly digests = new Map<number, { resolve: (hex: string) => void; reject: (err: Error) => void }>();
  failure: Error | undefined;

  constructor() {
    this.worker = new Worker(SOURCE, { eval: true, workerData: { ring: this.ring }, resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 16 } });
    this.worker.on('message', (m: Reply) => (m.op === 'ack' ? this.acked() : this.digested(m.id, m.hex)));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`the hashing thread exited (${code})`)));
    this.worker.unref();
  }

  start(): number {
    if (this.open++ === 0) this.worker.ref();
    return this.nextId++;
  }

  update(id: number, chunk: Uint8Array): Promise<void> | undefined {
    if (this.failure) throw this.failure;
    let last: Promise<void> | undefined;
    for (let off = 0; off < chunk.length; off += PIECE) {
      const bytes = chunk.subarray(off, Math.min(chunk.length, off + PIECE));
      if (this.queue.length === 0 && this.place(id, bytes)) continue;
      last = new Promise<void>((done) => this.queue.push({ kind: 'chunk', id, bytes, done }));
    }
    return last;
  }

  digest(id: number): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<string>((resolve, reject) => {
      this.digests.set(id, { resolve, reject });
      // After every queued chunk of this hash (the queue keeps their order).
      this.whenQueued(() => this.worker.postMessage({ op: 'digest', id }));
    });
  }

  drop(id: number): void {
    this.whenQueued(() => this.worker.postMessage({ op: 'drop', id }));
    this.end();
  }

  /** Copies `bytes` into the ring and sends them, if there is room now. */
  private place(id: number, bytes: Uint8Array): boolean {
    const n = bytes.length;
    // A piece that does not fit before the end starts over at 0; the gap is held with it.
    const wrap = this.head + n > RING;
    const gap = wrap ? RING - this.head : 0;
    if (this.used + gap + n > RING) return false;
    const off = wrap ? 0 : this.head;
    this.view.set(bytes, off);
    this.head = off + n;
    this.used += gap + n;
    this.held.push(gap + n);
    this.worker.postMessage({ op: 'update', id, off, len: n });
    return true;
  }

  private acked(): void {
    this.used -= this.held.shift() ?? 0;
    while (this.queue.length > 0) {
      const w = this.queue[0]!;
      if (w.kind === 'after') {
        this.queue.shift();
        w.send();
        continue;
      }
      if (!this.place(w.id, w.bytes)) return;
      this.queue.shift();
      w.done();
    }
  }

  /** Runs `fn` once the chunks queued so far are in the ring (at once when none wait). */
  private whenQueued(fn: () => void): void {
    if (this.queue.length === 0) return fn();
    this.queue.push({ kind: 'after', send: fn });
  }

  private digested(id: number, hex: string): void {
    const d = this.digests.get(id);
    this.digests.delete(id);
    this.end();
    d?.resolve(hex);
  }

  private end(): void {
    if (--this.open === 0) this.worker.unref();
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const d of this.digests.values()) d.reject(err);
    this.digests.clear();
    for (const w of this.queue.splice(0)) if (w.kind === 'chunk') w.done();
  }
}

let thread: HashThread | undefined;

function hashThread(): HashThread {
  if (!thread || thread.failure) thread = new HashThread();
  return thread;
}

/**
 * Starts the hashing thread now, if it is not running: its boot (~35 ms of a core) then overlaps
 * with what the caller does before the first bytes, which otherwise waited for it with the ring
 * full. Idle, it does not keep the process alive.
 */
export function prestartHashThread(): void {
  hashThread();
}

/** One SHA-256 computed on the hashing thread; `digest` ends it, `drop` abandons it. */
export class OffThreadSha256 {
  private readonly thread: HashThread;
  private readonly id: number;
  private result: Promise<string> | undefined;
  private dropped = false;

  constructor() {
    this.thread = hashThread();
    this.id = this.thread.start();
  }

  /**
   * Takes a copy of `chunk`; resolves once it is taken (undefined: taken already). Until then
   * the chunk must stay as it is (stream chunks do: they are only read downstream).
   */
  update(chunk: Uint8Array): Promise<void> | undefined {
    return this.thread.update(this.id, chunk);
  }

  /** The hex digest of everything given to `update`; asked again, the same. */
  digest(): Promise<string> {
    return (this.result ??= this.thread.digest(this.id));
  }

  /** Abandons the hash (after a failure); nothing once it has been digested. */
  drop(): void {
    if (this.result || this.dropped) return;
    this.dropped = true;
    this.thread.drop(this.id);
  }
}
