import { validateWithSchema } from '../config/validate.js';
import { GfError, KernelErrors } from '../errors.js';
import type { JsonSchema } from '../plugin/define.js';

/** A Koa query object. */
export type Query = Record<string, string | string[] | undefined>;

/** A refused query parameter: 400 GF_VALIDATION_FAILED, naming it in `parameter`. */
export function invalidParam(parameter: string, message: string): GfError {
  return new GfError(KernelErrors.GF_VALIDATION_FAILED, message, { data: { parameter } });
}

/** One query parameter's value (undefined when absent), refused when given more than once. */
export function oneParam(q: Query, k: string): string | undefined {
  const v = q[k];
  if (Array.isArray(v)) throw invalidParam(k, `query parameter ${k} given more than once`);
  return v;
}

/**
 * A JSON request body checked against a JSON Schema (ajv, every violation collected; defaults filled in).
 * Refused with `code` (400 GF_VALIDATION_FAILED unless a plugin's own) naming each offending field:
 * `fingerprint: must match pattern …; extra: is not a known key`, the first one in `data.field`.
 */
export function validBody<T>(body: unknown, schema: JsonSchema, code: string = KernelErrors.GF_VALIDATION_FAILED): T {
  const value = body === undefined ? {} : body;
  const violations = validateWithSchema(schema, value, '');
  if (violations.length > 0) {
    throw new GfError(code, violations.map((v) => `${v.path}: ${v.message}`).join('; '), { data: { field: violations[0]!.path, violations } });
  }
  return value as T;
}
