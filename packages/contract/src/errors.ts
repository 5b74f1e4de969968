/** The error document every failed request answers with (`{"error": {"code", "message"}}`). */
import { z } from 'zod';

export const errorDocument = z.object({
  error: z.object({
    code: z.string().meta({ examples: ['BAD_REQUEST', 'UNAUTHORIZED', 'NOT_FOUND', 'IMAGE_NOT_FOUND', 'CONFLICT', 'LIMIT_EXCEEDED', 'QUEUE_UNAVAILABLE'] }),
    message: z.string(),
  }),
});
export type ErrorDocument = z.infer<typeof errorDocument>;
