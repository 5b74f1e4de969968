import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { image, storeContract, type Harness } from '../test/support/store-contract.js';
import { openTableStore } from './index.js';
import type { TableName } from './model.js';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'imgport-tables-'));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const dirOf = (url: string) => url.slice('sqlite:'.length);
/** One raw connection to one table's file, as xCAT or an administrator would open it. */
const raw = <T>(url: string, table: TableName, fn: (db: Database.Database) => T): T => {
  const db = new Database(join(dirOf(url), `${table}.sqlite`));
  try {
    return fn(db);
  } finally {
    db.close();
  }
};

const harness: Harness = {
  kind: 'sqlite',
  fresh: async () => `sqlite:${tempDir()}`,
  exec: async (url, table, sql) => raw(url, table, (db) => void db.exec(sql)),
  columns: async (url, table) =>
    raw(url, table, (db) =>
      (db.pragma(`table_info("${table}")`) as Array<{ name: string; type: string }>).map((c) => [c.name, c.type.toUpperCase()]),
    ),
  primaryKey: async (url, table) =>
    raw(url, table, (db) =>
      (db.pragma(`table_info("${table}")`) as Array<{ name: string; pk: number }>)
        .filter((c) => c.pk > 0)
        .sort((a, b) => a.pk - b.pk)
        .map((c) => c.name),
    ),
  unreachable: 'sqlite:/nonexistent-imgport-dir/xcat',
};

storeContract(harness);

test('xCAT layout: one <table>.sqlite per table, holding exactly that table, private to its owner', async () => {
  const dir = tempDir();
  const s = await openTableStore(`sqlite:${dir}`);
  await s.writeImage('a', image('a'));
  await s.close();
  assert.deepEqual(readdirSync(dir).sort(), ['kit.sqlite', 'kitcomponent.sqlite', 'kitrepo.sqlite', 'linuximage.sqlite', 'litefile.sqlite', 'osimage.sqlite']);
  for (const table of ['osimage', 'linuximage', 'litefile', 'kit', 'kitrepo', 'kitcomponent'] as const) {
    const names = raw(`sqlite:${dir}`, table, (db) => db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).pluck().all());
    assert.deepEqual(names, [table]);
    assert.equal(statSync(join(dir, `${table}.sqlite`)).mode & 0o777, 0o600);
  }
});

test('missing directory: DB_UNAVAILABLE without create; with it, created by the first write only', async () => {
  const dir = join(tempDir(), 'etc', 'xcat');
  await assert.rejects(openTableStore(`sqlite:${dir}`), { code: 'DB_UNAVAILABLE' });
  assert.equal(existsSync(dir), false);
  const s = await openTableStore(`sqlite:${dir}`, { create: true });
  assert.deepEqual(await s.getImage('a'), { litefile: [] });
  assert.equal(existsSync(dir), false, 'a read creates nothing');
  await s.writeImage('a', image('a'));
  await s.close();
  assert.equal(existsSync(join(dir, 'osimage.sqlite')), true);
});

test('reads, pings and deletes create no file while tables are missing; rows of the tables that exist are found', async () => {
  const dir = tempDir();
  const s = await openTableStore(`sqlite:${dir}`, { create: true });
  assert.deepEqual([await s.getImage('x'), await s.listImages(), await s.litefileRows(['ALL'])], [{ litefile: [] }, [], []]);
  await s.ping();
  await s.deleteImage('x');
  await s.close();
  assert.deepEqual(readdirSync(dir), []);
  // Only the litefile table exists, as on a node where xCAT has only ever written ALL rows.
  raw(`sqlite:${dir}`, 'litefile', (db) => {
    db.exec(`CREATE TABLE litefile (image VARCHAR(128) NOT NULL, file TEXT NOT NULL, options TEXT, comments TEXT, disable TEXT, PRIMARY KEY (image, file))`);
    db.exec(`INSERT INTO litefile (image, file) VALUES ('ALL', '/etc/lvm/')`);
  });
  const r = await openTableStore(`sqlite:${dir}`, { create: true });
  assert.deepEqual(await r.litefileRows(['ALL']), [{ image: 'ALL', file: '/etc/lvm/', options: null, comments: null, disable: null }]);
  assert.deepEqual(await r.getImage('x'), { litefile: [] });
  await r.close();
  assert.deepEqual(readdirSync(dir), ['litefile.sqlite']);
  await assert.rejects(r.ping(), { code: 'DB_UNAVAILABLE' }, 'a closed store stays closed');
  await assert.rejects(r.getImage('x'), { code: 'DB_UNAVAILABLE' });
});

test('a file where the directory should be: DB_UNAVAILABLE', async () => {
  const file = join(tempDir(), 'xcat');
  writeFileSync(file, '');
  await assert.rejects(openTableStore(`sqlite:${file}`, { create: true }), { code: 'DB_UNAVAILABLE' });
});

test('the journal mode is left as xCAT has it: rollback journal stays, WAL is never switched on', async () => {
  const url = `sqlite:${tempDir()}`;
  const s = await openTableStore(url);
  await s.writeImage('a', image('a', 'rhels8.5.0', 'x86_64', 'statelite'));
  await s.close();
  for (const table of ['osimage', 'linuximage', 'litefile'] as const) {
    assert.equal(raw(url, table, (db) => db.pragma('journal_mode', { simple: true })), 'delete');
  }
  assert.deepEqual(readdirSync(dirOf(url)).filter((f) => !f.endsWith('.sqlite')), []);
});

test('a table file locked by another process: DB_UNAVAILABLE after the busy timeout, nothing half-written', async () => {
  const url = `sqlite:${tempDir()}`;
  const s = await openTableStore(url, { busyTimeoutMs: 100 });
  await s.writeImage('a', image('a'));
  const holder = new Database(join(dirOf(url), 'litefile.sqlite'));
  try {
    holder.exec('BEGIN EXCLUSIVE');
    await assert.rejects(s.writeImage('a', { ...image('a'), osimage: { osvers: 'changed' } }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'DB_UNAVAILABLE');
      assert.match(e.message, /locked|busy/i);
      return true;
    });
  } finally {
    holder.exec('ROLLBACK');
    holder.close();
  }
  assert.equal((await s.getImage('a')).osimage?.osvers, 'rhels8.5.0');
  await s.close();
});

test('a file that is not a database: INTERNAL naming the table', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'linuximage.sqlite'), 'this is not an SQLite database, just text long enough to have a header');
  await assert.rejects(openTableStore(`sqlite:${dir}`), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'INTERNAL');
    assert.match(e.message, /linuximage/);
    return true;
  });
  assert.deepEqual(readdirSync(dir), ['linuximage.sqlite'], 'nothing created beside it');
});
