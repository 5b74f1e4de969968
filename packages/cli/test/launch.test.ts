import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { entryFor } from '../bin/launch.js';

/** packages/{cli,engine} as the build leaves them: the bundle stamp and each package's tsbuildinfo. */
function layout(stampAt: number | undefined, builds: Record<string, number>) {
  const root = mkdtempSync(join(tmpdir(), 'launch-'));
  const cli = join(root, 'packages', 'cli');
  mkdirSync(join(cli, 'dist'), { recursive: true });
  for (const [pkg, at] of Object.entries(builds)) {
    mkdirSync(join(root, 'packages', pkg, 'dist'), { recursive: true });
    const info = join(root, 'packages', pkg, 'dist', 'tsconfig.tsbuildinfo');
    writeFileSync(info, '{}');
    utimesSync(info, at, at);
  }
  if (stampAt !== undefined) {
    mkdirSync(join(cli, 'bundle'));
    writeFileSync(join(cli, 'bundle', 'BUILT'), '');
    utimesSync(join(cli, 'bundle', 'BUILT'), stampAt, stampAt);
  }
  return { url: pathToFileURL(`${cli}/`), done: () => rmSync(root, { recursive: true, force: true }) };
}

test('the bins load the bundle only while it is newer than every package build', (t) => {
  const cases: Array<[string, number | undefined, Record<string, number>, string]> = [
    ['no bundle', undefined, { cli: 100, engine: 100 }, 'dist/main.js'],
    ['bundle after the builds', 200, { cli: 100, engine: 150 }, 'bundle/main.cjs'],
    ['a package rebuilt after the bundle', 200, { cli: 100, engine: 300 }, 'dist/main.js'],
    ['the cli itself rebuilt after the bundle', 200, { cli: 201, engine: 100 }, 'dist/main.js'],
  ];
  for (const [what, stamp, builds, want] of cases) {
    const l = layout(stamp, builds);
    t.after(l.done);
    assert.equal(entryFor(l.url).href, new URL(want, l.url).href, what);
  }
});
