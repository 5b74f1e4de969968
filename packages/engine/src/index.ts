export * from './types.js';
export * from './layout.js';
export { ExportService } from './export.js';
export { SnapshotService, type SnapshotOptions } from './snapshot.js';
export { parseSnapshotId } from './snapshot-store.js';
export * from './import/index.js';
export * from './signatures.js';
export * from './signing.js';
export * from './verify.js';
