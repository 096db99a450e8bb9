import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { counts, TargetError, type ClientCredentials, type Credentials, type RunOptions, type SuiteDef } from './model.js';
import { htmlReport, jsonReport, junitXml, summaryText } from './report.js';
import { runSuite } from './runner.js';
import { openadr3VenSuite } from './suites/openadr3-ven/index.js';
import { openadr3VtnSuite } from './suites/openadr3-vtn/index.js';

export interface ConformanceIo {
  out(line: string): void;
  err(line: string): void;
}

/** Exit codes: every required case passed; a required case failed; usage; the target cannot be tested. */
export const EXIT = { ok: 0, failed: 1, usage: 2, target: 3 } as const;

const SUITES: Record<string, SuiteDef<any>> = { 'openadr3-vtn': openadr3VtnSuite, 'openadr3-ven': openadr3VenSuite };
/** Suites in which the runner plays the server and the target connects to it. */
const PLAYS_SERVER = new Set(['openadr3-ven']);

export const USAGE = `Usage: gridflex conformance run --target URL --suite SUITE --credentials FILE
                              [--junit FILE] [--html FILE] [--json] [--strict] [--only PREFIX]...
                              [--timeout-ms N] [--attempts N] [--notify-timeout-ms N]
                              [--listen HOST:PORT] [--callback-url URL] [--spec-dir DIR] [--prefix NAME]
       gridflex conformance run --suite openadr3-ven --listen HOST:PORT --credentials FILE
                              [--wait-seconds N] [--observe-seconds N] [...the report options]
       gridflex conformance list --suite SUITE [--json]

Runs a conformance suite against a server over the network only (black box): ours or anyone's.
Suites: ${Object.keys(SUITES).join(', ')}.
  --target URL          the VTN's base URL, e.g. https://vtn.example/openadr3/3.1.0
  --credentials FILE    JSON: {"bl": {"clientId", "clientSecret"}, "vens": [{"clientId", "clientSecret"}, ...]}
                        (a client may give {"token"} instead; a second VEN enables the privacy cases)
  --junit FILE, --html FILE   also write JUnit XML and an HTML report; --json prints the report as JSON
  --strict              recommended cases count too for the exit code
  --only PREFIX         run only cases whose id starts with PREFIX (repeatable)
  --timeout-ms N        per HTTP attempt (default 10000); --attempts N for transport errors (default 3)
  --notify-timeout-ms N how long to wait for a webhook or MQTT notification (default 10000)
  --listen HOST:PORT    the runner's webhook listener (default 127.0.0.1:0); --callback-url URL what the
                        target is told to call (when the listener is behind NAT or a TLS proxy)
  --spec-dir DIR        the folder with the OpenADR 3.1.0 openadr3.yaml (default: shared/specs beside the repository)
  --prefix NAME         prefix of every object name the run creates (default gfct); all are deleted at the end
openadr3-ven: the runner plays a VTN on --listen (base path /openadr3/3.1.0) for the VEN under test,
which is started separately with the client of vens[0] in --credentials; it waits --wait-seconds
(default 60) for the VEN and watches it --observe-seconds (default 20).
Progress goes to stderr, the summary to stdout. Exit 0: every required case passed; 1: a required case
failed; 2: usage; 3: the target cannot be tested (unreachable, slow, not OpenADR, another version,
credentials refused), said in one line.`;

class UsageError extends Error {}

function positiveInt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`--${name} must be a whole number ≥ 1, got '${v}'`);
  return Number(v);
}

function client(where: string, c: unknown): ClientCredentials {
  if (!c || typeof c !== 'object' || Array.isArray(c)) throw new UsageError(`${where} must be an object`);
  const o = c as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['clientId', 'clientSecret', 'token'].includes(k)) throw new UsageError(`${where}.${k} is not a credentials field (clientId, clientSecret, token)`);
  for (const k of ['clientId', 'clientSecret', 'token']) if (o[k] !== undefined && (typeof o[k] !== 'string' || o[k] === '')) throw new UsageError(`${where}.${k} must be a non-empty string`);
  if (o.token === undefined && (o.clientId === undefined || o.clientSecret === undefined)) throw new UsageError(`${where} needs clientId and clientSecret, or token`);
  return o as ClientCredentials;
}

/** Reads and checks `--credentials FILE` (format in conformance/README.md). */
export function readCredentials(file: string): Credentials {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`--credentials ${file}: ${(e as Error).message}`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new UsageError(`--credentials ${file}: expected a JSON object`);
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'bl' && k !== 'vens') throw new UsageError(`--credentials ${file}: unknown key '${k}' (bl, vens)`);
  if (!Array.isArray(o.vens)) throw new UsageError(`--credentials ${file}: vens must be a list of VEN clients`);
  return { ...(o.bl !== undefined ? { bl: client('bl', o.bl) } : {}), vens: o.vens.map((v, i) => client(`vens[${i}]`, v)) };
}

