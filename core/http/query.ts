import { GfError, KernelErrors } from '../errors.js';

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
