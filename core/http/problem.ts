import { GfError, KernelErrors, errorSpec, isGfError } from '../errors.js';

/** RFC 7807 problem details, with our stable code and a reference id that is also logged. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  /** The request path (an extension member; `instance` names the occurrence). */
  path: string;
  code: string;
  referenceId: string;
  [extension: string]: unknown;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** `type` is a URN per code, so clients can switch on it without a network fetch. */
export function problemType(code: string): string {
  return `urn:gridflex:problem:${code}`;
}

/** Maps any thrown value to a problem. Unknown errors become GF_INTERNAL_ERROR with no internals leaked. */
export function toProblem(err: unknown, path: string, referenceId: string): ProblemDetails {
  const e = normaliseError(err);
  const problem: ProblemDetails = {
    type: problemType(e.code),
    title: e.title,
    status: e.status,
    detail: e.message,
    // An absolute URI naming this occurrence (OpenADR 3's problem schema requires format uri).
    instance: `urn:gridflex:request:${referenceId}`,
    path,
    code: e.code,
    referenceId,
  };
  if (e.data) {
    for (const [k, v] of Object.entries(e.data)) {
      if (!(k in problem) && v !== undefined) problem[k] = v;
    }
  }
  return problem;
}

/** Turns framework errors (raw-body, koa's ctx.throw) into coded errors; the rest into an internal error. */
export function normaliseError(err: unknown): GfError {
  if (isGfError(err)) return err;
  const e = err as { status?: unknown; statusCode?: unknown; type?: unknown; message?: unknown; expose?: unknown } | undefined;
  const status = typeof e?.status === 'number' ? e.status : typeof e?.statusCode === 'number' ? e.statusCode : 500;
  if (e?.type === 'entity.too.large' || status === 413) {
    return new GfError(KernelErrors.GF_HTTP_BODY_TOO_LARGE, 'request body exceeds the configured limit', { cause: err });
  }
  if (e?.type === 'request.aborted') return new GfError(KernelErrors.GF_HTTP_MALFORMED_BODY, 'request body was cut off by the client', { cause: err });
  if (status === 404) return new GfError(KernelErrors.GF_HTTP_NOT_FOUND, String(e?.message ?? 'not found'));
  if (status === 405) return new GfError(KernelErrors.GF_HTTP_METHOD_NOT_ALLOWED, String(e?.message ?? 'method not allowed'));
  if (status === 415) return new GfError(KernelErrors.GF_HTTP_UNSUPPORTED_MEDIA_TYPE, String(e?.message ?? 'unsupported media type'));
  if (status >= 400 && status < 500 && e?.expose) {
    return new GfError(KernelErrors.GF_VALIDATION_FAILED, String(e.message), { status, cause: err });
  }
  return new GfError(KernelErrors.GF_INTERNAL_ERROR, 'an internal error occurred; quote the reference id when reporting it', {
    cause: err,
    status: errorSpec(KernelErrors.GF_INTERNAL_ERROR).status,
  });
}
