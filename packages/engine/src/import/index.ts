export { ImportService, type ImportDeps } from './service.js';
export { planImport, type ImportPlan, type Move } from './plan.js';
export { recover, type Journal } from './journal.js';
export { openSource, type DownloadOptions } from './source.js';
export { assertConfined, confinementBase } from './confine.js';
export { checkPlan, type CheckContext } from './check.js';
