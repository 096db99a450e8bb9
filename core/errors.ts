/**
 * Coded errors. Every error that leaves a component carries a stable code (`GF_<AREA>_<WHAT>`);
 * the transport edge (HTTP problem+json, OpenADR 2.0b eiResponse, CLI exit line) maps it once.
 */

/** What the edge needs to present a code: HTTP status and a short, stable title. */
export interface ErrorCodeSpec {
  readonly status: number;
  readonly title: string;
}

const registry = new Map<string, ErrorCodeSpec>();

const CODE_PATTERN = /^GF_[A-Z0-9]+_[A-Z0-9_]+$/;

/**
 * Declares a family of error codes. Plugins call this in their `errors.ts`; a code may be declared
 * once with one meaning (declaring it again with another status or title is a programming error).
 */
export function defineErrors<const T extends Record<string, ErrorCodeSpec>>(specs: T): { [K in keyof T]: K } {
  const out: Record<string, string> = {};
  for (const [code, spec] of Object.entries(specs)) {
    if (!CODE_PATTERN.test(code)) throw new Error(`error code ${code} does not match GF_<AREA>_<WHAT>`);
    const prev = registry.get(code);
    if (prev && (prev.status !== spec.status || prev.title !== spec.title)) {
      throw new Error(`error code ${code} declared twice with different meanings`);
    }
    registry.set(code, spec);
    out[code] = code;
  }
  return out as { [K in keyof T]: K };
}

/** Every code declared so far, for the docs table and tests. */
export function declaredErrorCodes(): ReadonlyMap<string, ErrorCodeSpec> {
  return registry;
}

export function errorSpec(code: string): ErrorCodeSpec {
  return registry.get(code) ?? { status: 500, title: 'Internal error' };
}

export interface GfErrorOptions {
  /** Extra machine-readable facts (offending keys, plugin id, ...); shown in problem bodies. */
  data?: Record<string, unknown>;
  cause?: unknown;
  /** Overrides the code's default status (rarely right; prefer a new code). */
  status?: number;
}

/** An error with a stable code. `message` is the human-readable detail. */
export class GfError extends Error {
  readonly code: string;
  readonly status: number;
  readonly title: string;
  readonly data: Record<string, unknown> | undefined;

  constructor(code: string, detail: string, opts: GfErrorOptions = {}) {
    super(detail, opts.cause === undefined ? undefined : { cause: opts.cause });
    const spec = errorSpec(code);
    this.name = 'GfError';
    this.code = code;
    this.status = opts.status ?? spec.status;
    this.title = spec.title;
    this.data = opts.data;
  }
}

/**
 * Structural, not `instanceof`: a plugin may bring its own copy of the kernel package, and its
 * coded errors must still map to their codes at the edge.
 */
export function isGfError(e: unknown): e is GfError {
  if (e instanceof GfError) return true;
  if (!(e instanceof Error) || e.name !== 'GfError') return false;
  const x = e as Error & Partial<Record<'code' | 'status' | 'title', unknown>>;
  return typeof x.code === 'string' && typeof x.status === 'number' && typeof x.title === 'string';
}

