import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImgportError } from '@imgport/runtime';
import { formatLitefileCsv, parseLitefileCsv, type LitefileRow } from './litefile.js';

const row = (image: string, file: string, options = '', comments = '', disable = ''): LitefileRow => ({
  image,
  file,
  options,
  comments,
  disable,
});

function rejects(fn: () => unknown, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ImgportError);
    assert.equal(err.code, 'MANIFEST_INVALID');
    assert.equal(err.message, message);
    return true;
  });
}

test('parses stock imgexport rows', () => {
  const text = '"img1","/etc/adjtime","tmpfs",,\n"img1","/var/log/","persistent",,\n';
  assert.deepEqual(parseLitefileCsv(text), [row('img1', '/etc/adjtime', 'tmpfs'), row('img1', '/var/log/', 'persistent')]);
});

test('parses tabdump output: header, quoted commas and quotes, empty fields, CRLF', () => {
  const text = [
    '#image,file,options,comments,disable',
    '"ALL","/etc/hosts",,"a ""quoted"", comment","1"',
    '',
    'img2,/root/.ssh/,rw,,\r',
    '"img2","/tmp/"',
  ].join('\n');
  assert.deepEqual(parseLitefileCsv(text), [
    row('ALL', '/etc/hosts', '', 'a "quoted", comment', '1'),
    row('img2', '/root/.ssh/', 'rw'),
    row('img2', '/tmp/'),
  ]);
});

test('imageName replaces the image column; a later row for the same key wins', () => {
  const text = '"ALL","/etc/adjtime","tmpfs",,\n"old","/etc/adjtime","persistent",,\n"old","/var/","tmpfs",,\n';
  assert.deepEqual(parseLitefileCsv(text, 'new'), [row('new', '/etc/adjtime', 'persistent'), row('new', '/var/', 'tmpfs')]);
});

test('malformed lines are MANIFEST_INVALID with the line number', () => {
  rejects(() => parseLitefileCsv('"a","/x",,,\n"a","/y\n'), 'litefile.csv line 2: unterminated quoted field');
  rejects(() => parseLitefileCsv('"a"x,"/y",,,'), 'litefile.csv line 1: unexpected "x" after a closing quote');
  rejects(() => parseLitefileCsv('a,/b"c,,,'), 'litefile.csv line 1: a quote inside an unquoted field "/b\\"c"');
  rejects(() => parseLitefileCsv('\n"a","/x",,,,,'), 'litefile.csv line 2: expected 2 to 5 fields (image,file,options,comments,disable), found 7');
  rejects(() => parseLitefileCsv('"a"'), 'litefile.csv line 1: expected 2 to 5 fields (image,file,options,comments,disable), found 1');
  rejects(() => parseLitefileCsv('"a","",,,'), 'litefile.csv line 1: the file field is empty');
});

test('formats the way stock imgexport writes, and round-trips', () => {
  const rows = [row('img', '/etc/adjtime', 'tmpfs'), row('img', '/var/', ''), row('ALL', '/a,b', 'rw', 'say "hi"', '1')];
  const text = formatLitefileCsv(rows);
  assert.equal(text, '"img","/etc/adjtime","tmpfs",,\n"img","/var/","",,\n"ALL","/a,b","rw","say ""hi""","1"\n');
  assert.deepEqual(parseLitefileCsv(text), rows);
  const withHeader = formatLitefileCsv(rows, { header: true });
  assert.equal(withHeader, `#image,file,options,comments,disable\n${text}`);
  assert.deepEqual(parseLitefileCsv(withHeader), rows);
});

test('format refuses line breaks inside a field', () => {
  rejects(() => formatLitefileCsv([row('img', '/a\nb')]), 'litefile.csv: a field cannot hold a line break: "/a\\nb"');
});
