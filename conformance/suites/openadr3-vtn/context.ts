import { randomBytes } from 'node:crypto';
import { body, expectStatus, skip } from '../../expect.js';
import { send, TransportError } from '../../http.js';
import { WebhookListener } from '../../listener.js';
import { TargetError, type ClientCredentials, type Exchange, type RunIo, type RunOptions } from '../../model.js';
import { findSpecDir, OpenApi } from '../../openapi.js';

/** Who makes a request: BL, the first VEN, the second VEN, nobody (no token), or a tampered token. */
export type Who = 'bl' | 'ven' | 'ven2' | 'none' | 'bad';

export const WHO_LABEL: Record<Who, string> = { bl: 'BL', ven: 'VEN', ven2: 'another VEN', none: 'no token', bad: 'bad token' };

export interface CallOptions {
  ids?: Record<string, string | undefined>;
  query?: Record<string, string | number | boolean | readonly string[] | undefined>;
  json?: unknown;
  form?: Record<string, string>;
  headers?: Record<string, string>;
}

/** Object collections of the 3.1.0 API. */
export type Collection = 'programs' | 'events' | 'vens' | 'resources' | 'reports' | 'subscriptions';

interface Created {
  collection: Collection;
  id: string;
  who: Who;
}

/** The objects most cases share, made once, on first use (in case order, so runs are deterministic). */
export interface World {
  targets: { a: string; b: string; secret: string; feeder: string };
  venA: any;
  /** Only with a second VEN. */
  venB?: any;
  resA: any;
  resB?: any;
  /** Untargeted program and event. */
  programOpen: any;
  eventOpen: any;
  /** Program and event targeted at [a, secret]. */
  programA: any;
  eventA: any;
  /** Program targeted at [b]; event targeted at [feeder] (granted to VEN 2 through its resource). */
  programB: any;
  eventFeeder: any;
  reportA: any;
}

/**
 * Everything a case needs to talk to the VTN under test: tokens per role, a recording HTTP helper,
 * the OpenAPI document (when found), the webhook listener, what the run created (for cleanup), and
 * the shared objects.
 */
export class Vtn {
  readonly base: string;
  readonly runId = randomBytes(4).toString('hex');
  readonly prefix: string;
  readonly tokens: Partial<Record<'bl' | 'ven' | 'ven2', string>> = {};
  readonly clientIds: Partial<Record<'ven' | 'ven2', string>> = {};
  tokenUrl = '';
  /** Whether tokens came from the target's own /auth/token (else given, or from another server). */
  ownTokenEndpoint = false;
  spec: OpenApi | undefined;
  specProblem = '';
  listener: WebhookListener | undefined;
  listenerProblem = '';
  notifiers: any;
  /** Every answer in the run, with the operation it answered (for the OpenAPI and problem cases). */
  readonly log: { template: string; method: string; exchange: Exchange }[] = [];
  private readonly created: Created[] = [];
  private world: Promise<World> | undefined;
  private worldError: string | undefined;

  constructor(
    readonly options: RunOptions,
    readonly io: RunIo,
  ) {
    this.base = options.target.replace(/\/+$/, '');
    this.prefix = `${options.prefix}-${this.runId}`;
  }

  /** A name unique to this run. */
  name(what: string): string {
    return `${this.prefix}-${what}`;
  }

  has(who: Who): boolean {
    return who === 'none' || who === 'bad' || this.tokens[who] !== undefined;
  }

  requireSecondVen(): void {
    if (!this.tokens.ven2) skip('needs a second VEN client in --credentials');
  }

  private authHeader(who: Who): Record<string, string> {
    if (who === 'none') return {};
    if (who === 'bad') return { authorization: `Bearer ${tamper(this.tokens.bl ?? 'x')}` };
    const t = this.tokens[who];
    if (!t) skip(`needs ${WHO_LABEL[who]} credentials`);
    return { authorization: `Bearer ${t}` };
  }