function listen(v: string | undefined): { host: string; port: number } {
  if (v === undefined) return { host: '127.0.0.1', port: 0 };
  const m = /^(.+):(\d+)$/.exec(v);
  if (!m || Number(m[2]) > 65535) throw new UsageError(`--listen must be HOST:PORT, got '${v}'`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/** `gridflex conformance …`: resolves to the exit code. */
export async function conformanceMain(args: string[], io: ConformanceIo): Promise<number> {
  const [sub, ...rest] = args;
  try {
    if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
      io.out(USAGE);
      return sub === undefined ? EXIT.usage : EXIT.ok;
    }
    if (sub !== 'run' && sub !== 'list') throw new UsageError(`unknown conformance command '${sub}' (run, list)`);
    let values;
    try {
      ({ values } = parseArgs({
        args: rest,
        strict: true,
        options: {
          target: { type: 'string' },
          suite: { type: 'string' },
          credentials: { type: 'string' },
          junit: { type: 'string' },
          html: { type: 'string' },
          json: { type: 'boolean' },
          strict: { type: 'boolean' },
          only: { type: 'string', multiple: true },
          'timeout-ms': { type: 'string' },
          attempts: { type: 'string' },
          'notify-timeout-ms': { type: 'string' },
          listen: { type: 'string' },
          'callback-url': { type: 'string' },
          'spec-dir': { type: 'string' },
          prefix: { type: 'string' },
          'wait-seconds': { type: 'string' },
          'observe-seconds': { type: 'string' },
          help: { type: 'boolean', short: 'h' },
        },
      }));
    } catch (e) {
      throw new UsageError((e as Error).message.split('\n')[0]!);
    }
    if (values.help) {
      io.out(USAGE);
      return EXIT.ok;
    }
    if (!values.suite) throw new UsageError(`--suite is required (${Object.keys(SUITES).join(', ')})`);
    const suite = SUITES[values.suite];
    if (!suite) throw new UsageError(`no suite '${values.suite}' (${Object.keys(SUITES).join(', ')})`);
    if (sub === 'list') {
      const cases = suite.cases(undefined as never);
      if (values.json) io.out(JSON.stringify(cases.map((c) => ({ id: c.id, group: c.group, title: c.title, severity: c.severity, clause: c.clause }))));
      else for (const c of cases) io.out(`${c.id.padEnd(48)} ${c.severity.padEnd(11)} ${c.title}`);
      return EXIT.ok;
    }
    const playsServer = PLAYS_SERVER.has(values.suite);
    if (!values.target && !playsServer) throw new UsageError('--target is required');
    if (values.target && playsServer) throw new UsageError(`--suite ${values.suite} plays the server: give --listen, not --target`);
    if (!values.credentials) throw new UsageError('--credentials is required (see gridflex conformance --help)');
    const prefix = values.prefix ?? 'gfct';
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(prefix)) throw new UsageError('--prefix must be 1 to 32 letters, digits, _ or -');
    const l = listen(values.listen);
    if (values['callback-url']) {
      try {
        new URL(values['callback-url']);
      } catch {
        throw new UsageError(`--callback-url must be a URL, got '${values['callback-url']}'`);
      }
    }
    const options: RunOptions = {
      target: values.target ?? `listener ${values.listen ?? '127.0.0.1:0'}`,
      credentials: readCredentials(values.credentials),
      timeoutMs: positiveInt('timeout-ms', values['timeout-ms'], 10_000),
      attempts: positiveInt('attempts', values.attempts, 3),
      notifyTimeoutMs: positiveInt('notify-timeout-ms', values['notify-timeout-ms'], 10_000),
      listenHost: l.host,
      listenPort: l.port,
      ...(values['callback-url'] ? { callbackUrl: values['callback-url'] } : {}),
      ...(values.only ? { only: values.only } : {}),
      ...(values['spec-dir'] ? { specDir: values['spec-dir'] } : {}),
      prefix,
      waitMs: positiveInt('wait-seconds', values['wait-seconds'], 60) * 1000,
      observeMs: positiveInt('observe-seconds', values['observe-seconds'], 20) * 1000,
    };
    const report = await runSuite(suite, options, { progress: (line) => io.err(line) });
    if (values.junit) writeFileSync(values.junit, junitXml(report));
    if (values.html) writeFileSync(values.html, htmlReport(report));
    if (values.json) {
      io.err(summaryText(report));
      io.out(jsonReport(report));
    } else io.out(summaryText(report));
    const failedRequired = counts(report.results, 'required').fail;
    const failedRecommended = counts(report.results, 'recommended').fail;
    return failedRequired > 0 || (values.strict && failedRecommended > 0) ? EXIT.failed : EXIT.ok;
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`gridflex conformance: ${e.message}`);
      return EXIT.usage;
    }
    if (e instanceof TargetError) {
      io.err(`gridflex conformance: ${e.message}`);
      return EXIT.target;
    }
    io.err(`gridflex conformance: ${((e as Error).message ?? String(e)).replace(/\s*\n\s*/g, ' ')}`);
    return EXIT.failed;
  }
}
