export { imgport, xcatexport, xcatimport, type Main } from './main.js';
export { createProgressBar, renderBar, type ProgressBar } from './progress.js';
export { formatBytes, formatDuration } from './units.js';
