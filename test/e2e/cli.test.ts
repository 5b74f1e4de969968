/**
 * The commands as a user runs them: the built bin scripts in separate processes, a temporary
 * install root, SQLite tables and data directory, bundles built with the archive layer.
 */
import assert from 'node:assert/strict';
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { assertImageFiles, buildBundle, flipByte, imageDir, json, leftovers, rewriteBundle, rows, run, world, type BuiltBundle } from './helpers.js';

let scratch: string;
let v1: BuiltBundle;
let v2: BuiltBundle;
const NAME = 'e2e-compute';

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'imgport-cli-bundles-'));
  v1 = await buildBundle(scratch, { name: NAME, version: 'v1', manifest: ['osimage.description first version'] });
  v2 = await buildBundle(scratch, { name: NAME, version: 'v2', manifest: ['osimage.description second version'] });
});
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('xcatimport', () => {
  test('imports a netboot bundle: exit 0, JSON result, files and rows in place', async (t) => {
    const w = world();
    t.after(w.cleanup);
    const r = await run('xcatimport', [v1.path, '--json'], w.env);
    assert.equal(r.code, 0, r.stderr);
    const res = json(r);
    const dir = imageDir(w, v1.spec);
    assert.equal(res.name, NAME);
    assert.equal(res.method, 'netboot');
    assert.equal(res.dryRun, false);
    assert.deepEqual([...res.paths].sort(), ['initrd-stateless.gz', 'kernel', 'rootimg', 'rootimg.cpio.gz'].map((f) => join(dir, f)));
    // IMGPORT_SIGNATURES defaults to warn: an unsigned bundle imports, saying so.
    assert.deepEqual(res.warnings, ['the bundle is not signed: who made it is unknown (IMGPORT_SIGNATURES=require refuses such bundles)']);
    assert.ok(res.bytes > 0 && res.entries > 200, `bytes ${res.bytes}, entries ${res.entries}`);
    assertImageFiles(w, v1);
    // The tables as xCAT keeps them: one SQLite file per table.
    const db = new Database(join(w.dir, 'xcatdb', 'osimage.sqlite'), { readonly: true });
    const os = db.prepare('SELECT imagename, profile, imagetype, provmethod, osname, osvers, osarch, description FROM osimage').all();
    db.close();
    assert.deepEqual(os, [
      { imagename: NAME, profile: 'compute', imagetype: 'linux', provmethod: 'netboot', osname: 'Linux', osvers: 'rhels8.5.0', osarch: 'x86_64', description: 'first version' },
    ]);
    assert.equal((await rows(w, NAME)).linuximage?.rootimgdir, dir);
    assert.deepEqual(leftovers(w), []);
  });

  test('a second import is IMAGE_EXISTS (exit 1); --force replaces it and keeps a snapshot', async (t) => {
    const w = world();
    t.after(w.cleanup);
    assert.equal((await run('xcatimport', [v1.path], w.env)).code, 0);
    const again = await run('xcatimport', [v2.path, '--json'], w.env);
    assert.equal(again.code, 1);
    assert.equal(json(again).error.code, 'IMAGE_EXISTS');
    assert.match(again.stderr, new RegExp(`xcatimport: image ${NAME} already exists.*--force`));
    assertImageFiles(w, v1);

    const forced = await run('xcatimport', [v2.path, '--force', '--json'], w.env);
    assert.equal(forced.code, 0, forced.stderr);
    assertImageFiles(w, v2);
    const snap = json(forced).snapshot;
    assert.equal(snap.image, NAME);
    const listed = await run('imgport', ['snapshots', NAME, '--json'], w.env);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(json(listed).snapshots.map((s: { id: string }) => s.id), [snap.id]);
    assert.ok(existsSync(snap.path));
  });

  test('--dry-run reports the plan and writes nothing', async (t) => {
    const w = world();
    t.after(w.cleanup);
    const r = await run('xcatimport', [v1.path, '--dry-run', '--json'], w.env);
    assert.equal(r.code, 0, r.stderr);
    const res = json(r);
    assert.equal(res.dryRun, true);
    assert.ok(res.paths.includes(join(imageDir(w, v1.spec), 'kernel')));
    assert.equal(existsSync(join(w.installRoot, 'netboot')), false);
    assert.deepEqual(await rows(w, NAME), { litefile: [] });
    assert.deepEqual(leftovers(w), []);
    const human = await run('xcatimport', [v1.path, '--dry-run'], w.env);
    assert.match(human.stdout, /^Dry run: would import e2e-compute \(netboot\)/);
    assert.match(human.stdout, /nothing was written/);
  });

  test('--name imports under another name; -f re-profiles name and paths', async (t) => {
    const w = world();
    t.after(w.cleanup);
    const named = await run('xcatimport', [v1.path, '--name', 'renamed', '--json'], w.env);
    assert.equal(named.code, 0, named.stderr);
    assert.equal(json(named).name, 'renamed');
    assert.equal((await rows(w, 'renamed')).osimage?.profile, 'compute');
    assert.equal((await rows(w, NAME)).osimage, undefined);

    const reprofiled = await run('xcatimport', [v1.path, '-f', 'gpu', '--json'], w.env);
    assert.equal(reprofiled.code, 0, reprofiled.stderr);
    const name = 'rhels8.5.0-x86_64-netboot-gpu';
    assert.equal(json(reprofiled).name, name);
    const rec = await rows(w, name);
    assert.equal(rec.osimage?.profile, 'gpu');
    assert.equal(rec.linuximage?.rootimgdir, imageDir(w, { ...v1.spec, profile: 'gpu' }));
    assertImageFiles(w, v1, 'gpu');
  });

  test('a human summary names the image, method, paths, rows and size', async (t) => {
    const w = world();
    t.after(w.cleanup);
    const r = await run('xcatimport', [v1.path], w.env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Imported e2e-compute \(netboot\) in [\d.]+ s: \d+ entries, [\d.]+ KiB read\n/);
    assert.match(r.stdout, /wrote:\n.*\/netboot\/rhels8\.5\.0\/x86_64\/compute\//);
    assert.match(r.stdout, /rows: osimage provmethod=netboot osvers=rhels8\.5\.0 osarch=x86_64 profile=compute; linuximage rootimgdir=/);
    assert.equal(r.stderr, '', 'no progress bar and no log lines when stderr is not a terminal');
  });

  test('a corrupt bundle fails with exit 1, names the problem, and writes nothing', async (t) => {
    const w = world();
    t.after(w.cleanup);
    // The kernel's bytes change; SHA256SUMS still lists the original.
    const bad = join(scratch, 'corrupt.tgz');
    await rewriteBundle(v1.path, bad, (name, data) => (name === 'kernel' ? flipByte(data) : data));
    const r = await run('xcatimport', [bad, '--json'], w.env);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(json(r).error.code, 'CHECKSUM_MISMATCH');
    assert.match(r.stderr, /kernel/);
    assert.equal(existsSync(join(w.installRoot, 'netboot')), false);
    assert.deepEqual(await rows(w, NAME), { litefile: [] });
    assert.deepEqual(leftovers(w), []);

    const missing = await run('xcatimport', [join(scratch, 'no-such.tgz')], w.env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no-such\.tgz/);
  });

  test('imports from an http:// URL; a missing URL is exit 1 naming it', async (t) => {
    const w = world();
    t.after(w.cleanup);
    const server = createServer((req, res) => {
      if (req.url !== '/bundles/v1.tgz') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/gzip' });
      createReadStream(v1.path).pipe(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => server.close());
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/bundles`;
    const r = await run('xcatimport', [`${base}/v1.tgz`, '--json'], w.env);
    assert.equal(r.code, 0, r.stderr);
    assertImageFiles(w, v1);
    const missing = await run('xcatimport', [`${base}/none.tgz`, '--name', 'other'], w.env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /none\.tgz.*404/);
  });

  // httpd serves rootimg archives (and xCAT copies boot files) from the install root as a
  // non-root user, so they must be world-readable; a postscript must stay executable. The
  // bundle's members are 0644 and 0755.
  test('imported files keep usable modes: boot files 0644, an extra script 0755', async (t) => {
    const w = world();
    t.after(w.cleanup);
    const b = await buildBundle(scratch, {
      name: 'e2e-modes',
      manifest: ['extra extra/setup-ib:postscripts'],
      members: { 'extra/setup-ib': { data: '#!/bin/sh\necho ib\n', mode: 0o755 } },
    });
    const r = await run('xcatimport', [b.path], w.env);
    assert.equal(r.code, 0, r.stderr);
    const dir = imageDir(w, b.spec);
    const files = ['kernel', 'initrd-stateless.gz', 'rootimg.cpio.gz'].map((f) => join(dir, f));
    const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
    assert.deepEqual(
      Object.fromEntries([...files, join(w.installRoot, 'postscripts/setup-ib')].map((p) => [p.slice(w.installRoot.length), mode(p)])),
      {
        '/netboot/rhels8.5.0/x86_64/compute/kernel': '644',
        '/netboot/rhels8.5.0/x86_64/compute/initrd-stateless.gz': '644',
        '/netboot/rhels8.5.0/x86_64/compute/rootimg.cpio.gz': '644',
        '/postscripts/setup-ib': '755',
      },
    );
  });
});

describe('usage errors exit 2', () => {
  const cases: Array<[string, 'xcatimport' | 'xcatexport' | 'imgport', string[], RegExp]> = [
    ['unknown flag', 'xcatimport', ['x.tgz', '--bogus'], /unknown option '--bogus'/],
    ['no argument', 'xcatimport', [], /missing required argument 'bundle'/],
    ['--format zip', 'xcatexport', ['img', '--format', 'zip'], /'zip' is invalid.*native, xcat/],
    ['--include nonsense', 'xcatexport', ['img', '--include', 'pkglist,kernels'], /pkglist,kernels/],
    ['too many arguments', 'xcatimport', ['a.tgz', 'b.tgz'], /too many arguments/],
    ['no subcommand', 'imgport', [], /Usage: imgport/],
    ['--server', 'xcatimport', ['a.tgz', '--server', 'http://imgport:8080'], /needs an API token/],
  ];
  for (const [what, bin, args, message] of cases) {
    test(what, async (t) => {
      const w = world();
      t.after(w.cleanup);
      const r = await run(bin, args, w.env);
      assert.equal(r.code, 2, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, message);
    });
  }

  test('IMGPORT_SERVER and an invalid configuration exit 2; --json still prints one document', async (t) => {
    const w = world();
    t.after(w.cleanup);
    const server = await run('xcatexport', ['img', '--json'], { ...w.env, IMGPORT_SERVER: 'http://u:secret@imgport' });
    assert.equal(server.code, 2);
    assert.equal(json(server).error.code, 'BAD_REQUEST');
    assert.doesNotMatch(server.stderr, /secret/);
    const config = await run('imgport', ['images', '--json'], { ...w.env, XCAT_DB: 'postgres://db/xcat' });
    assert.equal(config.code, 2);
    assert.equal(json(config).error.code, 'CONFIG_INVALID');
    assert.match(config.stderr, /XCAT_DB/);
    const flag = await run('xcatimport', ['--json', '--nope'], w.env);
    assert.equal(flag.code, 2);
    assert.equal(json(flag).error.code, 'BAD_REQUEST');
  });
});
