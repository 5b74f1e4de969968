// Shared by the bin scripts: loads the compiled CLI, or says how to build it.
import { existsSync } from 'node:fs';

export async function launch(name) {
  const entry = new URL('../dist/main.js', import.meta.url);
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
