import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImgportError } from '@imgport/runtime';
import { extraMemberCandidates, extraTargetName, xcatExtraDirMember, xcatExtraFileMember } from './extras.js';

test('xCAT extras: directory form first, then the file form, as imgimport checks them', () => {
  const file = { member: 'extra/gpu_setup', origin: '/install/postscripts/gpu_setup', dest: '/install/postscripts' };
  const dir = { member: 'extra/gpu', origin: '/install/custom/files/gpu', dest: '/install/custom/files/gpu' };
  const top = { member: 'extra/x', origin: '/x', dest: '/install' };
  assert.deepEqual(
    [file, dir, top].map(extraMemberCandidates),
    [['extra/install/postscripts/gpu_setup', 'extra/gpu_setup'], ['extra/install/custom/files/gpu', 'extra/gpu'], ['extra/x']],
  );
});

test('native extras: under extra/ first, then at top level', () => {
  assert.deepEqual(
    [
      { member: 'my_cool_postscript', dest: '/install/postscripts' },
      { member: 'scripts/a', dest: 'postscripts' },
      { member: 'extra/b', dest: 'postscripts' },
    ].map(extraMemberCandidates),
    [['extra/my_cool_postscript', 'my_cool_postscript'], ['extra/scripts/a', 'scripts/a'], ['extra/b']],
  );
});

test('extraTargetName: xCAT directory contents go into dest, everything else keeps its name', () => {
  const dir = { member: 'extra/gpu', origin: '/install/custom/files/gpu', dest: '/install/custom/files/gpu' };
  const native = { member: 'tools', dest: '/install/custom' };
  assert.deepEqual(
    [
      extraTargetName(dir, { member: 'extra/install/custom/files/gpu', directory: true }),
      extraTargetName(dir, { member: 'extra/gpu', directory: false }),
      extraTargetName(native, { member: 'extra/tools', directory: true }),
      extraTargetName(native, { member: 'tools', directory: false }),
    ],
    ['', 'gpu', 'tools', 'tools'],
  );
});

test('xCAT extra members refuse unsafe sources, naming them', () => {
  assert.equal(xcatExtraFileMember('/install//postscripts/a'), 'extra/a');
  assert.equal(xcatExtraDirMember('/install/custom/./files/'), 'extra/install/custom/files');
  for (const bad of ['/install/../etc', 'relative/src', '/']) {
    assert.throws(
      () => xcatExtraFileMember(bad),
      (err: unknown) => err instanceof ImgportError && err.code === 'UNSAFE_PATH' && err.message.includes(JSON.stringify(bad)),
    );
  }
});
