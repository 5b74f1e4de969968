export * from './errors.js';
export * from './config.js';
export * from './logger.js';
export * from './process.js';
export * from './owner.js';
export * from './lockfile.js';
