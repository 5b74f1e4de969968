/**
 * The commands run from the start-up bundle `npm run build` makes (scripts/bundle-cli.mjs): an
 * import through it, writer threads and SQLite included, gives the same image as one through the
 * compiled dist/ modules.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { entryFor } from '../../packages/cli/bin/launch.js';
import { assertImageFiles, buildBundle, json, ROOT, rows, run, world, type BuiltBundle } from './helpers.js';

let scratch: string;
let b: BuiltBundle;
before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'imgport-cli-bundle-'));
  b = await buildBundle(scratch, { name: 'bundled', version: 'v1' });
});
after(() => rmSync(scratch, { recursive: true, force: true }));

test('the bins run the start-up bundle, and an import through it lands files and rows', async (t) => {
  const cli = pathToFileURL(join(ROOT, 'packages/cli/'));
  // `npm test` builds first (npm run build): the bundle is newer than every package build.
  assert.equal(entryFor(cli).href, new URL('bundle/main.cjs', cli).href, 'the bundle is missing or stale: run npm run build');
  const w = world();
  t.after(w.cleanup);
  const r = await run('xcatimport', [b.path, '--json', '-v'], w.env);
  assert.equal(r.code, 0, r.stderr);
  // The debug line names the module that runs: a chunk of the bundle, not dist/.
  assert.match(r.stderr, /"code":"[^"]*\/packages\/cli\/bundle\/main\.cjs"/);
  assert.equal(json(r).name, 'bundled');
  assertImageFiles(w, b);
  assert.equal((await rows(w, 'bundled')).osimage?.provmethod, 'netboot');
});
