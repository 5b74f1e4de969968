export * from './header.js';
export * from './parser.js';
export * from './writer.js';
