import getRawBody from 'raw-body';
import xml2js from 'xml2js';
import type { Context, Next } from 'koa';
import { GfError, KernelErrors } from '../errors.js';
import { checkParsedBody, checkRawBody } from './input.js';

declare module 'koa' {
  interface Request {
    /** The parsed body: an object for JSON, a string for text and XML (see `ctx.state.xml`). */
    body?: unknown;
    /** The body as received, for signatures and codecs that need the exact bytes. */
    rawBody?: string;
  }
}

const XML_OPTIONS = { explicitArray: true, xmlns: true, async: false, strict: true };

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export type BodyKind = 'json' | 'xml' | 'text' | 'form';

/** Which media types the kernel parses; anything else with a body is refused with 415. */
export function bodyKindOf(contentType: string | undefined): BodyKind | undefined {
  if (!contentType) return undefined;
  const mt = contentType.split(';')[0]!.trim().toLowerCase();
  if (mt === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(mt)) return 'json';
  if (mt === 'application/xml' || mt === 'text/xml' || /^application\/[a-z0-9.+-]+\+xml$/.test(mt)) return 'xml';
  if (mt === 'text/plain' || mt === 'text/csv') return 'text';
  if (mt === 'application/x-www-form-urlencoded') return 'form';
  return undefined;
}

/**
 * Reads and parses request bodies: size limit (413), media type (415), well-formedness (400).
 * XML is parsed with explicit namespaces into `ctx.state.xml` when a route first reads it (400 if not
 * well-formed); the raw text stays in `ctx.request.rawBody` for codecs with their own parser.
 */
export function bodyParser(limitBytes: number) {
  return async function parseBody(ctx: Context, next: Next): Promise<void> {
    const hasBody = BODY_METHODS.has(ctx.method) && (Number(ctx.get('content-length') || 0) > 0 || ctx.get('transfer-encoding') !== '');
    if (!hasBody) return next();
    const kind = bodyKindOf(ctx.get('content-type') || undefined);
    if (!kind) {
      throw new GfError(
        KernelErrors.GF_HTTP_UNSUPPORTED_MEDIA_TYPE,
        `content type '${ctx.get('content-type') || '(none)'}' is not accepted; send application/json, application/xml, application/x-www-form-urlencoded or text/plain`,
        { data: { contentType: ctx.get('content-type') || null } },
      );
    }
    const charset = /charset=([^;]+)/i.exec(ctx.get('content-type'))?.[1]?.trim().toLowerCase() ?? 'utf-8';
    if (charset !== 'utf-8' && charset !== 'utf8') {
      throw new GfError(KernelErrors.GF_HTTP_UNSUPPORTED_MEDIA_TYPE, `charset '${charset}' is not accepted; send utf-8`);
    }
    const length = ctx.get('content-length');
    const raw = await getRawBody(ctx.req, { limit: limitBytes, encoding: 'utf-8', ...(length ? { length } : {}) });
    ctx.request.rawBody = raw;
    // NUL, lone surrogates and deep nesting are refused here, for every route, before any plugin sees the body.
    checkRawBody(raw);
    if (kind === 'json') {
      let parsed: unknown;
      try {
        parsed = raw.trim() === '' ? undefined : JSON.parse(raw);
      } catch (e) {
        throw new GfError(KernelErrors.GF_HTTP_MALFORMED_BODY, `body is not valid JSON: ${(e as Error).message}`);
      }
      checkParsedBody(parsed);
      ctx.request.body = parsed;
    } else if (kind === 'xml') {
      // Parsed on first read of ctx.state.xml: codecs with their own parser (OpenADR 2.0b) never pay
      // for it, and answer malformed XML in their protocol's terms.
      let parsed: unknown;
      let done = false;
      Object.defineProperty(ctx.state, 'xml', {
        configurable: true,
        enumerable: true,
        get() {
          if (!done) {
            done = true;
            let failure: Error | undefined;
            new xml2js.Parser(XML_OPTIONS).parseString(raw, (err: Error | null, result: unknown) => {
              failure = err ?? undefined;
              parsed = result;
            });
            if (failure) throw new GfError(KernelErrors.GF_HTTP_MALFORMED_BODY, `body is not well-formed XML: ${failure.message.split('\n')[0]}`);
          }
          return parsed;
        },
      });
      ctx.request.body = raw;
    } else if (kind === 'form') {
      // OAuth2 token requests (RFC 6749 §4.4.2); a repeated parameter is a malformed request (§3.1).
      const params = new URLSearchParams(raw);
      const out: Record<string, string> = {};
      for (const [k, v] of params) {
        if (k in out) throw new GfError(KernelErrors.GF_HTTP_MALFORMED_BODY, `form parameter '${k}' is repeated`);
        out[k] = v;
      }
      checkParsedBody(out);
      ctx.request.body = out;
    } else {
      ctx.request.body = raw;
    }
    return next();
  };
}
