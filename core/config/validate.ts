import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { JsonSchema } from '../plugin/define.js';

// ajv-formats ships CommonJS with a default export; under NodeNext it arrives as the module object.
const addFormats = (addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule;

/** One violated rule, with a JSON-pointer-like dotted path to the offending key. */
export interface ConfigViolation {
  path: string;
  message: string;
}

function makeAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true });
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  return ajv;
}

const shared = makeAjv();
const cache = new WeakMap<object, ValidateFunction>();

export function compileSchema(schema: JsonSchema): ValidateFunction {
  let fn = cache.get(schema);
  if (!fn) {
    fn = shared.compile(schema);
    cache.set(schema, fn);
  }
  return fn;
}

/**
 * Validates `value` in place (defaults are written into it) and returns every violation,
 * each naming its key: `prefix.key.sub: must be integer`.
 */
export function validateWithSchema(schema: JsonSchema, value: unknown, prefix: string): ConfigViolation[] {
  const fn = compileSchema(schema);
  if (fn(value)) return [];
  return (fn.errors ?? []).map((e) => toViolation(e, prefix));
}

/** `orders/0/qtyWh` → `orders[0].qtyWh`. */
function dotted(segments: string[]): string {
  return segments.reduce((acc, s) => (/^\d+$/.test(s) ? `${acc}[${s}]` : acc ? `${acc}.${s}` : s), '');
}

function toViolation(e: ErrorObject, prefix: string): ConfigViolation {
  let path = dotted(e.instancePath.split('/').filter(Boolean).map(decodePointer));
  let message = e.message ?? 'is invalid';
  if (e.keyword === 'additionalProperties') {
    const extra = (e.params as { additionalProperty: string }).additionalProperty;
    path = path ? `${path}.${extra}` : extra;
    message = 'is not a known key';
  } else if (e.keyword === 'required') {
    const missing = (e.params as { missingProperty: string }).missingProperty;
    path = path ? `${path}.${missing}` : missing;
    message = 'is required';
  } else if (e.keyword === 'enum') {
    message = `must be one of ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}`;
  }
  const full = [prefix, path].filter(Boolean).join('.');
  return { path: full || '(root)', message };
}

function decodePointer(s: string): string {
  return s.replace(/~1/g, '/').replace(/~0/g, '~');
}
