export * from './types.js';
export * from './layout.js';
export * from './import/index.js';
