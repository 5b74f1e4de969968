import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { test } from 'node:test';
import { ImgportError } from '@imgport/runtime';
import { checkEntryPath, isNormal } from './entry-path.js';

/** The rule written plainly: split, drop '' and '.', refuse '..', join (no shortcut). */
function byTheRule(raw: string): string {
  if (raw.startsWith('/')) throw new ImgportError('UNSAFE_PATH', 'absolute');
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new ImgportError('UNSAFE_PATH', '..');
  return parts.join('/');
}

const outcome = (f: () => string): string => {
  try {
    return `= ${f()}`;
  } catch (err) {
    return `! ${(err as ImgportError).code}`;
  }
};

test("the shortcut for names already in normal form ('./usr/bin/sh') gives what the rule gives, for names built to trip it", () => {
  const pieces = ['', '.', '..', '...', 'a', '.a', 'a.', '..a', 'b..', 'é', ' '];
  const policy = { maxPathLength: 4096 };
  let shortcut = 0;
  for (let i = 0; i < 20_000; i++) {
    const n = randomInt(1, 6);
    const raw = (randomInt(3) === 0 ? './' : randomInt(4) === 0 ? '/' : '') + Array.from({ length: n }, () => pieces[randomInt(pieces.length)]).join('/') + (randomInt(4) === 0 ? '/' : '');
    const rest = raw.startsWith('./') ? raw.slice(2) : raw;
    if (isNormal(rest)) shortcut++;
    assert.equal(outcome(() => checkEntryPath(raw, policy)), outcome(() => byTheRule(raw)), JSON.stringify(raw));
  }
  // Both ways were taken many times.
  assert.ok(shortcut > 2_000 && shortcut < 18_000, `${shortcut} of 20000 names took the shortcut`);
});

test('names with a dot component, doubled or trailing slashes are normalised; a ".." component anywhere is refused', () => {
  const p = { maxPathLength: 4096 };
  for (const [raw, want] of [
    ['./usr/bin/sh', 'usr/bin/sh'],
    ['usr/bin/sh', 'usr/bin/sh'],
    ['.//usr', 'usr'],
    ['./usr/./bin', 'usr/bin'],
    ['usr/bin/.', 'usr/bin'],
    ['./.', ''],
    ['./...', '...'],
    ['./.hidden/..x', '.hidden/..x'],
  ]) {
    assert.equal(checkEntryPath(raw!, p), want, raw);
  }
  for (const raw of ['./..', './a/../b', 'a/..', './a/b/..', '../a']) {
    assert.throws(() => checkEntryPath(raw, p), (e: unknown) => e instanceof ImgportError && e.code === 'UNSAFE_PATH', raw);
  }
});
