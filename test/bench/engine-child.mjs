// One import or export through the engine in a fresh process, as the CLI runs it; prints one JSON
// line with the wall time and the peak RSS. Used by import-export.mjs.
//   node engine-child.mjs import <bundle> <installRoot> <sqliteDir>
//   node engine-child.mjs export <image> <installRoot> <sqliteDir> <destination>
import { performance } from 'node:perf_hooks';
import { ExportService, ImportService } from '../../packages/engine/dist/index.js';
import { openTableStore } from '../../packages/tables/dist/index.js';

const [op, arg, installRoot, dbDir, dest] = process.argv.slice(2);
const tables = await openTableStore(`sqlite:${dbDir}`, { create: true });
const deps = { tables, installRoot, dataDir: `${installRoot}/.data` };
const result =
  op === 'import' ? await new ImportService(deps).run(arg) : await new ExportService(deps).run(arg, { destination: dest });
await tables.close();
// Since the process started (performance's time origin): module loading counts too, as it
// does for the GNU tools we compare with.
const ms = performance.now();
console.log(JSON.stringify({ ms, maxRssKiB: process.resourceUsage().maxRSS, name: result.name ?? result.image }));
