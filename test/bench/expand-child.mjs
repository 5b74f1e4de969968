// One expansion in a fresh process, as the benchmark measures it: prints its time and peak RSS.
// Usage: node test/bench/expand-child.mjs <rootimg.cpio.gz> <destDir>
import { createReadStream } from 'node:fs';
import { expandRootImage } from '../../packages/archive/dist/index.js';

const [archive, dest] = process.argv.slice(2);
const t0 = performance.now();
const report = await expandRootImage(createReadStream(archive, { highWaterMark: 1024 * 1024 }), dest);
const ms = performance.now() - t0;
// maxRSS is in KiB
console.log(JSON.stringify({ ms, maxRssMiB: process.resourceUsage().maxRSS / 1024, entries: report.entries, bytes: report.bytes }));
