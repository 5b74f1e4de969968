import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImgportError } from '@imgport/runtime';
import { checkTrust, generateEd25519, matchPatternList, parseAllowedSigners, parseRevokedKeys, parseTime } from './index.js';

const alice = generateEd25519('alice');
const bob = generateEd25519('bob');
const pub = (k: typeof alice) => k.publicLine.trim();
const NOW = Date.UTC(2026, 5, 1) / 1000;
const ctx = { namespace: 'imgport-bundle', now: NOW };

test('allowed_signers: principals, options and key of each line; comments and blank lines skipped', () => {
  const text = [
    '# trusted image makers',
    '',
    `alice@site,*@ops.site ${pub(alice)}`,
    `"bob@site" namespaces="imgport-bundle,git",valid-after="20260101",valid-before="20270101Z" ${pub(bob)}`,
    `ca@site cert-authority ${pub(bob)}`,
  ].join('\n');
  const lines = parseAllowedSigners(text).map(({ key, ...rest }) => ({ ...rest, blob: key.blob }));
  assert.deepEqual(lines, [
    { principals: 'alice@site,*@ops.site', certAuthority: false, blob: alice.key.publicKey.blob, line: 3 },
    {
      principals: 'bob@site',
      certAuthority: false,
      namespaces: 'imgport-bundle,git',
      validAfter: new Date(2026, 0, 1).getTime() / 1000,
      validBefore: Date.UTC(2027, 0, 1) / 1000,
      blob: bob.key.publicKey.blob,
      line: 4,
    },
    { principals: 'ca@site', certAuthority: true, blob: bob.key.publicKey.blob, line: 5 },
  ]);
});

test('allowed_signers: a malformed line is an error naming the file and line', () => {
  const bad = (text: string, pattern: RegExp) =>
    assert.throws(() => parseAllowedSigners(text, 'trust'), (e: unknown) => e instanceof ImgportError && e.code === 'CONFIG_INVALID' && pattern.test(e.message));
  bad(`a@b frobnicate ${pub(alice)}`, /^trust line 1: unknown option "frobnicate"/);
  bad(`\na@b namespaces=x ${pub(alice)}`, /^trust line 2: namespaces= needs a double-quoted value/);
  bad(`a@b valid-before="2026" ${pub(alice)}`, /valid-before="2026" is not YYYYMMDD/);
  bad('a@b ssh-ed25519 AAAA', /truncated/);
});

test('patterns: wildcards, lists and negation as in ssh_config', () => {
  assert.deepEqual(
    [
      matchPatternList('alice@site', 'alice@site'),
      matchPatternList('x@ops.site', 'alice@site,*@ops.site'),
      matchPatternList('x@ops.siteX', '*@ops.site'),
      matchPatternList('ab', 'a?'),
      matchPatternList('eve@ops.site', '*@ops.site,!eve@*'),
      matchPatternList('a.b', 'a?b'),
      matchPatternList('axb', 'a.b'),
    ],
    [true, true, false, true, false, true, false],
  );
});

test('trust: the first accepting line wins; refusals say which line and why', () => {
  const file = [
    `old@site valid-before="20260101Z" ${pub(alice)}`,
    `alice@site namespaces="imgport-bundle" ${pub(alice)}`,
    `git@site namespaces="git" ${pub(bob)}`,
    `later@site valid-after="20300101Z" ${pub(bob)}`,
  ].join('\n');
  const s = parseAllowedSigners(file, 'as');
  assert.deepEqual(checkTrust(s, alice.key.publicKey, ctx), { trusted: true, principals: 'alice@site', line: 2 });
  assert.deepEqual(checkTrust(s, alice.key.publicKey, { ...ctx, principal: 'old@site', source: 'as' }), {
    trusted: false,
    reason: 'expired',
    message: 'as line 1: old@site expired at 2026-01-01T00:00:00.000Z',
  });
  assert.deepEqual(checkTrust(s, bob.key.publicKey, { ...ctx, principal: 'git@site', source: 'as' }), {
    trusted: false,
    reason: 'namespace',
    message: 'as line 3: git@site is trusted only for namespaces "git", not "imgport-bundle"',
  });
  assert.deepEqual(checkTrust(s, bob.key.publicKey, { ...ctx, source: 'as' }).trusted, false);
  assert.deepEqual(checkTrust(s, generateEd25519('').key.publicKey, { ...ctx, source: 'as' }), {
    trusted: false,
    reason: 'unknown',
    message: 'the signing key is not in as',
  });
});

test('trust: a cert-authority line does not trust its key as a plain signer', () => {
  const s = parseAllowedSigners(`*@site cert-authority ${pub(alice)}`);
  assert.deepEqual(checkTrust(s, alice.key.publicKey, ctx).trusted, false);
});

test('times: local unless Z; dates only or with minutes and seconds', () => {
  assert.deepEqual(
    [parseTime('20260102Z'), parseTime('202601020304Z'), parseTime('20260102030405Z'), parseTime('20260102')],
    [Date.UTC(2026, 0, 2) / 1000, Date.UTC(2026, 0, 2, 3, 4) / 1000, Date.UTC(2026, 0, 2, 3, 4, 5) / 1000, new Date(2026, 0, 2).getTime() / 1000],
  );
  assert.throws(() => parseTime('20261302Z'), /not a valid date/);
});

test('revocation list: public keys one a line; a binary KRL is refused by name', () => {
  const data = Buffer.from(`# gone\n${pub(alice)}\n\n${pub(bob)}\n`);
  assert.deepEqual(parseRevokedKeys(data), [alice.key.publicKey.blob, bob.key.publicKey.blob]);
  assert.throws(() => parseRevokedKeys(Buffer.from('SSHKRL\n\0rest'), 'krl'), /krl is a binary KRL/);
  assert.throws(() => parseRevokedKeys(Buffer.from('nonsense\n'), 'rl'), /^Error: rl line 1|rl line 1: /);
});
