import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync, linkSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldNow } from 'node:timers/promises';
import { diffTreeLines, diffTrees, emptyDiffStats } from './diff.js';
import { sha256 } from './objects.js';
import type { StoreRef } from './refs.js';
import { restoreTree } from './restore.js';
import { Scanner } from './scan.js';
import { Store } from './store.js';
import { comparePaths, readTree, TreeWriter } from './tree.js';
import { toPrune } from './retention.js';
import { currentOwner, processStart } from '@imgport/runtime';

const base = mkdtempSync(join(tmpdir(), 'imgport-store-'));
after(() => rmSync(base, { recursive: true, force: true }));

let seq = 0;
/** A snapshot of `root`'s subtree `rel` the way the engine takes one: lease, scan, tree object, ref. */
async function snap(store: Store, dir: string, image: string, parent?: StoreRef): Promise<StoreRef> {
  const lease = store.lease();
  const file = join(base, `tree-${seq++}.gz`);
  try {
    const out = new TreeWriter(file);
    const stats = await new Scanner({ base: dir, roots: ['img'], out, objects: store.objects, lease, ...(parent ? { parent: store.treeLines(parent), parentAlive: () => store.refs.exists(parent.image, parent.stamp) } : {}) }).run();
    await out.close();
    const saved = await store.saveTree(file, parent, stats.entries, lease);
    const tree = saved.tree;
    const rowsData = Buffer.from('{}');
    lease.add([sha256(rowsData)]);
    const rows = store.objects.putBuffer(rowsData).digest;
    const n = seq;
    const stamp = `20260101T${String(Math.floor(n / 3600) % 24).padStart(2, '0')}${String(Math.floor(n / 60) % 60).padStart(2, '0')}${String(n % 60).padStart(2, '0')}Z`;
    const ref: StoreRef = { version: 1, id: `${image}@${stamp}`, image, stamp, signer: null, pinned: false, createdAt: new Date().toISOString(), tree, ...(saved.base ? { base: saved.base } : {}), rows, roots: ['img'], stats, ...(parent ? { parent: parent.id } : {}) };
    store.refs.write(ref);
    return ref;
  } finally {
    lease.release();
    rmSync(file, { force: true });
  }
}

async function entries(store: Store, ref: StoreRef) {
  const out = [];
  for await (const e of store.tree(ref)) out.push(e);
  return out;
}

