import { CaseFailed, CaseSkipped, type Exchange } from './model.js';

export function fail(message: string, exchange?: Exchange): never {
  throw new CaseFailed(message, exchange);
}

export function skip(reason: string): never {
  throw new CaseSkipped(reason);
}

export function check(condition: unknown, message: string, exchange?: Exchange): asserts condition {
  if (!condition) fail(message, exchange);
}

function shown(x: Exchange): string {
  if (!x.response) return x.error ?? 'no answer';
  const detail = (x.response.json as { detail?: unknown; title?: unknown } | undefined)?.detail ?? (x.response.json as { title?: unknown } | undefined)?.title;
  return `${x.response.status}${typeof detail === 'string' ? ` (${detail.slice(0, 160)})` : ''}`;
}

/** The status must be one of `allowed` (a number, a list, or a predicate with its description). */
export function expectStatus(x: Exchange, allowed: number | readonly number[] | { test: (s: number) => boolean; what: string }, what = ''): Exchange & { response: NonNullable<Exchange['response']> } {
  const status = x.response?.status;
  const ok =
    status !== undefined &&
    (typeof allowed === 'number' ? status === allowed : Array.isArray(allowed) ? allowed.includes(status) : (allowed as { test: (s: number) => boolean }).test(status));
  if (!ok) {
    const want = typeof allowed === 'number' ? String(allowed) : Array.isArray(allowed) ? allowed.join(' or ') : (allowed as { what: string }).what;
    fail(`${what ? `${what}: ` : ''}expected ${want}, got ${shown(x)}`, x);
  }
  return x as Exchange & { response: NonNullable<Exchange['response']> };
}

/** Any 4xx: refused, for whatever reason the VTN gives. */
export const REFUSED = { test: (s: number) => s >= 400 && s < 500, what: 'a 4xx refusal' };

/** The parsed JSON body; fails when the answer is not JSON. */
export function body<T = any>(x: Exchange): T {
  if (x.response?.json === undefined) fail(`expected a JSON body, got ${x.response ? `${x.response.headers['content-type'] ?? 'no content type'}: ${x.response.body.slice(0, 80)}` : 'no answer'}`, x);
  return x.response.json as T;
}

/** The JSON body as an array (a list answer). */
export function list<T = any>(x: Exchange): T[] {
  const b = body<unknown>(x);
  if (!Array.isArray(b)) fail('expected a JSON array', x);
  return b as T[];
}
