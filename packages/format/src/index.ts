export * from './model.js';
export * from './cpio/index.js';
