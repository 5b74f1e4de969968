/**
 * Dead stream chunks freed promptly. Every chunk the inflate (or a file read) hands over is a
 * fresh buffer outside the JS heap, and it is freed only when a garbage collection finds its
 * small JS object dead. A young generation small enough for scavenges to come often
 * (--max-semi-space-size=1) promotes everything that lives a little while, and the old
 * generation then fills up: about 110 full collections on the 628 MiB bench bundle, a fifth of
 * the import's CPU. A larger one (4 MiB) lets those objects die young, but its scavenges come
 * too seldom for the chunks: tens of MiB of dead ones wait. So, where the process was started
 * with --expose-gc (the xcatimport bin is), one scavenge per 4 MiB of chunks: each costs a
 * fraction of a millisecond, as little lives in the young generation. Without the flag (a
 * service started otherwise) nothing happens here.
 */
const STEP = 4 * 1024 * 1024;

const gc = (globalThis as { gc?: (opts: { type: 'minor' }) => void }).gc;
let since = 0;

/** `n` bytes of chunks were handed on (and are garbage once the consumer is done with them). */
export function chunksPassed(n: number): void {
  if (gc === undefined) return;
  since += n;
  if (since < STEP) return;
  since = 0;
  gc({ type: 'minor' });
}
