// What checking a bundle's signature costs next to the import it guards.
//   verify: the head check an import adds (sshsig decode, ed25519 verify, an allowed_signers file
//           of 1000 lines parsed and searched, the revocation list), timed alone, many times;
//   import: the same signed bundle imported under IMGPORT_SIGNATURES=require and with no policy;
//   imgport verify: the whole bundle read and hashed without importing, for reference.
// Run after `npm run build`: node test/bench/verify.mjs [--size MB] [--runs N]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { writeBundle } from '../../packages/archive/dist/index.js';
import { ImportService, judgeHead, verifyBundle } from '../../packages/engine/dist/index.js';
import { openTableStore } from '../../packages/tables/dist/index.js';
import { BUNDLE_NAMESPACE, generateEd25519, signSshSig } from '../../packages/trust/dist/index.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const benchDir = path.join(repo, '.bench');
const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const sizeMB = opt('--size', 200);
const runs = opt('--runs', 3);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function run(cmd, argv) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, argv, { stdio: ['ignore', 'inherit', 'inherit'] });
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd}: exit ${code}`))));
  });
}

async function rootImage(mb) {
  const archive = path.join(benchDir, `fixture-${mb}`, 'rootimg.cpio.gz');
  if (!fs.existsSync(archive)) await run(process.execPath, [path.join(repo, 'test/bench/expand.mjs'), '--size', String(mb), '--runs', '1', '--no-scale']);
  return archive;
}

const work = path.join(benchDir, 'verify-work');
fs.rmSync(work, { recursive: true, force: true });
fs.mkdirSync(work, { recursive: true });
const signer = generateEd25519('bench@site');
// A trust store of 1000 signers, ours last: the search is linear.
const lines = [];
for (let i = 0; i < 999; i++) lines.push(`user${i}@site namespaces="${BUNDLE_NAMESPACE}" ${generateEd25519('').publicLine.trim()}`);
lines.push(`bench@site namespaces="${BUNDLE_NAMESPACE}" ${signer.publicLine.trim()}`);
const allowedSigners = path.join(work, 'allowed_signers');
fs.writeFileSync(allowedSigners, lines.join('\n') + '\n');
const revokedSigners = path.join(work, 'revoked');
fs.writeFileSync(revokedSigners, `${generateEd25519('').publicLine}`);
const trust = { policy: 'require', allowedSigners, revokedSigners };

const bundle = path.join(work, 'signed.tgz');
let head;
const manifest = ['name bench-signed', 'os rhels8.5.0', 'arch x86_64', 'profile compute', 'method netboot', 'kernel kernel', 'initrd initrd-stateless.gz', 'rootimg rootimg.cpio.gz', ''].join('\n');
await writeBundle(
  fs.createWriteStream(bundle),
  [
    { name: 'manifest.cfg', source: { data: manifest } },
    { name: 'kernel', source: { data: randomBytes(10 << 20) }, precompressed: true },
    { name: 'initrd-stateless.gz', source: { data: gzipSync(randomBytes(40 << 20), { level: 1 }) }, precompressed: true },
    { name: 'rootimg.cpio.gz', source: { file: await rootImage(sizeMB) }, precompressed: true },
  ],
  {
    sign: async (sums) => {
      const sig = Buffer.from(signSshSig(signer.key, BUNDLE_NAMESPACE, sums));
      head = { prefix: '', sums, sig };
      return sig;
    },
  },
);

// The head check alone: with the 1000-line trust store, and with a site-sized one of 10 lines.
const small = path.join(work, 'allowed_signers.small');
fs.writeFileSync(small, lines.slice(-10).join('\n') + '\n');
function timeCheck(t) {
  judgeHead(head, t);
  const xs = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    judgeHead(head, t);
    xs.push(performance.now() - t0);
  }
  return xs;
}
const checks = timeCheck(trust);
const smallChecks = timeCheck({ ...trust, allowedSigners: small });

async function importOnce(withTrust, i) {
  const dir = path.join(work, `imp-${withTrust ? 'req' : 'none'}-${i}`);
  fs.mkdirSync(path.join(dir, 'install'), { recursive: true });
  const tables = await openTableStore(`sqlite:${path.join(dir, 'db')}`, { create: true });
  try {
    const svc = new ImportService({ tables, installRoot: path.join(dir, 'install'), dataDir: path.join(dir, 'data'), ...(withTrust ? { trust } : {}) });
    const t0 = performance.now();
    const r = await svc.run(bundle);
    const ms = performance.now() - t0;
    if (withTrust && r.signature?.signer?.principal !== 'bench@site') throw new Error('not verified');
    return ms;
  } finally {
    await tables.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const withPolicy = [];
const without = [];
for (let i = 0; i < runs; i++) {
  // Alternate so neither side always runs on a warmer cache.
  if (i % 2 === 0) {
    withPolicy.push(await importOnce(true, i));
    without.push(await importOnce(false, i));
  } else {
    without.push(await importOnce(false, i));
    withPolicy.push(await importOnce(true, i));
  }
}
const verifyRuns = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  await verifyBundle(bundle, { trust });
  verifyRuns.push(performance.now() - t0);
}

const size = (fs.statSync(bundle).size / 2 ** 20).toFixed(0);
const check = median(checks);
const imp = median(withPolicy);
console.log(`signed ${size} MiB bundle, allowed_signers of ${lines.length} lines, ${runs} runs, medians`);
console.log(`  signature + trust check: ${check.toFixed(2)} ms (${median(smallChecks).toFixed(2)} ms with a 10-line allowed_signers)`);
console.log(`  import under require: ${(imp / 1000).toFixed(2)} s; with no policy: ${(median(without) / 1000).toFixed(2)} s`);
console.log(`  check / import: ${((check / imp) * 100).toFixed(4)} % (budget 1 %)`);
console.log(`  imgport verify (read and hash everything, import nothing): ${(median(verifyRuns) / 1000).toFixed(2)} s`);
fs.rmSync(work, { recursive: true, force: true });
if (check / imp > 0.01) process.exit(1);
