import { createRequire as __imgportRequire } from 'node:module'; const require = __imgportRequire(import.meta.url);

// packages/archive/dist/tree-ops-worker.js
import fs3 from "node:fs";
import { parentPort } from "node:worker_threads";

// packages/archive/dist/tree-ops-codes.js
var Op = { Mkdir: 1, Open: 2, Data: 3, Close: 4, Symlink: 5, Link: 6, Unlink: 7, Mknod: 8, DirMeta: 9, Fence: 10 };
var Meta = { Chown: 1, Chmod: 2, Times: 4 };
var Shared = { Stop: 2, Length: 3 };

// packages/archive/dist/tree-fs.js
import { createRequire } from "node:module";
var require2 = createRequire(import.meta.url);
var NodeBatch = class {
  devices;
  fifos;
  add(path, kind, mode, major = 0, minor = 0) {
    const perm = (mode & 511).toString(8);
    if (kind === "p")
      (this.fifos ??= maker("mkfifo", 2)).add([perm, path]);
    else
      (this.devices ??= maker("mknod", 5)).add([perm, path, kind, String(major), String(minor)]);
  }
  /** Resolves once every node added so far exists; rejects with what the program said otherwise. */
  async settle() {
    const running = [this.devices, this.fifos].filter((m) => m !== void 0);
    this.devices = this.fifos = void 0;
    const failures = await Promise.all(running.map((m) => m.end()));
    const failure = failures.find((f) => f !== void 0);
    if (failure)
      throw failure;
  }
};
var spawn;
function maker(cmd, n) {
  spawn ??= require2("node:child_process").spawn;
  const child = spawn("xargs", ["-0", "-n", String(n), cmd, "-m"], { stdio: ["pipe", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d) => {
    if (stderr.length < 4e3)
      stderr += d;
  });
  child.stdin.on("error", () => void 0);
  const exited = new Promise((resolve) => {
    child.on("error", (err) => resolve(Object.assign(new Error(`${cmd}: cannot run xargs: ${err.message}`), { code: "ENOENT_MKNOD", syscall: "mknod" })));
    child.on("close", (code, signal) => {
      if (code === 0)
        return resolve(void 0);
      const text = stderr.trim();
      const kind = code === 127 ? "ENOENT_MKNOD" : /exists/i.test(text) ? "EEXIST" : "EMKNOD";
      resolve(Object.assign(new Error(text || `${cmd} exited with ${code ?? signal}`), { code: kind, syscall: "mknod" }));
    });
  });
  return {
    add: (args) => void child.stdin.write(args.map((a) => `${a}\0`).join("")),
    end: () => {
      child.stdin.end();
      return exited;
    }
  };
}

// packages/archive/dist/new-file.js
import fs2 from "node:fs";

// packages/archive/dist/direct-io.js
import fs from "node:fs";
var BLOCK = 4096;
var BOUNCE = 512 * 1024;
var WASM_PAGE = 64 * 1024;
var O_DIRECT = fs.constants.O_DIRECT ?? 0;
var refused = /* @__PURE__ */ new Set();
var spare = [];
var seams = { misalign: 0 };
function bounce() {
  const reused = spare.pop();
  if (reused && reused.byteOffset === seams.misalign)
    return reused;
  const pages = Math.ceil((BOUNCE + seams.misalign) / WASM_PAGE);
  return Buffer.from(new WebAssembly.Memory({ initial: pages, maximum: pages }).buffer, seams.misalign, BOUNCE);
}
function giveBack(b) {
  if (b && spare.length < 3)
    spare.push(b);
}

// packages/archive/dist/new-file.js
var DIRECT_MIN = 64 * 1024;
var C = fs2.constants;
var O_NEW = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;
var NewFile = class _NewFile {
  path;
  opts;
  /** The open descriptor, for metadata calls after end(); the caller closes it. */
  fd;
  buf;
  fill = 0;
  /** File offset of the next write: of buf[0] while direct. */
  pos = 0;
  /** A queued direct write in flight, and the buffer it writes. */
  inFlight;
  flying;
  failure;
  closed = false;
  constructor(path, opts, fd, direct) {
    this.path = path;
    this.opts = opts;
    this.fd = fd;
    if (direct)
      this.buf = bounce();
  }
  /** Creates `path` with `mode`: exclusive, never through a symlink. */
  static create(path, mode, opts) {
    if (O_DIRECT === 0 || opts.size < DIRECT_MIN || refused.has(opts.where))
      return new _NewFile(path, opts, fs2.openSync(path, O_NEW, mode), false);
    try {
      return new _NewFile(path, opts, fs2.openSync(path, O_NEW | O_DIRECT, mode), true);
    } catch (err) {
      if (err.code !== "EINVAL")
        throw err;
      refused.add(opts.where);
      const st = fs2.lstatSync(path, { throwIfNoEntry: false });
      if (st?.isFile() && st.size === 0 && st.nlink === 1)
        fs2.unlinkSync(path);
      return new _NewFile(path, opts, fs2.openSync(path, O_NEW, mode), false);
    }
  }
  get direct() {
    return this.buf !== void 0;
  }
  /** Writes src[off, off + len); a queued file may return a promise: wait for it before the next call. */
  write(src, off = 0, len = src.length - off) {
    this.open();
    while (this.buf && len > 0) {
      if (this.fill === BOUNCE) {
        if (!this.opts.queued)
          this.flush(BOUNCE);
        else {
          const wait = this.queue();
          if (wait)
            return wait.then(() => this.write(src, off, len));
        }
        continue;
      }
      const n = Math.min(len, BOUNCE - this.fill);
      this.buf.set(src.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      len -= n;
    }
    if (len > 0)
      this.buffered(src, off, len);
    return void 0;
  }
  /** Writes what is held back: the file then has exactly the bytes written. */
  async end() {
    await this.landed();
    this.endSync();
  }
  /** end() for a file that is not queued. */
  endSync() {
    this.open();
    const buf = this.buf;
    if (!buf)
      return;
    const whole = this.fill - this.fill % BLOCK;
    const tail = this.fill - whole;
    if (whole > 0) {
      this.fill = whole;
      if (!this.flush(whole)) {
        this.buffered(buf, whole, tail);
        return;
      }
    }
    if (tail > 0) {
      const ino = fs2.fstatSync(this.fd).ino;
      let fd;
      try {
        fd = reopen(this.path, (st) => st.ino === ino);
      } catch (err) {
        const code = err.code;
        if (code !== "EACCES" && code !== "EPERM")
          throw err;
        buf.copyWithin(0, whole, whole + tail);
        buf.fill(0, tail, BLOCK);
        this.fill = tail;
        this.flush(BLOCK);
        fs2.ftruncateSync(this.fd, this.pos - BLOCK + tail);
        return;
      }
      try {
        for (let done = 0; done < tail; )
          done += fs2.writeSync(fd, buf, whole + done, tail - done, this.pos + done);
      } finally {
        fs2.closeSync(fd);
      }
      this.pos += tail;
    }
  }
  /** Closes the descriptor once no queued write can still reach it (also when abandoning the file). */
  async close() {
    await this.landed().catch(() => void 0);
    this.closeSync();
  }
  /** close() for a file that is not queued. Later calls do nothing: the number may name another file by then. */
  closeSync() {
    if (this.closed)
      return;
    this.closed = true;
    giveBack(this.buf);
    this.buf = void 0;
    fs2.closeSync(this.fd);
  }
  /** A write after close (a writer racing its own abandonment) must not reach whatever has the number now. */
  open() {
    if (this.closed)
      throw Object.assign(new Error(`${this.path} was closed while it was being written`), { code: "EBADF", syscall: "write", path: this.path });
  }
  buffered(src, off, len) {
    for (let done = 0; done < len; )
      done += fs2.writeSync(this.fd, src, off + done, len - done, this.pos + done);
    this.pos += len;
  }
  /** Writes buf[0, n) at pos, whole blocks; false when it fell back to buffered writes (which wrote them). */
  flush(n) {
    const buf = this.buf;
    let done = 0;
    try {
      while (done < n)
        done += fs2.writeSync(this.fd, buf, done, n - done, this.pos + done);
    } catch (err) {
      if (err.code !== "EINVAL")
        throw err;
      this.toBuffered();
      this.buffered(buf, done, n - done);
      giveBack(buf);
      return false;
    }
    this.pos += n;
    this.fill = 0;
    return true;
  }
  /** Sends the full buffer to the pool and fills another; a promise when the previous write is still landing. */
  queue() {
    if (this.inFlight)
      return this.landed();
    const buf = this.buf;
    const at = this.pos;
    this.flying = buf;
    this.buf = bounce();
    this.fill = 0;
    this.pos += BOUNCE;
    this.inFlight = writeAll(this.fd, buf, BOUNCE, at).then(() => void 0, (err) => {
      if (err.code !== "EINVAL") {
        this.failure = err;
        return;
      }
      const held = this.buf;
      const fill = this.fill;
      this.toBuffered();
      this.pos = at;
      this.buffered(buf, 0, BOUNCE);
      this.buffered(held, 0, fill);
      giveBack(held);
    });
    return void 0;
  }
  /** Waits for the queued write; throws its error. */
  async landed() {
    if (!this.inFlight)
      return;
    await this.inFlight;
    this.inFlight = void 0;
    if (this.flying)
      giveBack(this.flying);
    this.flying = void 0;
    if (this.failure)
      throw this.failure;
  }
  /** The filesystem took the open but not a write (other alignment, or no direct I/O after all). */
  toBuffered() {
    refused.add(this.opts.where);
    const ino = fs2.fstatSync(this.fd).ino;
    const fd = reopen(this.path, (st) => st.ino === ino);
    fs2.closeSync(this.fd);
    this.fd = fd;
    this.buf = void 0;
    this.fill = 0;
  }
};
function writeAll(fd, buf, n, pos) {
  return new Promise((resolve, reject) => {
    const step = (done) => {
      if (done >= n)
        return resolve();
      fs2.write(fd, buf, done, n - done, pos === null ? null : pos + done, (err, wrote) => err ? reject(err) : step(done + wrote));
    };
    step(0);
  });
}
function reopen(path, ours) {
  const fd = fs2.openSync(path, C.O_WRONLY | C.O_NOFOLLOW);
  const st = fs2.fstatSync(fd);
  if (!st.isFile() || st.nlink !== 1 || !ours(st)) {
    fs2.closeSync(fd);
    throw Object.assign(new Error(`${path} is no longer the file being written`), { code: "EEXIST", syscall: "open", path });
  }
  return fd;
}

// packages/archive/dist/tree-ops-worker.js
var port = parentPort;
var setup;
var counters;
var KINDS = ["c", "b", "p"];
var file;
var failed = false;
var current = "";
var pending = [];
var nodes = new NodeBatch();
var WAITS_FOR_NODES = /* @__PURE__ */ new Set([Op.Link, Op.Unlink, Op.DirMeta]);
async function settleNodes() {
  const made = pending;
  pending = [];
  if (made.length === 0)
    return;
  current = made[0].path;
  await nodes.settle();
  for (const n of made) {
    current = n.path;
    if (n.flags & Meta.Chown)
      fs3.lchownSync(n.path, n.uid, n.gid);
    if (n.flags & Meta.Chmod)
      fs3.chmodSync(n.path, n.mode);
    fs3.lutimesSync(n.path, n.mtime, n.mtime);
  }
}
function run(buf, start, length) {
  const view = new DataView(buf);
  const bytes = Buffer.from(buf);
  let at = start;
  const u8 = () => view.getUint8(at++);
  const u32 = () => {
    const n = view.getUint32(at, true);
    at += 4;
    return n;
  };
  const f64 = () => {
    const n = view.getFloat64(at, true);
    at += 8;
    return n;
  };
  const str = () => {
    const n = u32();
    const s = bytes.toString("utf8", at, at + n);
    at += n;
    return s;
  };
  while (at < length) {
    if (pending.length > 0 && WAITS_FOR_NODES.has(view.getUint8(at)))
      return at;
    const op = u8();
    switch (op) {
      case Op.Mkdir: {
        current = str();
        fs3.mkdirSync(current, u32());
        break;
      }
      case Op.Open: {
        current = str();
        const mode = u32();
        file = NewFile.create(current, mode, { size: f64(), where: 0 });
        break;
      }
      case Op.Data: {
        const n = u32();
        file.write(bytes, at, n);
        at += n;
        break;
      }
      case Op.Close: {
        const flags = u8();
        const uid = u32();
        const gid = u32();
        const mode = u32();
        const mtime = f64();
        const done = file;
        file = void 0;
        try {
          done.endSync();
          const f = done.fd;
          if (flags & Meta.Chown)
            fs3.fchownSync(f, uid, gid);
          if (flags & Meta.Chmod)
            fs3.fchmodSync(f, mode);
          fs3.futimesSync(f, mtime, mtime);
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
        fs3.symlinkSync(target, current);
        if (flags & Meta.Chown)
          fs3.lchownSync(current, uid, gid);
        fs3.lutimesSync(current, mtime, mtime);
        break;
      }
      case Op.Link: {
        const target = str();
        current = str();
        fs3.linkSync(target, current);
        break;
      }
      case Op.Unlink: {
        current = str();
        fs3.unlinkSync(current);
        break;
      }
      case Op.Mknod: {
        current = str();
        const kind = KINDS[u8()];
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
        if (flags & Meta.Chown)
          fs3.chownSync(current, uid, gid);
        if (flags & Meta.Chmod)
          fs3.chmodSync(current, mode);
        if (flags & Meta.Times)
          fs3.utimesSync(current, mtime, mtime);
        break;
      }
      case Op.Fence: {
        const w = u8();
        const seq = u32();
        for (let n = Atomics.load(counters, w); n < seq; n = Atomics.load(counters, w)) {
          if (Atomics.load(counters, Shared.Stop))
            throw new Error("stopped while waiting for the other writer thread");
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
async function runBatch(buf, length) {
  for (let at = 0; at < length; ) {
    at = run(buf, at, length);
    await settleNodes();
  }
  await settleNodes();
}
async function handle(m) {
  if (m.type === "setup") {
    setup = m;
    counters = new Int32Array(m.shared);
    return;
  }
  if (failed)
    return;
  if (m.type === "end") {
    port.postMessage({ type: "done" });
    port.close();
    return;
  }
  try {
    await runBatch(m.buf, m.length);
    Atomics.add(counters, setup.index, 1);
    Atomics.notify(counters, setup.index);
    port.postMessage({ type: "batch", buf: m.buf }, [m.buf]);
  } catch (err) {
    failed = true;
    file?.closeSync();
    file = void 0;
    await nodes.settle().catch(() => void 0);
    pending = [];
    const e = err;
    port.postMessage({ type: "error", error: { message: e.message, code: e.code, syscall: e.syscall, path: current } });
  }
}
var queue = Promise.resolve();
port.on("message", (m) => {
  queue = queue.then(() => handle(m));
});
//# sourceMappingURL=tree-ops-worker.js.map
