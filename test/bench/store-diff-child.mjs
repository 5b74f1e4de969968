// Child of store.mjs: writes two sorted tree files of N entries (1% changed, 0.1% added and
// removed), then times one streaming diff of them and reports its peak RSS.
import path from 'node:path';
import fs from 'node:fs';
import { diffTreeLines, emptyDiffStats, readTreeLines, TreeWriter } from '../../packages/store/dist/index.js';

const n = Number(process.argv[2]);
const dir = process.argv[3];
fs.mkdirSync(dir, { recursive: true });
const h = (i, v) => `${(i * 2654435761 + v).toString(16).padStart(16, '0')}`.repeat(4).slice(0, 64);
async function write(file, variant) {
  const w = new TreeWriter(file);
  await w.add({ p: 'r', t: 'd', m: 0o755, u: 0, g: 0, mt: '0' });
  for (let d = 0; d < 1000; d++) {
    const dp = `r/d${String(d).padStart(4, '0')}`;
    await w.add({ p: dp, t: 'd', m: 0o755, u: 0, g: 0, mt: '0' });
    for (let f = 0; f < n / 1000 - 1; f++) {
      const i = d * 1000 + f;
      if (variant === 1 && i % 1000 === 7) continue; // removed
      const changed = variant === 1 && i % 100 === 3;
      await w.add({ p: `${dp}/f${String(f).padStart(4, '0')}`, t: 'f', m: 0o644, u: 0, g: 0, mt: changed ? '2' : '1', s: 1000 + (i % 500), h: h(i, changed ? 1 : 0), i, ct: '1' });
      if (variant === 1 && i % 1000 === 9) await w.add({ p: `${dp}/f${String(f).padStart(4, '0')}x`, t: 'f', m: 0o644, u: 0, g: 0, mt: '1', s: 1, h: h(i, 5) });
    }
  }
  await w.close();
}
const a = path.join(dir, 'a.gz');
const b = path.join(dir, 'b.gz');
await write(a, 0);
await write(b, 1);
const before = process.memoryUsage().rss;
const t0 = performance.now();
const stats = emptyDiffStats();
let changes = 0;
for await (const _ of diffTreeLines(readTreeLines(a), readTreeLines(b), stats)) changes++;
const ms = performance.now() - t0;
process.stdout.write(JSON.stringify({ ms, changes, maxRss: process.resourceUsage().maxRSS * 1024, rssBefore: before }));
