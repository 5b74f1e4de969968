export { ImportService, type ImportDeps, type ImageLease, type ImageLeases } from './service.js';
export { planImport, type ImportPlan, type Move } from './plan.js';
export { assertConfined, confinementBase } from './confine.js';
export { checkPlan, type CheckContext } from './check.js';
export { recover, readReceipt, dropReceipt, type Journal, type RecoverReport } from './journal.js';
export { currentOwner, ownerState, processStart, type Owner } from './owner.js';
export { emptyTrash } from './trash.js';
export { openSource, type DownloadOptions, type OpenedSource, type SourceResolver } from './source.js';