test('scan → tree in path order, digests reused when unchanged, diff names what changed, restore rebuilds it', async () => {
  const dir = join(base, 'a');
  const img = join(dir, 'img');
  mkdirSync(join(img, 'etc'), { recursive: true });
  mkdirSync(join(img, 'etc-old'), { recursive: true });
  writeFileSync(join(img, 'etc', 'hosts'), '127.0.0.1 localhost\n');
  writeFileSync(join(img, 'etc-old', 'x'), 'x');
  const big = randomBytes(12 * 1024 * 1024);
  writeFileSync(join(img, 'big'), big);
  writeFileSync(join(img, 'tool'), 'binary', { mode: 0o755 });
  linkSync(join(img, 'tool'), join(img, 'tool-link'));
  symlinkSync('etc/hosts', join(img, 'hosts'));
  const store = new Store(join(base, 'data-a'));
  const one = await snap(store, dir, 'img');
  const list = await entries(store, one);
  assert.deepEqual(list.map((e) => e.p), ['img', 'img/big', 'img/etc', 'img/etc/hosts', 'img/etc-old', 'img/etc-old/x', 'img/hosts', 'img/tool', 'img/tool-link']);
  assert.deepEqual([...list.map((e) => e.p)].sort(comparePaths), list.map((e) => e.p));
  const bigEntry = list.find((e) => e.p === 'img/big')!;
  assert.ok(bigEntry.c && bigEntry.c.length > 4, 'a 12 MiB file is chunked');
  assert.equal(list.find((e) => e.p === 'img/tool-link')!.k, 'img/tool');
  assert.equal(list.find((e) => e.p === 'img/hosts')!.l, 'etc/hosts');

  const two = await snap(store, dir, 'img', one);
  assert.equal(two.stats.hashed, 0, 'nothing changed: nothing hashed');
  assert.equal(two.stats.added, 0);

  // Rewrite 100 KiB in the middle of the big file, chmod, retarget the link.
  const edited = Buffer.from(big);
  randomBytes(100 * 1024).copy(edited, 2 * 1024 * 1024);
  writeFileSync(join(img, 'big'), edited);
  chmodSync(join(img, 'etc', 'hosts'), 0o600);
  rmSync(join(img, 'hosts'));
  symlinkSync('/etc/hosts', join(img, 'hosts'));
  writeFileSync(join(img, 'new'), 'new');
  rmSync(join(img, 'etc-old'), { recursive: true });
  const three = await snap(store, dir, 'img', two);
  assert.equal(three.stats.hashed, 3, 'only the rewritten, the chmodded (its ctime moved) and the new file are hashed');
  assert.ok(three.stats.added < 3.5 * 1024 * 1024, `a partial rewrite costs its chunks (${three.stats.added} bytes added)`);

  const stats = emptyDiffStats();
  const changes = [];
  for await (const c of diffTrees(store.tree(two), store.tree(three), stats)) changes.push(c);
  assert.deepEqual(
    changes.map((c) => [c.path, c.status, c.changes ?? []]),
    [
      ['img/big', 'changed', ['content', 'mtime']],
      ['img/etc/hosts', 'changed', ['mode']],
      ['img/etc-old', 'removed', []],
      ['img/etc-old/x', 'removed', []],
      ['img/hosts', 'changed', ['link']],
      ['img/new', 'added', []],
    ],
  );
  const viaLines = [];
  const lineStats = emptyDiffStats();
  for await (const c of diffTreeLines(store.treeLines(two), store.treeLines(three), lineStats)) viaLines.push(c);
  assert.deepEqual(viaLines, changes, 'the line merge finds the same changes');
  assert.deepEqual(lineStats, stats);
  const filtered = emptyDiffStats();
  for await (const _ of diffTrees(store.tree(two), store.tree(three), filtered, { paths: ['img/etc'] })) void _;
  assert.equal(filtered.changed + filtered.added + filtered.removed, 1);

  // Restore snapshot two into a fresh directory and compare with what it was.
  const out = join(base, 'restored');
  const st = await restoreTree(store.tree(one), { objects: store.objects, dest: (p) => join(out, p) });
  assert.equal(st.entries, list.length);
  assert.deepEqual(readFileSync(join(out, 'img', 'big')), big);
  assert.equal(readlinkSync(join(out, 'img', 'hosts')), 'etc/hosts');
  assert.equal(lstatSync(join(out, 'img', 'tool')).ino, lstatSync(join(out, 'img', 'tool-link')).ino);
  assert.equal(lstatSync(join(out, 'img', 'etc', 'hosts')).mode & 0o777, 0o644);
  const drift = lstatSync(join(out, 'img', 'etc', 'hosts'), { bigint: true }).mtimeNs - BigInt(list.find((e) => e.p === 'img/etc/hosts')!.mt);
  assert.ok(drift <= 0n && drift > -1000n, `mtime restored to the microsecond (${drift} ns)`);

  // A corrupt object: fsck finds it, --repair moves it aside and the ref is reported broken.
  const victim = list.find((e) => e.p === 'img/etc/hosts')!.h!;
  const at = store.objects.locate(victim)!;
  chmodSync(at.file, 0o644);
  writeFileSync(at.file, 'tampered');
  const bad = await store.fsck(true);
  assert.deepEqual(bad.corrupt, [victim]);
  assert.ok(bad.missing.some((m) => m.digest === victim));
  assert.equal(store.objects.has(victim), false);
});

test('a hostile tree file is refused, naming the line', async () => {
  const file = join(base, 'hostile.gz');
  const { gzipSync } = await import('node:zlib');
  writeFileSync(file, gzipSync('{"p":"b","t":"f","m":0,"u":0,"g":0,"mt":"0"}\n{"p":"a","t":"f","m":0,"u":0,"g":0,"mt":"0"}\n'));
  await assert.rejects(async () => {
    for await (const _ of readTree(file)) void _;
  }, /line 2 is not a valid entry in order/);
});