  url(template: string, opts: CallOptions = {}): string {
    let p = template;
    for (const [k, v] of Object.entries(opts.ids ?? {})) p = p.replace(`{${k}}`, encodeURIComponent(v ?? ''));
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const x of v) q.append(k, x);
      else q.append(k, String(v));
    }
    const qs = q.toString();
    return `${this.base}${p}${qs ? `?${qs}` : ''}`;
  }

  /** One request to the VTN as `who`, recorded under its OpenAPI path template. */
  async call(who: Who, method: string, template: string, opts: CallOptions = {}): Promise<Exchange> {
    const x = await send(
      { method, url: this.url(template, opts), headers: { ...this.authHeader(who), ...(opts.headers ?? {}) }, ...(opts.json !== undefined ? { json: opts.json } : {}), ...(opts.form ? { form: opts.form } : {}) },
      { timeoutMs: this.options.timeoutMs, attempts: this.options.attempts },
    );
    this.log.push({ template, method, exchange: x });
    return x;
  }

  /** Creates an object (expects 201, or 200 as some VTNs answer) and remembers it for cleanup. */
  async create(who: Who, collection: Collection, json: unknown, what = `create ${collection.slice(0, -1)}`): Promise<any> {
    const x = await this.call(who, 'POST', `/${collection}`, { json });
    this.track(who, collection, x);
    expectStatus(x, [201, 200], what);
    return body(x);
  }

  /** Remembers an object a POST created (also one a case did not expect to be created). */
  track(who: Who, collection: Collection, x: Exchange): void {
    const id = (x.response?.json as { id?: unknown } | undefined)?.id;
    if (x.response && x.response.status >= 200 && x.response.status < 300 && typeof id === 'string') {
      this.created.push({ collection, id, who: who === 'none' || who === 'bad' ? 'bl' : who });
    }
  }

  /** Forgets an object a case deleted itself. */
  forget(id: string): void {
    const i = this.created.findIndex((c) => c.id === id);
    if (i >= 0) this.created.splice(i, 1);
  }

  /** The shared objects; a case that needs them is skipped when they could not be made. */
  async shared(): Promise<World> {
    if (this.worldError) skip(`needs the shared objects, whose setup failed: ${this.worldError}`);
    this.world ??= this.buildWorld();
    try {
      return await this.world;
    } catch (e) {
      this.worldError = (e as Error).message;
      skip(`needs the shared objects, whose setup failed: ${this.worldError}`);
    }
  }

  private sub: Promise<any> | undefined;
  private subError: string | undefined;

  /** VEN 1's subscription to the open program's events (its callback is the runner's listener). */
  async sharedSubscription(): Promise<any> {
    if (this.subError) skip(`needs VEN 1's subscription, which could not be made: ${this.subError}`);
    const w = await this.shared();
    const listener = this.requireListener();
    this.sub ??= this.create('ven', 'subscriptions', {
      clientName: this.name('site-a'),
      programID: w.programOpen.id,
      objectOperations: [{ objects: ['EVENT'], operations: ['CREATE', 'UPDATE', 'DELETE'], callbackUrl: listener.url('/cb/shared'), bearerToken: this.name('shared-token') }],
    }, "VEN 1 subscribes to the open program's events");
    try {
      return await this.sub;
    } catch (e) {
      this.subError = (e as Error).message;
      skip(`needs VEN 1's subscription, which could not be made: ${this.subError}`);
    }
  }

  requireListener(): WebhookListener {
    if (!this.listener) skip(this.listenerProblem || 'no webhook listener');
    return this.listener;
  }

  requireSpec(): OpenApi {
    if (!this.spec) skip(this.specProblem);
    return this.spec;
  }

  /** The client id of a VEN: from the credentials, else from a ven object it creates itself. */
  async clientIdOf(who: 'ven' | 'ven2'): Promise<string> {
    if (this.clientIds[who]) return this.clientIds[who]!;
    const probe = await this.create(who, 'vens', { objectType: 'VEN_VEN_REQUEST', venName: this.name(`${who}-probe`) }, 'a VEN creates its own ven (to learn its clientID)');
    if (typeof probe.clientID !== 'string') throw new Error('a VEN-created ven carries no clientID');
    this.clientIds[who] = probe.clientID;
    return probe.clientID;
  }

  private async buildWorld(): Promise<World> {
    const t = { a: this.name('group-a'), b: this.name('group-b'), secret: this.name('secret'), feeder: this.name('feeder') };
    const venA = await this.create('bl', 'vens', { objectType: 'BL_VEN_REQUEST', clientID: await this.clientIdOf('ven'), venName: this.name('site-a'), targets: [t.a] }, 'BL creates a ven for VEN 1');
    const resA = await this.create('bl', 'resources', { objectType: 'BL_RESOURCE_REQUEST', clientID: venA.clientID, venID: venA.id, resourceName: this.name('meter-a') }, 'BL creates a resource for VEN 1');
    let venB: any;
    let resB: any;
    if (this.tokens.ven2) {
      venB = await this.create('bl', 'vens', { objectType: 'BL_VEN_REQUEST', clientID: await this.clientIdOf('ven2'), venName: this.name('site-b'), targets: [t.b] }, 'BL creates a ven for VEN 2');
      resB = await this.create('bl', 'resources', { objectType: 'BL_RESOURCE_REQUEST', clientID: venB.clientID, venID: venB.id, resourceName: this.name('battery-b'), targets: [t.feeder] }, 'BL creates a resource granting a target to VEN 2');
    }
    const programOpen = await this.create('bl', 'programs', { programName: this.name('open') });
    const programA = await this.create('bl', 'programs', { programName: this.name('for-a'), targets: [t.a, t.secret] });
    const programB = await this.create('bl', 'programs', { programName: this.name('for-b'), targets: [t.b] });
    const ev = (programID: string, eventName: string, targets?: string[]) => ({
      programID,
      eventName,
      ...(targets ? { targets } : {}),
      intervalPeriod: { start: '2099-06-01T16:00:00Z', duration: 'PT1H' },
      intervals: [{ id: 0, payloads: [{ type: 'IMPORT_CAPACITY_LIMIT', values: [3.5] }] }],
    });
    const eventOpen = await this.create('bl', 'events', ev(programOpen.id, this.name('open-event')));
    const eventA = await this.create('bl', 'events', ev(programA.id, this.name('event-a'), [t.a, t.secret]));
    const eventFeeder = await this.create('bl', 'events', ev(programB.id, this.name('event-feeder'), [t.feeder]));
    const reportA = await this.create('ven', 'reports', reportBody(eventOpen.id, this.name('site-a')), 'VEN 1 reports on the open event');
    return { targets: t, venA, venB, resA, resB, programOpen, eventOpen, programA, eventA, programB, eventFeeder, reportA };
  }

  /** Deletes what the run created, newest first, each as the client that created it. */
  async cleanup(): Promise<string[]> {
    const left: string[] = [];
    // Dependants before what they depend on: reports, subscriptions, events, resources, then the rest.
    const order: Collection[] = ['reports', 'subscriptions', 'events', 'resources', 'programs', 'vens'];
    const items = [...this.created].reverse().sort((a, b) => order.indexOf(a.collection) - order.indexOf(b.collection));
    for (const c of items) {
      const template = `/${c.collection}/{id}`;
      const tryAs = [c.who, ...(c.who === 'bl' ? [] : (['bl'] as Who[]))];
      let done = false;
      let last = '';
      for (const who of tryAs) {
        if (!this.has(who)) continue;
        try {
          const x = await send(
            { method: 'DELETE', url: this.url(template, { ids: { id: c.id } }), headers: this.authHeader(who) },
            { timeoutMs: this.options.timeoutMs, attempts: this.options.attempts },
          );
          if (x.response && (x.response.status < 300 || x.response.status === 404)) {
            done = true;
            break;
          }
          last = `DELETE answered ${x.response?.status}`;
        } catch (e) {
          last = (e as Error).message;
        }
      }
      if (!done) left.push(`${c.collection}/${c.id} (${last})`);
    }
    await this.listener?.close();
    return left;
  }
}

