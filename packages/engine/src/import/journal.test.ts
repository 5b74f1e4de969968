/**
 * The journal kinds a differential revert adds (removes, directory attribute steps) are trusted
 * like moves: schema-strict, and every path confined (SPEC §9). A journal that names a path
 * outside is set aside by recovery and changes nothing.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { currentOwner } from './owner.js';
import { readJournal, type Journal } from './journal.js';

const base = mkdtempSync(join(tmpdir(), 'imgport-journal-'));
after(() => rmSync(base, { recursive: true, force: true }));
const installRoot = join(base, 'install');
const work = join(installRoot, '.imgport');
const id = 'a1b2c3d4e5f6';
const txDir = join(work, 'tx', id);
const meta = { m: 0o755, u: 0, g: 0, mt: '1700000000123456000' };

function journal(extra: Partial<Journal>): Journal {
  return {
    v: 2,
    id,
    owner: currentOwner(),
    image: 'img',
    state: 'prepared',
    txDir,
    moves: [],
    createdDirs: [],
    outside: [],
    rowsBefore: null,
    rowsAfter: { osimage: {}, linuximage: {}, litefile: [] },
    ...extra,
  };
}

function judge(j: unknown): string {
  mkdirSync(join(work, 'journal'), { recursive: true });
  writeFileSync(join(work, 'journal', `${id}.json`), JSON.stringify(j));
  const r = readJournal(work, `${id}.json`, { installRoot, allow: [] });
  return r.kind === 'invalid' ? r.why : r.kind;
}

const inImage = join(installRoot, 'netboot', 'img', 'rootimg', 'etc');

test('a revert journal with removes and attribute steps inside the install root is valid', () => {
  const j = journal({
    removes: [{ path: join(inImage, 'added'), backup: join(txDir, 'old', '0'), what: 'netboot/img/rootimg/etc/added', dir: false }],
    attrs: [{ path: inImage, before: meta, after: { ...meta, m: 0o700, x: { 'user.a': 'eQ==' } } }],
  });
  assert.equal(judge(j), 'valid');
});

test('every new path is confined: removes, their backups and attribute steps', () => {
  const backup = join(txDir, 'old', '0');
  assert.equal(
    judge(journal({ removes: [{ path: '/etc/passwd', backup, what: 'x', dir: false }] })),
    'removed path /etc/passwd lies outside the install root and the allowed directories (or inside .imgport)',
  );
  assert.equal(
    judge(journal({ removes: [{ path: join(work, 'journal'), backup, what: 'x', dir: true }] })),
    `removed path ${join(work, 'journal')} lies outside the install root and the allowed directories (or inside .imgport)`,
  );
  assert.equal(
    judge(journal({ removes: [{ path: join(inImage, 'added'), backup: join(installRoot, 'elsewhere'), what: 'x', dir: false }] })),
    `backup ${join(installRoot, 'elsewhere')} lies outside the journal's staging area`,
  );
  assert.equal(
    judge(journal({ attrs: [{ path: '/etc', before: meta, after: meta }] })),
    'directory /etc lies outside the install root and the allowed directories (or inside .imgport)',
  );
});

test('the new kinds are schema-strict: an unknown field, a bad mode or mtime is refused', () => {
  assert.match(judge(journal({ attrs: [{ path: inImage, before: meta, after: { ...meta, m: 0o10000 } }] })), /^attrs\.0\.after\.m: /);
  assert.match(judge(journal({ attrs: [{ path: inImage, before: { ...meta, mt: '1.5' }, after: meta }] })), /^attrs\.0\.before\.mt: /);
  assert.match(judge({ ...journal({}), removes: [{ path: join(inImage, 'x'), backup: join(txDir, 'old', '0'), what: 'x', dir: false, follow: true }] }), /^removes\.0: /);
  assert.match(judge({ ...journal({}), attrs: [{ path: inImage, before: meta, after: meta, chown: true }] }), /^attrs\.0: /);
});
