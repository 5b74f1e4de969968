export * from './names.js';
export * from './lists.js';
export * from './limits.js';
export * from './jobs.js';
export * from './requests.js';
export * from './errors.js';
export * from './json-schema.js';
export * from './responses.js';
