// The commands' start-up bundle: `npm run build` runs this after `tsc -b`.
//
// Loaded module by module, the CLI reads ~370 files at start (resolution, stat, compile of each)
// before it does anything: 0.30 s of a 1.6 s import of a 100 MB bundle. esbuild joins the
// compiled dist/ files into a few chunks under packages/cli/bundle/ (code splitting keeps the
// programs' dynamic imports lazy: `xcatimport` never loads the store, catalog or job code), and
// the bins load it when it is newer than every package's build (bin/launch.js), else dist/.
// Native addons and the packages that find files of their own at run time stay outside.
import { build } from 'esbuild';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(repo, 'packages/cli/bundle');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: {
    main: join(repo, 'packages/cli/dist/main.js'),
    // archive starts its writer threads from `./tree-ops-worker.js` beside its own module.
    'tree-ops-worker': join(repo, 'packages/archive/dist/tree-ops-worker.js'),
  },
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunk-[hash]',
  sourcemap: 'linked',
  logLevel: 'warning',
  // Native addons; pino starts its transports by file name; the drivers are loaded on demand anyway.
  external: ['better-sqlite3', 'fs-xattr', 'pino', 'mysql2', 'mysql2/*', 'ioredis', 'bullmq', 'msgpackr-extract'],
  // CommonJS dependencies inside an ES module bundle call require() for Node's built-ins.
  banner: { js: "import { createRequire as __imgportRequire } from 'node:module'; const require = __imgportRequire(import.meta.url);" },
});
// The stamp launch.js compares with the packages' builds.
writeFileSync(join(out, 'BUILT'), `${new Date().toISOString()}\n`);
