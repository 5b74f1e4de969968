import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { takeLockFile, type LockVerdict } from '@imgport/runtime';

const STALE = 'left by a process that is gone';

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgport-lockfile-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const judge = (text: string): LockVerdict => (text === STALE ? 'stale' : text.startsWith('{') ? 'invalid' : 'held');

test(
  'a lock is exclusive until released; the record is whole under its name; no private file is left',
  withDir(async (dir) => {
    const path = join(dir, 'locks', 'a.lock');
    const first = await takeLockFile(path, { text: 'one', judge });
    assert.equal(first.taken, true);
    assert.equal(readFileSync(path, 'utf8'), 'one');
    assert.deepEqual(await takeLockFile(path, { text: 'two', judge }), { taken: false, holder: 'one' });
    if (first.taken) first.release();
    assert.equal(existsSync(path), false);
    const again = await takeLockFile(path, { text: 'two', judge });
    assert.equal(again.taken, true);
    assert.deepEqual(readdirSync(join(dir, 'locks')), ['a.lock']);
  }),
);

test(
  'a stale lock is removed once and taken; an invalid one goes through the remove hook too',
  withDir(async (dir) => {
    const path = join(dir, 'a.lock');
    writeFileSync(path, STALE);
    const removed: string[] = [];
    const remove = (p: string, verdict: string, text: string) => {
      removed.push(`${verdict}:${text}`);
      rmSync(p);
    };
    const got = await takeLockFile(path, { text: 'mine', judge, remove });
    assert.equal(got.taken, true);
    assert.deepEqual(removed, [`stale:${STALE}`]);
    if (got.taken) got.release();
    writeFileSync(path, '{"not": "a lock"}');
    assert.equal((await takeLockFile(path, { text: 'mine', judge, remove })).taken, true);
    assert.deepEqual(removed, [`stale:${STALE}`, 'invalid:{"not": "a lock"}']);
  }),
);

test(
  'a slow remover never removes the live lock that replaced the stale one it judged',
  withDir(async (dir) => {
    // A reads the stale lock and takes long to judge it; meanwhile B removes it and takes the
    // lock. When A gets to remove "the stale lock", the name holds B's: A must leave it alone.
    const path = join(dir, 'a.lock');
    writeFileSync(path, STALE);
    let judged!: () => void;
    const aJudged = new Promise<void>((resolve) => (judged = resolve));
    let bDone!: () => void;
    const bTook = new Promise<void>((resolve) => (bDone = resolve));
    const slow = async (text: string): Promise<LockVerdict> => {
      if (text !== STALE) return judge(text);
      judged();
      await bTook;
      return 'stale';
    };
    const a = takeLockFile(path, { text: 'A', judge: slow, rounds: 1 });
    await aJudged;
    const b = await takeLockFile(path, { text: 'B', judge });
    assert.equal(b.taken, true);
    bDone();
    assert.deepEqual(await a, { taken: false, holder: 'B' });
    assert.equal(readFileSync(path, 'utf8'), 'B', "B's lock is still in place");
    assert.equal(existsSync(`${path}.break`), false, 'the breaker is released');
  }),
);

test(
  'a breaker left by a remover that died is broken in turn; a live breaker holds the removal off',
  withDir(async (dir) => {
    const path = join(dir, 'a.lock');
    writeFileSync(path, STALE);
    writeFileSync(`${path}.break`, STALE);
    const got = await takeLockFile(path, { text: 'mine', judge });
    assert.equal(got.taken, true);
    assert.deepEqual(readdirSync(dir).sort(), ['a.lock']);
    if (got.taken) got.release();

    writeFileSync(path, STALE);
    writeFileSync(`${path}.break`, 'a live remover');
    const held = await takeLockFile(path, { text: 'mine', judge, rounds: 3 });
    assert.deepEqual(held, { taken: false, holder: STALE });
    assert.equal(readFileSync(path, 'utf8'), STALE, 'left to the remover that holds the breaker');
  }),
);

test(
  'a release after the lock was removed and retaken by another leaves the new lock alone',
  withDir(async (dir) => {
    const path = join(dir, 'a.lock');
    const mine = await takeLockFile(path, { text: 'mine', judge });
    assert.ok(mine.taken);
    rmSync(path); // an administrator removed it by hand
    const theirs = await takeLockFile(path, { text: 'theirs', judge });
    assert.ok(theirs.taken);
    mine.release();
    assert.equal(readFileSync(path, 'utf8'), 'theirs');
  }),
);

test(
  'a chain of dead breakers deeper than three is left for the administrator, not looped on',
  withDir(async (dir) => {
    const path = join(dir, 'a.lock');
    const chain = [path, `${path}.break`, `${path}.break.break`, `${path}.break.break.break`];
    for (const p of chain) writeFileSync(p, STALE);
    assert.deepEqual(await takeLockFile(path, { text: 'mine', judge, rounds: 2 }), { taken: false, holder: STALE });
    for (const p of chain) assert.equal(readFileSync(p, 'utf8'), STALE, `${p} untouched`);
    // One level less is within reach: the whole chain is broken and the lock taken.
    rmSync(chain.at(-1)!);
    const got = await takeLockFile(path, { text: 'mine', judge });
    assert.equal(got.taken, true);
    assert.deepEqual(readdirSync(dir), ['a.lock']);
  }),
);
