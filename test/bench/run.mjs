// `npm run bench`: every benchmark in one run, each printing its own figures. rootfs.mjs (real
// Debian root filesystems, built once with debootstrap) comes first; the others use synthetic trees.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const extra = process.argv.slice(2);
for (const script of ['rootfs.mjs', 'expand.mjs', 'import-export.mjs', 'queue.mjs', 'store.mjs', 'verify.mjs']) {
  console.log(`\n=== ${script}`);
  const r = spawnSync(process.execPath, [here + script, ...extra], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
