import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImgportError } from '@imgport/runtime';
import { isValidImageName, reprofiledName, validateImageName, validatePathToken } from './names.js';

function rejects(fn: () => unknown, code: string, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ImgportError);
    assert.equal(err.code, code);
    assert.equal(err.message, message);
    return true;
  });
}

test('valid image names pass through unchanged', () => {
  const names = ['Foo_Image', 'rhels8.5.0-x86_64-netboot-compute', 'a', 'x'.repeat(128), 'a+b', '...'];
  assert.deepEqual(names.map((n) => validateImageName(n)), names);
  assert.deepEqual(names.map(isValidImageName), names.map(() => true));
});

test('invalid image names say what is wrong and where', () => {
  rejects(() => validateImageName('', 'manifest.cfg line 2'), 'MANIFEST_INVALID', 'manifest.cfg line 2: invalid image name "": is empty');
  rejects(() => validateImageName('x'.repeat(129)), 'MANIFEST_INVALID', `invalid image name "${'x'.repeat(120)}…": is 129 characters long (at most 128)`);
  rejects(() => validateImageName('..', '--name', 'BAD_REQUEST'), 'BAD_REQUEST', '--name: invalid image name "..": is reserved (it names a directory)');
  rejects(() => validateImageName('.'), 'MANIFEST_INVALID', 'invalid image name ".": is reserved (it names a directory)');
  rejects(
    () => validateImageName('a/b'),
    'MANIFEST_INVALID',
    'invalid image name "a/b": contains "/" at position 2 (allowed: letters, digits, ".", "_", "+", "-")',
  );
  rejects(
    () => validateImageName('my image'),
    'MANIFEST_INVALID',
    'invalid image name "my image": contains " " at position 3 (allowed: letters, digits, ".", "_", "+", "-")',
  );
  rejects(
    () => validateImageName('ok\nDROP'),
    'MANIFEST_INVALID',
    'invalid image name "ok\\nDROP": contains "\\n" at position 3 (allowed: letters, digits, ".", "_", "+", "-")',
  );
  assert.deepEqual(['', 'a b', 'ü', '..', 'a;b'].map(isValidImageName), [false, false, false, false, false]);
});

test('validatePathToken applies the same rule to os/arch/profile', () => {
  assert.equal(validatePathToken('rhels8.5.0', 'os'), 'rhels8.5.0');
  rejects(
    () => validatePathToken('../../etc', 'profile', 'manifest.cfg line 4'),
    'MANIFEST_INVALID',
    'manifest.cfg line 4: invalid profile "../../etc": contains "/" at position 3 (allowed: letters, digits, ".", "_", "+", "-")',
  );
  rejects(() => validatePathToken('..', 'arch'), 'MANIFEST_INVALID', 'invalid arch "..": is reserved (it names a directory)');
});

test('reprofiledName follows xCAT imgimport -f naming', () => {
  assert.equal(reprofiledName('rhels8.5.0', 'x86_64', 'netboot', 'gpu'), 'rhels8.5.0-x86_64-netboot-gpu');
  rejects(
    () => reprofiledName('rhels8', 'x86_64', 'install', 'a/b'),
    'MANIFEST_INVALID',
    'invalid profile "a/b": contains "/" at position 2 (allowed: letters, digits, ".", "_", "+", "-")',
  );
  rejects(
    () => reprofiledName('o'.repeat(60), 'a'.repeat(30), 'netboot', 'p'.repeat(40)),
    'MANIFEST_INVALID',
    `re-profiled name: invalid image name "${`${'o'.repeat(60)}-${'a'.repeat(30)}-netboot-${'p'.repeat(40)}`.slice(0, 120)}…": is 140 characters long (at most 128)`,
  );
});
