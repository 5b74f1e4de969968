export { startWorker, assertHandlers, type RunningWorker, type WorkerOptions } from './worker.js';
export { HANDLERS, exportPath } from './handlers/index.js';
export type { Handlers, JobContext, JobHandler, WorkerDeps } from './context.js';