test('retention keeps pinned, the newest N, and one per day and week', () => {
  const ref = (stamp: string, pinned = false) => ({ id: `i@${stamp}`, image: 'i', stamp, pinned }) as StoreRef;
  const refs = [ref('20260101T010000Z', true), ref('20260102T010000Z'), ref('20260102T020000Z'), ref('20260110T010000Z'), ref('20260111T010000Z'), ref('20260111T020000Z')];
  assert.deepEqual(toPrune(refs, { keepLast: 1 }).map((r) => r.stamp), ['20260111T010000Z', '20260110T010000Z', '20260102T020000Z', '20260102T010000Z']);
  assert.deepEqual(toPrune(refs, { keepLast: 1, daily: 2 }).map((r) => r.stamp), ['20260111T010000Z', '20260102T020000Z', '20260102T010000Z']);
  assert.deepEqual(toPrune(refs, { weekly: 2 }).map((r) => r.stamp), ['20260111T010000Z', '20260110T010000Z', '20260102T010000Z']);
});

test('snapshots and prunes run concurrently for 100 rounds: no ref ever misses an object', async () => {
  const dir = join(base, 'race');
  const img = join(dir, 'img');
  mkdirSync(img, { recursive: true });
  const files = Array.from({ length: 150 }, (_, i) => `f${i}`);
  for (const f of files) writeFileSync(join(img, f), `v0 ${f}`);
  const store = new Store(join(base, 'data-race'));
  let rand = 12345;
  const rnd = (n: number) => {
    rand = (rand * 1103515245 + 12345) & 0x7fffffff;
    return rand % n;
  };
  const jitter = async () => {
    for (let i = rnd(4); i > 0; i--) await yieldNow();
  };
  let last: StoreRef | undefined;
  for (let round = 0; round < 100; round++) {
    // Content comes back to earlier versions often, so new snapshots reuse objects a prune just orphaned.
    for (let i = 0; i < 10; i++) writeFileSync(join(img, files[rnd(files.length)]!), `v${rnd(3)} ${rnd(20)}`);
    const writers = [snap(store, dir, 'race', rnd(2) ? last : undefined), snap(store, dir, 'race', last)];
    const pruner = (async () => {
      await jitter();
      for (const r of toPrune(store.refs.list('race'), { keepLast: 1 })) store.refs.remove(r.image, r.stamp);
      await store.gc({ graceMs: 0, onStep: jitter }).catch((err: Error) => {
        if (!/collection is running/.test(err.message)) throw err;
      });
    })();
    const made = await Promise.all(writers);
    await pruner;
    last = made[1];
    const check = await store.fsck();
    assert.deepEqual(check.missing, [], `round ${round}`);
    assert.deepEqual(check.corrupt, [], `round ${round}`);
  }
  assert.deepEqual(readdirSync(join(store.root, 'leases')), [], 'every lease released');
});

test('the collection lock: a live collector holds it, one that is gone or a torn lock is taken over', async () => {
  const store = new Store(join(base, 'data-gclock'));
  mkdirSync(store.root, { recursive: true });
  const lock = join(store.root, 'gc.lock');
  const me = currentOwner();
  // The parent process (the test runner) is alive: its collection is running.
  const parent = { ...me, pid: process.ppid, start: processStart(process.ppid) ?? '' };
  writeFileSync(lock, JSON.stringify({ owner: parent }));
  await assert.rejects(store.gc({ graceMs: 0 }), (err: Error & { code?: string }) => err.code === 'LOCKED' && err.message.includes(`process ${process.ppid}`));
  assert.equal(readFileSync(lock, 'utf8'), JSON.stringify({ owner: parent }), 'a live collector keeps its lock');
  for (const left of [JSON.stringify({ owner: { ...me, pid: 2 ** 22 - 3, start: '1' } }), JSON.stringify({ host: me.host, pid: 2 ** 22 - 3 }), '']) {
    writeFileSync(lock, left);
    await store.gc({ graceMs: 0 });
    assert.deepEqual(readdirSync(store.root).filter((n) => n.includes('lock')), [], `taken over and released: ${JSON.stringify(left)}`);
  }
});
