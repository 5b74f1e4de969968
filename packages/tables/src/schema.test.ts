import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COLUMNS, KEYS } from './model.js';
import { columnType, createTableSql, quoteIdent } from './schema.js';

test('litefile DDL on SQLite: double quotes, VARCHAR(128) keys, NOT NULL where xCAT requires it', () => {
  assert.equal(
    createTableSql('sqlite', 'litefile'),
    [
      'CREATE TABLE "litefile" (',
      '  "image" VARCHAR(128) NOT NULL,',
      '  "file" VARCHAR(128) NOT NULL,',
      '  "options" TEXT,',
      '  "comments" TEXT,',
      '  "disable" TEXT,',
      '  PRIMARY KEY ("image", "file")',
      ')',
    ].join('\n'),
  );
});

test('litefile DDL on MySQL: backticks', () => {
  assert.equal(
    createTableSql('mysql', 'litefile'),
    [
      'CREATE TABLE `litefile` (',
      '  `image` VARCHAR(128) NOT NULL,',
      '  `file` VARCHAR(128) NOT NULL,',
      '  `options` TEXT,',
      '  `comments` TEXT,',
      '  `disable` TEXT,',
      '  PRIMARY KEY (`image`, `file`)',
      ')',
    ].join('\n'),
  );
});

test('osimage DDL: every column in xCAT order, osupdatename VARCHAR(1024)', () => {
  const expected = [
    'CREATE TABLE `osimage` (',
    '  `imagename` VARCHAR(128),',
    ...COLUMNS.osimage
      .slice(1)
      .map((c) => `  \`${c}\` ${c === 'osupdatename' ? 'VARCHAR(1024)' : 'TEXT'},`),
    '  PRIMARY KEY (`imagename`)',
    ')',
  ].join('\n');
  assert.equal(createTableSql('mysql', 'osimage'), expected);
  assert.equal(createTableSql('sqlite', 'osimage'), expected.replaceAll('`', '"'));
});

test('linuximage DDL: imagename VARCHAR(128), the other 23 columns TEXT', () => {
  const sql = createTableSql('sqlite', 'linuximage');
  assert.equal(sql.split('\n').length, COLUMNS.linuximage.length + 3);
  assert.match(sql, /^CREATE TABLE "linuximage" \(\n {2}"imagename" VARCHAR\(128\),\n {2}"template" TEXT,/);
  assert.match(sql, /\n {2}"disable" TEXT,\n {2}PRIMARY KEY \("imagename"\)\n\)$/);
  assert.equal(sql.match(/ TEXT,/g)?.length, COLUMNS.linuximage.length - 1);
});

test('columnType follows the schema: explicit type, then key length, then TEXT', () => {
  assert.equal(columnType('osimage', 'osupdatename'), 'VARCHAR(1024)');
  assert.equal(columnType('osimage', 'imagename'), 'VARCHAR(128)');
  assert.equal(columnType('litefile', 'file'), 'VARCHAR(128)');
  assert.equal(columnType('linuximage', 'rootimgdir'), 'TEXT');
});

test("column lists match SPEC §7 and xCAT's Schema.pm for the kit tables (counts and keys)", () => {
  assert.deepEqual(
    [COLUMNS.osimage.length, COLUMNS.linuximage.length, COLUMNS.litefile.length, COLUMNS.kit.length, COLUMNS.kitrepo.length, COLUMNS.kitcomponent.length],
    [23, 24, 5, 11, 10, 17],
  );
  assert.deepEqual(KEYS, {
    osimage: ['imagename'],
    linuximage: ['imagename'],
    litefile: ['image', 'file'],
    kit: ['kitname'],
    kitrepo: ['kitreponame'],
    kitcomponent: ['kitcompname'],
  });
});

test('quoteIdent refuses anything but a plain identifier', () => {
  assert.equal(quoteIdent('mysql', 'disable'), '`disable`');
  assert.equal(quoteIdent('sqlite', 'groups'), '"groups"');
  for (const bad of ['a`b', 'a"b', 'a b', '', '1a', 'x;drop']) {
    assert.throws(() => quoteIdent('mysql', bad), /not a valid SQL identifier/);
  }
});
