import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ImgportError } from '@imgport/runtime';
import { assertConfined } from './confine.js';

function tree(t: { after(fn: () => void): void }): { base: string; root: string } {
  const base = mkdtempSync(join(tmpdir(), 'imgport-confine-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const real = join(base, 'real-install');
  mkdirSync(join(real, 'netboot/a'), { recursive: true });
  mkdirSync(join(base, 'outside'));
  // The install root itself may be a link (the operator's choice): it is trusted as it is.
  symlinkSync(real, join(base, 'install'));
  return { base, root: join(base, 'install') };
}

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (e) {
    assert.ok(e instanceof ImgportError);
    return e.code;
  }
};

test('a path of real directories passes; missing components are fine; the last may be anything but is reported', (t) => {
  const { root } = tree(t);
  assert.equal(assertConfined(root, join(root, 'netboot/a/new/deeper/file')), undefined);
  assert.ok(assertConfined(root, join(root, 'netboot/a'))?.isDirectory());
  symlinkSync('/etc', join(root, 'netboot/a/last'));
  assert.ok(assertConfined(root, join(root, 'netboot/a/last'))?.isSymbolicLink(), 'a link as the last component is replaced, never followed');
});

test('a symlink on the way is UNSAFE_PATH naming it; a file on the way is CONFLICT', (t) => {
  const { base, root } = tree(t);
  symlinkSync(join(base, 'outside'), join(root, 'netboot/link'));
  assert.throws(() => assertConfined(root, join(root, 'netboot/link/x')), (e: unknown) => e instanceof ImgportError && e.code === 'UNSAFE_PATH' && e.where === join(root, 'netboot/link'));
  writeFileSync(join(root, 'netboot/file'), '');
  assert.equal(code(() => assertConfined(root, join(root, 'netboot/file/x'))), 'CONFLICT');
});

test('outside the root and the allow-list is refused; an allow-listed link inside the root is trusted', (t) => {
  const { base, root } = tree(t);
  assert.equal(code(() => assertConfined(root, join(base, 'outside/x'))), 'UNSAFE_PATH');
  assert.equal(assertConfined(root, join(base, 'outside/x'), [join(base, 'outside')]), undefined);
  symlinkSync(join(base, 'outside'), join(root, 'bigdisk'));
  assert.equal(code(() => assertConfined(root, join(root, 'bigdisk/x'))), 'UNSAFE_PATH');
  assert.equal(assertConfined(root, join(root, 'bigdisk/x'), [join(root, 'bigdisk')]), undefined);
  assert.equal(code(() => assertConfined(root, `${root}/netboot/../../outside`)), 'UNSAFE_PATH');
});
