// Makes the code cache of the start-up bundle (run by scripts/bundle-cli.mjs with the bins' node
// flags, which V8 checks the cache against). The cache holds what was compiled when it is
// written, so the programs first run what every command does at start, in this one process:
// each program's --help, and an import, an export and a listing that stop at once (a missing
// bundle, a missing image) against throw-away tables and install root.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadBundle } from '../packages/cli/bin/launch.js';

const { mod, saveCache } = loadBundle(new URL('../packages/cli/bundle/main.cjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'imgport-warm-'));
const env = { PATH: process.env.PATH, HOME: dir, INSTALL_ROOT: join(dir, 'install'), XCAT_DB: `sqlite:${join(dir, 'db')}`, IMGPORT_DATA: join(dir, 'data') };
// The programs write to process.stdout/stderr: quiet while they run.
const quiet = new Writable({ write: (_c, _e, cb) => cb() });
const [out, err] = [process.stdout.write, process.stderr.write];
process.stdout.write = process.stderr.write = quiet.write.bind(quiet);
try {
  for (const [name, argv] of [
    ['xcatimport', ['--help']],
    ['xcatexport', ['--help']],
    ['imgport', ['--help']],
    ['xcatimport', [join(dir, 'missing.tgz'), '--json']],
    ['xcatexport', ['missing-image', join(dir, 'out.tgz'), '--json']],
    ['imgport', ['images', '--json']],
  ]) {
    await mod[name](argv, env);
  }
} finally {
  process.stdout.write = out;
  process.stderr.write = err;
  rmSync(dir, { recursive: true, force: true });
}
saveCache();
