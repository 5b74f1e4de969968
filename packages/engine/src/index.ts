export * from './types.js';
export * from './layout.js';
export { ExportService } from './export.js';
export { SnapshotService, type SnapshotOptions } from './snapshot.js';
export { parseSnapshotId } from './snapshot-store.js';
export * from './import/index.js';
export { StoreSnapshots, type DiffResult, type DiffRequest, type RevertResult, type StoreSnapshotOptions } from './store-snapshot.js';
