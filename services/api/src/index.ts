export { createApp, listRoutes } from './app.js';
export type { AppDeps, AppOptions } from './deps.js';
export { openapi } from './openapi.js';
