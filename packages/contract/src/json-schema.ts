/**
 * JSON Schema (2020-12, as OpenAPI 3.1 uses) of a contract schema, for the OpenAPI document:
 * the shape a client sends, so defaults are optional and transforms show their input.
 */
import { z } from 'zod';

export function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}
