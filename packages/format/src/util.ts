import { ImgportError } from '@imgport/runtime';

/** A manifest is a few hundred bytes; anything near this size is hostile. */
export const MAX_MANIFEST_CHARS = 1 << 20;

/** Quotes untrusted text for an error message, cut short so a hostile 1 MB name stays readable. */
export function quote(value: string, max = 120): string {
  const shown = value.length > max ? `${value.slice(0, max)}…` : value;
  return JSON.stringify(shown);
}

/**
 * Runs `fn`; an ImgportError it throws is re-thrown with `prefix` in front of its message (same
 * code), so a path rule's error also says which manifest line or element it came from.
 */
export function at<T>(prefix: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof ImgportError)) throw err;
    throw new ImgportError(err.code, `${prefix}: ${err.message}`, { cause: err, where: prefix });
  }
}

/** Byte-wise (UTF-8) order, the order `LC_ALL=C sort` and Perl's `sort` give. */
export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
