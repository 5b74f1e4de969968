/**
 * SPEC §3.1: an osimage name (and every os, arch or profile token that becomes a path segment)
 * is 1–128 of [A-Za-z0-9._+-] and never "." or "..". The one statement of the rule; the
 * format package words its errors from the same constants.
 */
import { z } from 'zod';

export const MAX_NAME_LENGTH = 128;

/** The rule as one pattern: the lookahead refuses "." and "..". */
export const IMAGE_NAME_PATTERN = /^(?!\.\.?$)[A-Za-z0-9._+-]{1,128}$/;

export function isValidImageName(name: string): boolean {
  return IMAGE_NAME_PATTERN.test(name);
}

/** Two checks so that each failure says which half of the rule it broke; JSON Schema keeps both. */
export const imageName = z
  .string()
  .regex(/^[A-Za-z0-9._+-]{1,128}$/, 'must be 1-128 characters of A-Z a-z 0-9 . _ + - (not "." or "..")')
  .regex(/^(?!\.\.?$)/, 'must not be . or ..');

/** BullMQ builds Redis keys from job ids: no `:`. (All-digit ids are refused by the catalog.) */
export const JOB_ID_PATTERN = /^[A-Za-z0-9._-]{1,200}$/;
export const jobId = z.string().regex(JOB_ID_PATTERN, 'not a job id');