export function reportBody(eventID: string, clientName: string, reportName?: string) {
  return {
    eventID,
    clientName,
    ...(reportName ? { reportName } : {}),
    payloadDescriptors: [{ objectType: 'REPORT_PAYLOAD_DESCRIPTOR', payloadType: 'USAGE', readingType: 'DIRECT_READ', units: 'KWH' }],
    resources: [{ resourceName: 'meter', intervalPeriod: { start: '2099-06-01T16:00:00Z', duration: 'PT1H' }, intervals: [{ id: 0, payloads: [{ type: 'USAGE', values: [1.25] }] }] }],
  };
}

/** A token the VTN did not issue: the BL token with its signature altered (or an opaque token changed). */
function tamper(token: string): string {
  const parts = token.split('.');
  if (parts.length === 3 && parts[2]) {
    const sig = parts[2];
    const flipped = sig[0] === 'A' ? `B${sig.slice(1)}` : `A${sig.slice(1)}`;
    return `${parts[0]}.${parts[1]}.${flipped}`;
  }
  return `${token}x`;
}

function isLoopback(host: string): boolean {
  return /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/i.test(host);
}

/**
 * Checks the target and gets tokens. A target that cannot be tested throws TargetError with the one
 * line the CLI prints: unreachable, too slow, not OpenADR, another OpenADR version, credentials refused.
 */
