/**
 * The conformance runner's model: cases, what they cite, how bad a failure is, and what came of them.
 * Black box: nothing here knows gridflex's own servers; a target is reached over the network only.
 */

export type Severity = 'required' | 'recommended' | 'extension';
export type Outcome = 'pass' | 'fail' | 'skip';

/** Where a case's rule is written: a document and a place in it. */
export interface Clause {
  doc: 'Definition' | 'User Guide' | 'OpenAPI' | 'RFC 6749' | 'RFC 6750' | 'RFC 7807' | 'MQTT';
  /** A section heading (§…), or for the OpenAPI an operation or schema. */
  ref: string;
}

export function citation(c: Clause): string {
  return c.doc === 'OpenAPI' ? `OpenADR 3.1.0 OpenAPI ${c.ref}` : c.doc === 'Definition' || c.doc === 'User Guide' ? `OpenADR 3.1.0 ${c.doc} ${c.ref}` : `${c.doc} ${c.ref}`;
}

/** One HTTP request and what came back (or the transport error), as the report shows it. */
export interface Exchange {
  request: { method: string; url: string; headers: Record<string, string>; body?: string };
  response?: { status: number; headers: Record<string, string>; body: string; json?: unknown };
  /** A transport error after the retries (no HTTP answer). */
  error?: string;
  attempts: number;
  ms: number;
}

export interface CaseDef<C> {
  /** Stable, dotted: `group.what` (also the JUnit test name). */
  id: string;
  group: string;
  title: string;
  clause: Clause;
  severity: Severity;
  run(ctx: C): Promise<void>;
}

export interface CaseResult {
  id: string;
  group: string;
  title: string;
  clause: string;
  severity: Severity;
  outcome: Outcome;
  /** Why it failed or was skipped. */
  reason?: string;
  /** The exchange that broke it (failures), when there was one. */
  exchange?: Exchange;
  ms: number;
}

/** Thrown by a case when the target broke its rule; carries the exchange that showed it. */
export class CaseFailed extends Error {
  constructor(
    message: string,
    readonly exchange?: Exchange,
  ) {
    super(message);
  }
}

/** Thrown by a case that cannot run here (a feature not offered, credentials not given, setup failed). */
export class CaseSkipped extends Error {}

/**
 * The target cannot be tested at all (unreachable, too slow, not OpenADR, another version, credentials
 * refused): the run ends with this one line and a non-zero exit.
 */
export class TargetError extends Error {
  constructor(
    message: string,
    readonly kind: 'unreachable' | 'slow' | 'not-openadr' | 'wrong-version' | 'credentials',
  ) {
    super(message);
  }
}

export interface SuiteDef<C> {
  id: string;
  title: string;
  /** Checks the target and prepares the context; throws TargetError for a target that cannot be tested. */
  prepare(options: RunOptions, io: RunIo): Promise<C>;
  cases(ctx: C): CaseDef<C>[];
  /** Removes what the run created; returns one line per object it could not remove. */
  cleanup(ctx: C): Promise<string[]>;
  /** Requests the cases made (for the summary). */
  requests?(ctx: C): number;
}

export interface RunOptions {
  target: string;
  credentials?: Credentials;
  /** Per HTTP attempt. */
  timeoutMs: number;
  /** Attempts for a transport error (HTTP answers are never retried). */
  attempts: number;
  /** How long to wait for a webhook or MQTT notification. */
  notifyTimeoutMs: number;
  /** Where the runner's webhook listener binds, and the URL the target is told to call back. */
  listenHost: string;
  listenPort: number;
  callbackUrl?: string;
  /** Run only cases whose id starts with one of these. */
  only?: string[];
  /** The folder with openadr3.yaml (else ../shared/specs/openadr3/3.1.0 beside the repository). */
  specDir?: string;
  /** Prefix of every name the run creates (a random run id is appended). */
  prefix: string;
  /** VEN suites: how long to wait for the VEN to connect, and to watch it once it has. */
  waitMs: number;
  observeMs: number;
}

export interface RunIo {
  /** Progress and diagnostics (stderr). */
  progress(line: string): void;
}

export interface ClientCredentials {
  clientId?: string;
  clientSecret?: string;
  /** A bearer token to use as is (for VTNs whose tokens come from elsewhere). */
  token?: string;
}

/** `--credentials FILE`: see conformance/README.md. */
export interface Credentials {
  bl?: ClientCredentials;
  vens: ClientCredentials[];
}

export interface RunReport {
  suite: string;
  target: string;
  startedAt: string;
  ms: number;
  results: CaseResult[];
  /** Objects the run could not remove. */
  leftovers: string[];
  /** HTTP requests the cases made. */
  requests?: number;
}

export function counts(results: readonly CaseResult[], severity?: Severity): Record<Outcome, number> {
  const c = { pass: 0, fail: 0, skip: 0 };
  for (const r of results) if (!severity || r.severity === severity) c[r.outcome]++;
  return c;
}
