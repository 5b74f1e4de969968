export * from './types.js';
export * from './layout.js';
export { ExportService } from './export.js';
export { SnapshotService, type SnapshotOptions } from './snapshot.js';
export { parseSnapshotId } from './snapshot-store.js';
export * from './import/index.js';
