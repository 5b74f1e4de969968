import { createHash } from 'node:crypto';

/** `sha256:<hex>`, the OCI spelling of a digest. */
export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export const DIGEST = /^sha256:[0-9a-f]{64}$/;
