#!/usr/bin/env node
// Runs every test file with Node's own test runner, TypeScript through tsx, and workspace
// packages resolved to their sources (the "source" export condition).
// Usage: node scripts/test.mjs [--only unit|integration|e2e|security|faults] [file-or-dir-filter...]
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
let only;
const filters = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--only') only = args[++i];
  else filters.push(args[i]);
}

function walk(dir, out) {
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    if (name === 'node_modules' || name === 'dist' || name === 'bench') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

// Beside the code, `*.integration.test.ts` needs Redis or MariaDB; every other test there is a
// unit test and needs no server.
const kindOf = (f) =>
  f.startsWith('test/e2e') ? 'e2e' : f.startsWith('test/security') ? 'security' : f.startsWith('test/faults') ? 'faults' : f.startsWith('test/') || f.includes('.integration.') ? 'integration' : 'unit';

let files = [...walk(join(root, 'packages'), []), ...walk(join(root, 'services'), []), ...walk(join(root, 'test'), [])].sort();
if (only) files = files.filter((f) => kindOf(f) === only);
// The fault tests start their own servers and take minutes: by default only their short subset
// (*.smoke.test.ts) runs; `--only faults` (npm run test:faults) runs all of them.
else if (!filters.length) files = files.filter((f) => kindOf(f) !== 'faults' || f.includes('.smoke.'));
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}

const res = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--conditions=source', '--test', '--test-concurrency=2', '--test-reporter=spec', ...files],
  { cwd: root, stdio: 'inherit', env: { ...process.env, IMGPORT_TEST: '1' } },
);
process.exit(res.status ?? 1);
