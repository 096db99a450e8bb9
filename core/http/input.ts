import type { Context } from 'koa';
import { GfError, KernelErrors } from '../errors.js';

/**
 * Text no route may receive, refused once at the edge (query, path, body) so that no plugin has to remember:
 * NUL (PostgreSQL text and jsonb cannot hold U+0000) and lone UTF-16 surrogates (not Unicode scalar values:
 * UTF-8 cannot encode them, so a database either refuses them or silently stores U+FFFD).
 */
export function badCharacter(s: string): 'NUL' | 'a lone surrogate' | undefined {
  if (s.includes('\u0000')) return 'NUL';
  if (!(s as string & { isWellFormed(): boolean }).isWellFormed()) return 'a lone surrogate';
  return undefined;
}

/** Deepest nesting of arrays and objects a JSON body may have (an OpenADR 3 event is about 6 deep). */
export const MAX_JSON_DEPTH = 64;

/** `s` with NUL and lone surrogates written as `\uXXXX`, safe to quote in a message or a log line. */
export function printable(s: string): string {
  return s.replace(/[\u0000\uD800-\uDFFF]/gu, (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}`);
}

function invalid(where: 'query' | 'path' | 'body', name: string, what: string, extra: Record<string, unknown> = {}): GfError {
  const field = printable(name);
  return new GfError(KernelErrors.GF_HTTP_INVALID_CHARACTER, `${where === 'query' ? 'query parameter' : where === 'path' ? 'path parameter' : 'body field'} ${field} holds ${what}, which the server does not accept`, {
    data: { in: where, ...(where === 'query' ? { parameter: field } : { field }), ...extra },
  });
}

/** The route parameters a path gives a matched route (`{ id: 'p1' }`), decoded as the router decodes them. */
export type RouteParams = () => Record<string, string>;

/**
 * Refuses a request whose query (names or values) or decoded path segments hold NUL or a lone surrogate, naming
 * the query parameter, or the route parameter (`params`) holding the segment (else the segment's index).
 */
export function checkQueryAndPath(ctx: Context, params?: RouteParams): void {
  for (const [name, value] of Object.entries(ctx.query)) {
    const whatName = badCharacter(name);
    if (whatName) throw invalid('query', name, `${whatName} in its name`);
    for (const v of Array.isArray(value) ? value : [value ?? '']) {
      const what = badCharacter(v);
      if (what) throw invalid('query', name, what);
    }
  }
  ctx.path.split('/').forEach((segment, i) => {
    if (!segment.includes('%')) return;
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return; // not decodable: the router keeps it as the literal text, which is harmless
    }
    const what = badCharacter(decoded);
    if (!what) return;
    const param = Object.entries(params?.() ?? {}).find(([, v]) => badCharacter(v))?.[0];
    throw invalid('path', param ?? `segment ${i}`, what, { segment: i });
  });
}

type Segment = string | number;

function dotted(at: readonly Segment[]): string {
  return at.reduce<string>((acc, s) => (typeof s === 'number' ? `${acc}[${s}]` : acc ? `${acc}.${s}` : s), '') || '(root)';
}

/** The first string or key holding a bad character, or the first place nested deeper than `maxDepth`. */
function findBad(v: unknown, depth: number, maxDepth: number): { at: Segment[]; what: string } | undefined {
  if (typeof v === 'string') {
    const what = badCharacter(v);
    return what ? { at: [], what } : undefined;
  }
  if (v === null || typeof v !== 'object') return undefined;
  if (depth >= maxDepth) return { at: [], what: 'depth' };
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const r = findBad(v[i], depth + 1, maxDepth);
      if (r) return (r.at.unshift(i), r);
    }
    return undefined;
  }
  for (const [k, x] of Object.entries(v)) {
    const what = badCharacter(k);
    if (what) return { at: [k], what: `${what} in its name` };
    const r = findBad(x, depth + 1, maxDepth);
    if (r) return (r.at.unshift(k), r);
  }
  return undefined;
}

/**
 * Refuses a parsed body (JSON, form, or the tree of an XML body) holding NUL or a lone surrogate in any string or key
 * (400 `GF_HTTP_INVALID_CHARACTER` naming the field), or nested deeper than `maxDepth` (400 `GF_HTTP_BODY_TOO_DEEP`).
 */
export function checkParsedBody(body: unknown, maxDepth = MAX_JSON_DEPTH): void {
  const bad = findBad(body, 0, maxDepth);
  if (!bad) return;
  if (bad.what === 'depth') {
    throw new GfError(KernelErrors.GF_HTTP_BODY_TOO_DEEP, `body is nested deeper than ${maxDepth} levels (at ${dotted(bad.at)})`, { data: { field: dotted(bad.at), maxDepth } });
  }
  throw invalid('body', dotted(bad.at), bad.what);
}

/** Refuses a body's raw text holding NUL (XML forbids it; text and CSV lines would carry it into storage). */
export function checkRawBody(raw: string): void {
  const at = raw.indexOf('\u0000');
  if (at >= 0) {
    const line = raw.slice(0, at).split('\n').length;
    throw new GfError(KernelErrors.GF_HTTP_INVALID_CHARACTER, `body holds NUL (line ${line}), which the server does not accept`, { data: { in: 'body', field: '(body)', line } });
  }
}
