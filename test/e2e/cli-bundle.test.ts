/**
 * The commands run from the start-up bundle `npm run build` makes (scripts/bundle-cli.mjs): an
 * import through it, writer threads and SQLite included, gives the same image as one through the
 * compiled dist/ modules.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isAscii } from 'node:buffer';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { entryFor, loadBundle } from '../../packages/cli/bin/launch.js';
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

test('every bin, run as an admin runs it (its #! line), starts node under the flags the code cache was made with, so V8 takes it', async (t) => {
  const w = world();
  t.after(w.cleanup);
  // Commands that log their configuration and then fail or list nothing.
  for (const [bin, args] of [
    ['xcatimport', [join(scratch, 'missing.tgz'), '-v']],
    ['xcatexport', ['no-such-image', join(scratch, 'out.tgz'), '-v']],
    ['imgport', ['images', '-v']],
  ] as const) {
    const r = await new Promise<{ stderr: string }>((resolve, reject) => {
      const child = spawn(join(ROOT, 'packages/cli/bin', `${bin}.js`), [...args], { env: w.env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', () => resolve({ stderr }));
    });
    assert.match(r.stderr, /"codeCache":"accepted"/, `${bin}: ${r.stderr.split('\n').find((l) => l.includes('configuration')) ?? r.stderr}`);
  }
});

test('the start-up bundle is ASCII, read as one-byte text; a bundle that is not is still read as UTF-8', () => {
  // The build escapes what esbuild left (comments): a UTF-8 decode of the 2 MB took 8-11 ms of every start.
  assert.ok(isAscii(readFileSync(join(ROOT, 'packages/cli/bundle/main.cjs'))), 'bundle/main.cjs holds bytes that are not ASCII: see scripts/bundle-cli.mjs');
  const file = join(scratch, 'utf8.cjs');
  // The same text twice: as UTF-8 bytes in the file, and as escapes.
  writeFileSync(file, `module.exports = { literal: '${'na\u00efve \u2014 \u{1f600}'}', escaped: 'na\\u00efve \\u2014 \\u{1f600}' };\n`);
  const { mod } = loadBundle(pathToFileURL(file)) as unknown as { mod: { literal: string; escaped: string } };
  assert.equal(mod.literal, mod.escaped, 'characters that are not ASCII keep their meaning');
});
