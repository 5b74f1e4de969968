import type { Handlers } from '../context.js';
import { exportHandler } from './export.js';
import { importHandler } from './import.js';
import { publishHandler } from './publish.js';
import { snapshotImageHandler } from './snapshot-image.js';
import { snapshotHandler } from './snapshot.js';

/** One handler per job type of the catalog; startWorker refuses to start without any of them. */
export const HANDLERS: Handlers = {
  import: importHandler,
  export: exportHandler,
  snapshot: snapshotHandler,
  'snapshot-image': snapshotImageHandler,
  publish: publishHandler,
};

export { exportPath } from './export.js';
