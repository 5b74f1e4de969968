// Shared by the bin scripts: runs the CLI's start-up bundle (scripts/bundle-cli.mjs) from V8's
// code cache when the bundle is newer than every package's build, else the compiled dist/
// modules, or says how to build it.
// CommonJS (bin/package.json): started as an ES module, a bin paid ~20 ms for Node's ES module
// loader and the ES facades of the builtins it imports before the bundle was even read.
'use strict';
const { existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { fileURLToPath, pathToFileURL } = require('node:url');
const vm = require('node:vm');
const { isAscii } = require('node:buffer');

/**
 * What the bins load from the CLI package at `cli` (a directory URL): bundle/main.cjs unless a
 * package under `cli`'s parent was compiled after the bundle was made (`tsc -b` alone, after an
 * edit), then dist/main.js, which is always current.
 */
function entryFor(cli) {
  const stamp = statSync(new URL('bundle/BUILT', cli), { throwIfNoEntry: false });
  const dist = new URL('dist/main.js', cli);
  if (!stamp) return dist;
  const packages = new URL('../', cli);
  for (const pkg of readdirSync(packages)) {
    const built = statSync(new URL(`${pkg}/dist/tsconfig.tsbuildinfo`, packages), { throwIfNoEntry: false });
    if (built && built.mtimeMs > stamp.mtimeMs) return dist;
  }
  return new URL('bundle/main.cjs', cli);
}

/**
 * The bundle as a CommonJS module compiled with its code cache (main.cjs.cache, which V8 checks
 * against its version, flags and the source, and ignores when it does not match). `saveCache`
 * writes the cache of what has been compiled so far (the build does, scripts/warm-cli-cache.mjs).
 */
function loadBundle(entry) {
  const file = fileURLToPath(entry);
  const cacheFile = `${file}.cache`;
  let cachedData;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    // No cache: compiled as it loads.
  }
  const requireHere = createRequire(file);
  // The build makes the bundle ASCII (scripts/bundle-cli.mjs): then it is read as one-byte
  // text, without decoding UTF-8 (8-11 ms of a 2 MB file at every start).
  const bytes = readFileSync(file);
  const source = isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
  const script = new vm.Script(requireHere('node:module').wrap(source), {
    filename: file,
    ...(cachedData ? { cachedData } : {}),
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  // What became of the cache, for the commands' debug line (a bin started under other flags than
  // the cache was made with finds it refused).
  globalThis[Symbol.for('imgport.codeCache')] = cachedData ? (script.cachedDataRejected ? 'rejected' : 'accepted') : 'none';
  const bundle = { exports: {}, filename: file, id: file, loaded: false };
  script.runInThisContext().call(bundle.exports, bundle.exports, requireHere, bundle, file, fileURLToPath(new URL('.', entry)));
  const saveCache = () => {
    writeFileSync(`${cacheFile}.tmp`, script.createCachedData());
    renameSync(`${cacheFile}.tmp`, cacheFile);
  };
  return { mod: bundle.exports, saveCache };
}

async function launch(name) {
  const entry = entryFor(pathToFileURL(`${__dirname}/../`));
  if (!existsSync(entry)) {
    process.stderr.write(`${name}: the CLI is not built yet; run \`npm run build\` in the repository root\n`);
    process.exitCode = 1;
    return;
  }
  if (entry.pathname.endsWith('.cjs')) {
    process.exitCode = await loadBundle(entry).mod[name](process.argv.slice(2));
    return;
  }
  let mod;
  try {
    mod = await import(entry.href);
  } catch (err) {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    process.stderr.write(`${name}: ${err.message.split('\n')[0]}; run \`npm run build\` in the repository root\n`);
    process.exitCode = 1;
    return;
  }
  process.exitCode = await mod[name](process.argv.slice(2));
}

module.exports = { entryFor, loadBundle, launch };
