import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COLUMNS } from './model.js';
import { fromDb, globToRegExp, imageMatcher, insertPlan, prepareImage } from './row-rules.js';

const code = (c: string) => (err: unknown) => (err as { code?: string }).code === c;

test('glob: * and ? are the only wildcards; SQL LIKE and regex characters are literal', () => {
  const cases: Array<[string, string, boolean]> = [
    ['rhels8*', 'rhels8.5.0-x86_64-netboot-compute', true],
    ['rhels8*', 'xrhels8', false],
    ['*compute', 'a-compute', true],
    ['a?c', 'abc', true],
    ['a?c', 'ac', false],
    ['a_b', 'axb', false],
    ['a%b', 'aXYb', false],
    ['a.b', 'aXb', false],
    ['a.b', 'a.b', true],
    ['[ab]', 'a', false],
    ['[ab]', '[ab]', true],
    ['Foo', 'foo', false],
    ['*', '', true],
    ['rhels8.5.0-x86_64-*', 'rhels8.5.0-x86_64-netboot-compute', true],
    ['a/b', 'a/b', true],
  ];
  for (const [glob, name, want] of cases) assert.equal(globToRegExp(glob).test(name), want, `${glob} vs ${name}`);
});

test('imageMatcher combines name, os, arch and method exactly', () => {
  const row = { imagename: 'img1', osvers: 'rhels8.5.0', osarch: 'x86_64', provmethod: 'netboot' };
  assert.equal(imageMatcher()(row), true);
  assert.equal(imageMatcher({ name: 'img?', os: 'rhels8.5.0', arch: 'x86_64', method: 'netboot' })(row), true);
  assert.equal(imageMatcher({ os: 'rhels8' })(row), false);
  assert.equal(imageMatcher({ arch: 'ppc64le' })(row), false);
  assert.equal(imageMatcher({ method: 'install' })(row), false);
});

test('prepareImage fills the image keys and keeps every other value', () => {
  assert.deepEqual(
    prepareImage('img', {
      osimage: { profile: 'compute' },
      linuximage: { imagename: 'img', rootimgdir: '/r' },
      litefile: [{ file: '/etc/x', options: 'tmpfs' }],
    }),
    {
      osimage: { imagename: 'img', profile: 'compute' },
      linuximage: { imagename: 'img', rootimgdir: '/r' },
      litefile: [{ image: 'img', file: '/etc/x', options: 'tmpfs' }],
    },
  );
});

test('prepareImage refuses unknown columns, naming column and table', () => {
  assert.throws(
    () => prepareImage('img', { osimage: { colour: 'red' }, linuximage: {}, litefile: [] }),
    (err: Error) => code('BAD_REQUEST')(err) && /"colour"/.test(err.message) && /osimage/.test(err.message),
  );
  assert.throws(
    () => prepareImage('img', { osimage: {}, linuximage: {}, litefile: [{ file: '/a' }, { file: '/b', mode: 'x' }] }),
    (err: Error) => code('BAD_REQUEST')(err) && err.message === 'litefile row 2: unknown column "mode" in table litefile',
  );
});

test("prepareImage refuses rows of another image, a litefile row without file, non-text values, long keys", () => {
  const base = { osimage: {}, linuximage: {}, litefile: [] };
  assert.throws(() => prepareImage('img', { ...base, osimage: { imagename: 'other' } }), code('BAD_REQUEST'));
  assert.throws(() => prepareImage('img', { ...base, litefile: [{ image: 'ALL', file: '/a' }] }), code('BAD_REQUEST'));
  assert.throws(() => prepareImage('img', { ...base, litefile: [{ options: 'tmpfs' }] }), /file is required/);
  const numeric = { profile: 5 } as unknown as Record<string, string>;
  assert.throws(() => prepareImage('img', { ...base, osimage: numeric }), /must be text or null/);
  assert.throws(() => prepareImage('x'.repeat(129), base), code('BAD_REQUEST'));
  assert.throws(() => prepareImage('img', { ...base, litefile: [{ file: `/${'f'.repeat(128)}` }] }), /longer than 128/);
});

test('insertPlan writes known columns in xCAT order, NULL for unset ones', () => {
  const present = new Set(COLUMNS.litefile);
  assert.deepEqual(insertPlan('litefile', { options: 'ro', file: '/f', image: 'i' }, present), {
    columns: ['image', 'file', 'options', 'comments', 'disable'],
    values: ['i', '/f', 'ro', null, null],
  });
});

test('insertPlan on an older schema: skips an absent column when empty, refuses a value for it', () => {
  const present = new Set(COLUMNS.osimage.filter((c) => c !== 'environvar' && c !== 'nfsrootopts'));
  const plan = insertPlan('osimage', { imagename: 'i', environvar: '', nfsrootopts: null }, present);
  assert.equal(plan.columns.includes('environvar'), false);
  assert.equal(plan.columns.length, COLUMNS.osimage.length - 2);
  assert.throws(
    () => insertPlan('osimage', { imagename: 'i', environvar: 'A=1' }, present),
    (err: Error & { where?: string }) => code('UNSUPPORTED')(err) && err.where === 'osimage.environvar',
  );
});

test('fromDb returns every known column, text or NULL, ignoring columns we do not know', () => {
  assert.deepEqual(fromDb('litefile', { image: 'i', file: Buffer.from('/f'), options: 3, extra: 'x' }), {
    image: 'i',
    file: '/f',
    options: '3',
    comments: null,
    disable: null,
  });
});