export async function prepare(options: RunOptions, io: RunIo): Promise<Vtn> {
  let u: URL;
  try {
    u = new URL(options.target);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw new TargetError(`target '${options.target}' is not an http(s) URL`, 'not-openadr');
  }
  const v = new Vtn(options, io);
  const http = { timeoutMs: options.timeoutMs, attempts: options.attempts };
  const reach = async (method: string, url: string, extra: Parameters<typeof send>[0] = { method, url }): Promise<Exchange> => {
    try {
      return await send({ ...extra, method, url }, http);
    } catch (e) {
      if (!(e instanceof TransportError)) throw e;
      if (e.code === 'TIMEOUT') throw new TargetError(`target ${v.base} did not answer ${method} ${url.slice(v.base.length) || '/'} within ${options.timeoutMs} ms (${e.exchange.attempts} attempts): too slow or hung`, 'slow');
      throw new TargetError(`target ${v.base} is unreachable: ${e.exchange.error}`, 'unreachable');
    }
  };

  // Definition §Token endpoint discovery: /auth/server is required of every 3.1.0 VTN.
  const server = await reach('GET', `${v.base}/auth/server`);
  const info = server.response!.json as { tokenURL?: unknown } | undefined;
  if (server.response!.status !== 200 || typeof info?.tokenURL !== 'string') {
    throw await notOpenAdr3(v, server, reach);
  }
  v.tokenUrl = new URL(info.tokenURL, `${v.base}/`).href;
  v.ownTokenEndpoint = v.tokenUrl === `${v.base}/auth/token`;

  const creds = options.credentials;
  if (!creds?.bl) throw new TargetError('--credentials must name a BL client (see conformance/README.md)', 'credentials');
  if (creds.vens.length === 0) throw new TargetError('--credentials must name at least one VEN client (see conformance/README.md)', 'credentials');
  const getToken = async (label: string, c: ClientCredentials): Promise<string> => {
    if (c.token) return c.token;
    const x = await reach('POST', v.tokenUrl, { method: 'POST', url: v.tokenUrl, form: { grant_type: 'client_credentials', client_id: c.clientId ?? '', client_secret: c.clientSecret ?? '' } });
    const j = x.response!.json as { access_token?: unknown; error?: unknown; detail?: unknown } | undefined;
    if (x.response!.status !== 200 || typeof j?.access_token !== 'string') {
      const why = typeof j?.error === 'string' ? j.error : typeof j?.detail === 'string' ? j.detail : (x.response!.body.slice(0, 80) || 'no body');
      throw new TargetError(`the token endpoint ${v.tokenUrl} refused ${label}'s credentials (client ${c.clientId ?? '?'}): ${x.response!.status} ${why}`, 'credentials');
    }
    return j.access_token;
  };
  v.tokens.bl = await getToken('BL', creds.bl);
  v.tokens.ven = await getToken('VEN 1', creds.vens[0]!);
  if (creds.vens[0]!.clientId) v.clientIds.ven = creds.vens[0]!.clientId;
  if (creds.vens[1]) {
    v.tokens.ven2 = await getToken('VEN 2', creds.vens[1]);
    if (creds.vens[1].clientId) v.clientIds.ven2 = creds.vens[1].clientId;
  }

  const programs = await reach('GET', `${v.base}/programs`, { method: 'GET', url: `${v.base}/programs`, headers: { authorization: `Bearer ${v.tokens.bl}` } });
  if (programs.response!.status !== 200 || !Array.isArray(programs.response!.json)) {
    throw new TargetError(`target ${v.base} is not an OpenADR 3 VTN: GET /programs as BL answered ${programs.response!.status} ${programs.response!.headers['content-type'] ?? ''}, not a JSON list`.trim(), 'not-openadr');
  }
  // GET /notifiers is new in 3.1.0 (3.0.x has no such path).
  const notifiers = await reach('GET', `${v.base}/notifiers`, { method: 'GET', url: `${v.base}/notifiers`, headers: { authorization: `Bearer ${v.tokens.bl}` } });
  if (notifiers.response!.status === 404 || notifiers.response!.status === 405) {
    throw new TargetError(`target ${v.base} looks like OpenADR 3.0.x, not 3.1.0: GET /notifiers (new in 3.1.0) answered ${notifiers.response!.status}`, 'wrong-version');
  }
  v.notifiers = notifiers.response!.json;

  const dir = findSpecDir(options.specDir);
  if (dir) v.spec = new OpenApi(dir);
  else v.specProblem = `the OpenADR 3.1.0 OpenAPI document was not found${options.specDir ? ` in ${options.specDir}` : ''} (give --spec-dir)`;
  try {
    v.listener = await WebhookListener.start(options.listenHost, options.listenPort, options.callbackUrl);
  } catch (e) {
    v.listenerProblem = `the webhook listener could not listen on ${options.listenHost}:${options.listenPort}: ${(e as Error).message}`;
  }
  io.progress(`target ${v.base}: token endpoint ${v.tokenUrl}; ${v.tokens.ven2 ? 'two VENs' : 'one VEN'}; notifiers ${Object.keys(v.notifiers ?? {}).join(', ') || 'none'}; webhook listener ${v.listener?.base ?? 'none'}; run prefix ${v.prefix}`);
  if (u.protocol === 'http:' && !isLoopback(u.hostname)) io.progress(`warning: ${v.base} is plain http (Definition §HTTPS/TLS: a VTN MUST use HTTPS)`);
  return v;
}

