/**
 * Request limits the SPEC leaves open. They are the values a request through the API could
 * actually pass before they were written once: the API allowed labels of 256 and the job
 * catalog 200, the catalog 1000 extras and the API 256; the stricter side of each decided.
 */
export const MAX_LABEL_LENGTH = 200;
export const MAX_EXTRAS = 256;
/** An extra's SRC[:DESTDIR], a source path or URL, a fromRoot. */
export const MAX_PATH_LENGTH = 4096;
/** Images named in one bulk snapshot. */
export const MAX_SNAPSHOT_IMAGES = 10_000;
