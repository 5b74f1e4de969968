export * from './types.js';
export * from './entry-path.js';
export * from './tree-writer.js';
export * from './rootimg.js';
export * from './pack-tree.js';
export * from './tree-listing.js';
