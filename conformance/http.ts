import type { Exchange } from './model.js';

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  /** A JSON body (serialised here). */
  json?: unknown;
  /** A form body (application/x-www-form-urlencoded). */
  form?: Record<string, string>;
  /** A raw body with its own content-type header. */
  raw?: string;
}

/** No HTTP answer after every attempt: connection refused, reset, DNS, or a timeout. */
export class TransportError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly exchange: Exchange,
  ) {
    super(message);
  }
}

const CONNECT_PHASE = new Set(['ECONNREFUSED', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

/** The code of a fetch failure: the cause's errno-style code, or TIMEOUT. */
function transportCode(e: unknown): string {
  const err = e as { name?: string; code?: string; cause?: { code?: string; name?: string; message?: string } };
  if (err.name === 'TimeoutError' || err.cause?.name === 'TimeoutError') return 'TIMEOUT';
  return err.cause?.code ?? err.code ?? err.cause?.message ?? 'EUNKNOWN';
}

export function describeTransport(code: string, ms: number): string {
  switch (code) {
    case 'TIMEOUT':
      return `no answer within ${ms} ms`;
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
      return 'host name does not resolve';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'connection reset';
    default:
      return code;
  }
}

/** Authorization values are shown shortened in reports (they are the tester's credentials). */
function redact(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() === 'authorization') {
      const [scheme, value = ''] = v.split(' ');
      out[k] = `${scheme} ${value.length > 12 ? `${value.slice(0, 8)}…` : value}`;
    } else out[k] = v;
  }
  return out;
}

function headersOf(h: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  h.forEach((v, k) => (out[k] = v));
  return out;
}

/**
 * One HTTP request with retries for transport errors only: any HTTP answer, whatever its status, is
 * returned as is. Idempotent methods are retried on any transport error; POST only when the
 * connection was never made (so a retry cannot create an object twice).
 */
export async function send(req: HttpRequest, opts: { timeoutMs: number; attempts: number }): Promise<Exchange> {
  const headers: Record<string, string> = { accept: 'application/json', ...(req.headers ?? {}) };
  let body: string | undefined;
  if (req.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(req.json);
  } else if (req.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(req.form).toString();
  } else if (req.raw !== undefined) body = req.raw;
  const exchange: Exchange = { request: { method: req.method, url: req.url, headers: redact(headers), ...(body !== undefined ? { body } : {}) }, attempts: 0, ms: 0 };
  const t0 = Date.now();
  let lastCode = 'EUNKNOWN';
  for (let attempt = 1; attempt <= Math.max(1, opts.attempts); attempt++) {
    exchange.attempts = attempt;
    try {
      const res = await fetch(req.url, { method: req.method, headers, redirect: 'manual', signal: AbortSignal.timeout(opts.timeoutMs), ...(body !== undefined ? { body } : {}) });
      const text = await res.text();
      let json: unknown;
      if (text && /json/i.test(res.headers.get('content-type') ?? '')) {
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
      }
      exchange.response = { status: res.status, headers: headersOf(res.headers), body: text, ...(json !== undefined ? { json } : {}) };
      exchange.ms = Date.now() - t0;
      return exchange;
    } catch (e) {
      lastCode = transportCode(e);
      const retriable = req.method !== 'POST' || CONNECT_PHASE.has(lastCode);
      if (!retriable || attempt >= opts.attempts) break;
      await new Promise((r) => setTimeout(r, 200 * 2 ** (attempt - 1)));
    }
  }
  exchange.ms = Date.now() - t0;
  exchange.error = `${describeTransport(lastCode, opts.timeoutMs)} (${exchange.attempts} attempt${exchange.attempts === 1 ? '' : 's'})`;
  throw new TransportError(`${req.method} ${req.url}: ${exchange.error}`, lastCode, exchange);
}
