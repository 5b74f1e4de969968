// Shared by the bin scripts: loads the CLI's start-up bundle (scripts/bundle-cli.mjs) when it is
// newer than every package's build, else the compiled dist/ modules, or says how to build it.
import { existsSync, readdirSync, statSync } from 'node:fs';

/**
 * What the bins load from the CLI package at `cli` (a directory URL): bundle/main.js unless a
 * package under `cli`'s parent was compiled after the bundle was made (`tsc -b` alone, after an
 * edit), then dist/main.js, which is always current.
 */
export function entryFor(cli) {
  const stamp = statSync(new URL('bundle/BUILT', cli), { throwIfNoEntry: false });
  const dist = new URL('dist/main.js', cli);
  if (!stamp) return dist;
  const packages = new URL('../', cli);
  for (const pkg of readdirSync(packages)) {
    const built = statSync(new URL(`${pkg}/dist/tsconfig.tsbuildinfo`, packages), { throwIfNoEntry: false });
    if (built && built.mtimeMs > stamp.mtimeMs) return dist;
  }
  return new URL('bundle/main.js', cli);
}

export async function launch(name) {
  const entry = entryFor(new URL('../', import.meta.url));
  if (!existsSync(entry)) {
    process.stderr.write(`${name}: the CLI is not built yet; run \`npm run build\` in the repository root\n`);
    process.exitCode = 1;
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