/** Why a target that has no 3.1.0 /auth/server is not testable: 3.0.x, 2.0b, or not OpenADR at all. */
async function notOpenAdr3(v: Vtn, server: Exchange, reach: (method: string, url: string, extra?: Parameters<typeof send>[0]) => Promise<Exchange>): Promise<TargetError> {
  const r = server.response!;
  const ct = r.headers['content-type'] ?? 'no content type';
  if (/openadr\.org\/oadr-2\.0/i.test(r.body)) return new TargetError(`target ${v.base} speaks OpenADR 2.0 (XML), not 3.1.0: use the openadr2b suites`, 'wrong-version');
  // A 2.0b VTN answers any POST to one of its services with an oadr payload.
  const probe2b = await reach('POST', `${v.base}/EiRegisterParty`, { method: 'POST', url: `${v.base}/EiRegisterParty`, headers: { 'content-type': 'application/xml' }, raw: '<?xml version="1.0" encoding="UTF-8"?><probe/>' });
  if (/openadr\.org\/oadr-2\.0/i.test(probe2b.response!.body)) return new TargetError(`target ${v.base} speaks OpenADR 2.0b (XML), not 3.1.0: use the openadr2b suites`, 'wrong-version');
  // 3.0.x has /auth/token and /programs but no /auth/server.
  const token = await reach('POST', `${v.base}/auth/token`, { method: 'POST', url: `${v.base}/auth/token`, form: { grant_type: 'client_credentials', client_id: 'probe', client_secret: 'probe' } });
  const programs = await reach('GET', `${v.base}/programs`);
  const apiLike = (x: Exchange) => [400, 401, 403].includes(x.response!.status) && /json/i.test(x.response!.headers['content-type'] ?? '');
  if (apiLike(token) || apiLike(programs)) {
    return new TargetError(`target ${v.base} looks like OpenADR 3.0.x, not 3.1.0: no GET /auth/server (required since 3.1.0; answered ${r.status}) but /auth/token or /programs answer`, 'wrong-version');
  }
  return new TargetError(`target ${v.base} is not an OpenADR 3.1.0 VTN: GET /auth/server answered ${r.status} (${ct.split(';')[0]}) without a tokenURL`, 'not-openadr');
}
