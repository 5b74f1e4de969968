import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { image, storeContract, type Harness } from '../test/support/store-contract.js';
import { openTableStore } from './index.js';
import { TABLES, type TableName } from './model.js';

// The real MariaDB of the test environment; one database per test file, dropped at the end.
const HOST = '127.0.0.1';
const PORT = 3306;
const DB = `imgport_t_${randomBytes(5).toString('hex')}`;
const URL_ = `mysql://root@${HOST}:${PORT}/${DB}`;
const others: string[] = [];

let admin: mysql.Connection;
before(async () => {
  admin = await mysql.createConnection({ host: HOST, port: PORT, user: 'root', password: '' });
});
after(async () => {
  for (const db of [DB, ...others]) await admin.query(`DROP DATABASE IF EXISTS \`${db}\``);
  await admin.end();
});

const harness: Harness = {
  kind: 'mysql',
  // Each test starts with no xCAT tables in this file's database (the contract runs in order).
  fresh: async () => {
    await admin.query(`CREATE DATABASE IF NOT EXISTS \`${DB}\``);
    for (const t of TABLES) await admin.query(`DROP TABLE IF EXISTS \`${DB}\`.\`${t}\``);
    return URL_;
  },
  exec: async (_url, _table: TableName, sql) => {
    await admin.changeUser({ database: DB });
    await admin.query(sql);
  },
  columns: async (_url, table) => {
    const [rows] = await admin.execute<mysql.RowDataPacket[]>(
      `SELECT COLUMN_NAME AS c, COLUMN_TYPE AS t FROM information_schema.COLUMNS
        WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
      [DB, table],
    );
    return rows.map((r) => [String(r.c), String(r.t).toUpperCase()]);
  },
  primaryKey: async (_url, table) => {
    const [rows] = await admin.execute<mysql.RowDataPacket[]>(
      `SELECT COLUMN_NAME AS c FROM information_schema.KEY_COLUMN_USAGE
        WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION`,
      [DB, table],
    );
    return rows.map((r) => String(r.c));
  },
  // Port 1 is never a MySQL server: the connection is refused at once.
  unreachable: `mysql://root@${HOST}:1/${DB}`,
};

storeContract(harness);

test('a database that does not exist: DB_UNAVAILABLE without create; with it, created by the first write only', async () => {
  const db = `imgport_t_${randomBytes(5).toString('hex')}`;
  others.push(db);
  const url = `mysql://root@${HOST}:${PORT}/${db}`;
  await assert.rejects(openTableStore(url), { code: 'DB_UNAVAILABLE' });
  const s = await openTableStore(url, { create: true });
  assert.equal(s.description, url);
  // Reads find nothing and create nothing; the first write creates the database and its tables.
  assert.deepEqual([await s.getImage('a'), await s.listImages(), await s.kitRows('kit', 'kitname', 'k')], [{ litefile: [] }, [], []]);
  await s.ping();
  const [none] = await admin.execute<mysql.RowDataPacket[]>('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [db]);
  assert.equal(none.length, 0);
  await s.writeImage('a', image('a'));
  await s.close();
  await assert.rejects(s.getImage('a'), { code: 'DB_UNAVAILABLE' }, 'closed');
  const [rows] = await admin.execute<mysql.RowDataPacket[]>(
    'SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME',
    [db],
  );
  assert.deepEqual(rows.map((r) => r.t), ['kit', 'kitcomponent', 'kitrepo', 'linuximage', 'litefile', 'osimage']);
});

test('access denied: DB_UNAVAILABLE, and the description never carries the password', async () => {
  const url = `mysql://imgport_no_such_user:s3cret-pw@${HOST}:${PORT}/${DB}`;
  await assert.rejects(openTableStore(url), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'DB_UNAVAILABLE');
    assert.match(e.message, /mysql:\/\/imgport_no_such_user@127\.0\.0\.1:3306\//);
    assert.doesNotMatch(e.message, /s3cret-pw/);
    return true;
  });
});

test('created tables use InnoDB, so writes are transactional', async () => {
  const s = await openTableStore(await harness.fresh());
  await s.writeImage('a', image('a'));
  await s.close();
  const [rows] = await admin.execute<mysql.RowDataPacket[]>(
    'SELECT TABLE_NAME AS t, ENGINE AS e FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME',
    [DB],
  );
  assert.deepEqual(rows.map((r) => [r.t, r.e]), ['kit', 'kitcomponent', 'kitrepo', 'linuximage', 'litefile', 'osimage'].map((t) => [t, 'InnoDB']));
});

test('a connection killed by the server: the next call fails DB_UNAVAILABLE or recovers, never INTERNAL', async () => {
  const s = await openTableStore(await harness.fresh());
  await s.ping();
  const [procs] = await admin.query<mysql.RowDataPacket[]>(
    'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()',
    [DB],
  );
  for (const p of procs) await admin.query('KILL ?', [p.id]);
  try {
    await s.ping();
  } catch (e) {
    assert.equal((e as { code?: string }).code, 'DB_UNAVAILABLE');
  }
  await s.ping(); // the pool replaced the dead connection
  await s.close();
});