/** Kernel error codes. Keep `docs/errors.md` in step (a test checks it). */
export const KernelErrors = defineErrors({
  GF_INTERNAL_ERROR: { status: 500, title: 'Internal server error' },
  GF_PLUGIN_INVALID_DEFINITION: { status: 500, title: 'Plugin definition is invalid' },
  GF_PLUGIN_DUPLICATE_ID: { status: 500, title: 'Two plugins share one id' },
  GF_PLUGIN_MISSING_DEPENDENCY: { status: 500, title: 'Plugin needs a service no loaded plugin provides' },
  GF_PLUGIN_DEPENDENCY_CYCLE: { status: 500, title: 'Plugins depend on each other in a cycle' },
  GF_PLUGIN_UNDECLARED_DEPENDENCY: { status: 500, title: 'Plugin reads a dependency it did not declare' },
  GF_PLUGIN_PROVIDES_MISMATCH: { status: 500, title: 'Plugin start did not return exactly what it provides' },
  GF_PLUGIN_LATE_CALL: { status: 500, title: 'Plugin called a wiring method after its phase ended' },
  GF_PLUGIN_KERNEL_VERSION: { status: 500, title: 'Plugin is written for another kernel version' },
  GF_PLUGIN_INVALID_CONFIG: { status: 500, title: 'Plugin configuration is invalid' },
  GF_PLUGIN_REGISTER_FAILED: { status: 500, title: 'Plugin failed while registering' },
  GF_PLUGIN_START_FAILED: { status: 500, title: 'Plugin failed to start' },
  GF_PLUGIN_START_TIMEOUT: { status: 500, title: 'Plugin did not start in time' },
  GF_PLUGIN_UNKNOWN: { status: 500, title: 'Configuration names an unknown plugin' },
  GF_PLUGIN_LOAD_FAILED: { status: 500, title: 'Plugin module could not be loaded' },
  GF_PLUGIN_ROUTE_CONFLICT: { status: 500, title: 'Two plugins mount routes under one prefix' },
  GF_PLUGIN_TOKEN_CONFLICT: { status: 500, title: 'Two plugins provide one service' },
  GF_PLUGIN_EXTENSION_POINT: { status: 500, title: 'Extension point misuse' },
  GF_CONFIG_INVALID: { status: 500, title: 'Configuration is invalid' },
  GF_CONFIG_UNREADABLE: { status: 500, title: 'Configuration file cannot be read or parsed' },
  GF_CLI_USAGE: { status: 400, title: 'Command-line usage error' },
  GF_HTTP_NOT_FOUND: { status: 404, title: 'Not found' },
  GF_HTTP_UNAUTHORIZED: { status: 401, title: 'API token missing or wrong' },
  GF_HTTP_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  GF_HTTP_BODY_TOO_LARGE: { status: 413, title: 'Request body too large' },
  GF_HTTP_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  GF_HTTP_MALFORMED_BODY: { status: 400, title: 'Malformed request body' },
  GF_HTTP_INVALID_CHARACTER: { status: 400, title: 'Request holds NUL or a lone surrogate' },
  GF_HTTP_BODY_TOO_DEEP: { status: 400, title: 'Request body nested too deeply' },
  GF_HTTP_NOT_READY: { status: 503, title: 'Server is starting' },
  GF_HTTP_SHUTTING_DOWN: { status: 503, title: 'Server is shutting down' },
  GF_VALIDATION_FAILED: { status: 400, title: 'Request failed validation' },
  GF_STORAGE_LOCKED: { status: 409, title: 'Data folder is in use by another process' },
  GF_STORAGE_UNAVAILABLE: { status: 503, title: 'Storage is unreachable' },
  GF_STORAGE_MIGRATION_FAILED: { status: 500, title: 'Storage migration failed' },
  GF_TS_INVALID_READING: { status: 400, title: 'Reading is invalid' },
  GF_TS_UNIT_MISMATCH: { status: 400, title: 'Reading unit does not match its quantity' },
  GF_TS_DUPLICATE: { status: 409, title: 'Reading already stored' },
  GF_SCHEDULER_INVALID_SCHEDULE: { status: 500, title: 'Job schedule is invalid' },
  GF_SECRETS_KEK_INVALID: { status: 500, title: 'Key-encryption key missing or malformed' },
  GF_SECRETS_KEK_PERMISSIONS: { status: 500, title: 'Key-encryption key file is readable by others' },
  GF_SECRETS_WRONG_KEK: { status: 500, title: 'Secrets are sealed under another key-encryption key' },
  GF_SECRETS_UNSEALABLE: { status: 500, title: 'A sealed secret does not open' },
});
