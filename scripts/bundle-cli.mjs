// The commands' start-up bundle: `npm run build` runs this after `tsc -b`.
//
// Loaded module by module, the CLI reads ~370 files at start (resolution, stat, compile of each)
// before it does anything: 0.30 s of a 1.6 s import of a 100 MB bundle. Here esbuild joins the
// compiled dist/ files into one script, packages/cli/bundle/main.cjs, and V8's code cache for it
// is made by running what the commands run at start (scripts/warm-cli-cache.mjs): the bins
// (bin/launch.js) then start from the cache with nothing left to parse or compile there. The writer threads' module is bundled beside it. Native addons, and packages that
// find files of their own at run time, stay outside.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(repo, 'packages/cli/bundle');
// pino is bundled: loaded from node_modules it read ~20 files at every start (~25 ms before an
// import could begin); the logger writes to a descriptor (pino.destination), never through a
// transport, the one part of pino that loads files of its own at run time.
const external = ['better-sqlite3', 'fs-xattr', 'mysql2', 'mysql2/*', 'ioredis', 'bullmq', 'msgpackr-extract'];

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const common = { bundle: true, platform: 'node', target: 'node20', sourcemap: 'linked', logLevel: 'warning', external };
await build({
  ...common,
  entryPoints: [join(repo, 'packages/cli/dist/main.js')],
  outfile: join(out, 'main.cjs'),
  format: 'cjs',
  // The sources are ES modules: strict, and `import.meta.url` is this file's URL.
  define: { 'import.meta.url': '__imgportModuleUrl' },
  banner: { js: "'use strict';\nconst __imgportModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
});
// ASCII only, so that the bins read it as a one-byte string (bin/launch.js): decoded as UTF-8
// it took 8-11 ms of every start, and V8 kept it as a two-byte string. esbuild escapes what is
// not ASCII in code already; what is left is in comments, where an escape reads the same.
const mainFile = join(out, 'main.cjs');
writeFileSync(mainFile, readFileSync(mainFile, 'utf8').replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
// archive starts its writer threads from `./tree-ops-worker.js` beside its own module.
await build({
  ...common,
  entryPoints: [join(repo, 'packages/archive/dist/tree-ops-worker.js')],
  outfile: join(out, 'tree-ops-worker.js'),
  format: 'esm',
  banner: { js: "import { createRequire as __imgportRequire } from 'node:module'; const require = __imgportRequire(import.meta.url);" },
});
// The stamp launch.js compares with the packages' builds; the cache after it, so a build that
// stops here still leaves a bundle that runs (compiled as it loads).
writeFileSync(join(out, 'BUILT'), `${new Date().toISOString()}\n`);
// The flags of the bins' #! line: V8 accepts a cache only under the flags it was made with.
const warm = spawnSync(process.execPath, ['--max-semi-space-size=4', '--expose-gc', '--max-inlined-bytecode-size-cumulative=200', join(repo, 'scripts/warm-cli-cache.mjs')], { stdio: ['ignore', 'inherit', 'inherit'] });
if (warm.status !== 0 || !existsSync(join(out, 'main.cjs.cache'))) {
  process.stderr.write(`bundle-cli: making the code cache failed (status ${warm.status}); the commands run without it\n`);
}
