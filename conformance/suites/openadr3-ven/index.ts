import { randomBytes } from 'node:crypto';
import { check, fail, skip } from '../../expect.js';
import { TargetError, type CaseDef, type Clause, type RunIo, type RunOptions, type Severity, type SuiteDef } from '../../model.js';
import { findSpecDir, OpenApi } from '../../openapi.js';
import { PlayedVtn, type Seen } from './vtn.js';

export interface VenRun {
  vtn: PlayedVtn;
  spec: OpenApi | undefined;
  options: RunOptions;
}

type Case = CaseDef<VenRun>;
const D = (ref: string): Clause => ({ doc: 'Definition', ref });
const API = (ref: string): Clause => ({ doc: 'OpenAPI', ref });
const UG = (ref: string): Clause => ({ doc: 'User Guide', ref });
const def = (id: string, severity: Severity, clause: Clause, title: string, run: (r: VenRun) => Promise<void> | void): Case => ({ id: `ven.${id}`, group: 'ven', title, clause, severity, run: async (r) => run(r) });

function describe(s: Seen): string {
  return `${s.method} ${s.path}${[...s.query].length ? `?${s.query.toString()}` : ''} → ${s.status}`;
}

/** The request body schema a VEN's write must satisfy, by method and path. */
function requestSchema(s: Seen): string | undefined {
  const coll = /^\/([a-z]+)/.exec(s.path)?.[1];
  if (s.method !== 'POST' && s.method !== 'PUT') return undefined;
  return { vens: 'VenVenRequest', resources: 'VenResourceRequest', subscriptions: 'subscriptionRequest', reports: 'reportRequest' }[coll ?? ''];
}

function isLoopback(url: string): boolean {
  try {
    return /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/i.test(new URL(url).hostname);
  } catch {
    return false;
  }
}

/**
 * `openadr3-ven`: the runner plays a VTN on `--listen` and watches the VEN under test for
 * `--observe-seconds` after it first connects: discovery, tokens, registration, targets, paging,
 * webhooks. The VEN is started separately, pointed at the URL the runner prints.
 */
export const openadr3VenSuite: SuiteDef<VenRun> = {
  id: 'openadr3-ven',
  title: 'OpenADR 3.1.0 VEN',
  async prepare(options: RunOptions, io: RunIo): Promise<VenRun> {
    const c = options.credentials?.vens[0];
    if (!c?.clientId || !c.clientSecret) throw new TargetError('--credentials must name the VEN client (vens[0] with clientId and clientSecret) that the VEN under test uses', 'credentials');
    const vtn = new PlayedVtn({ clientId: c.clientId, clientSecret: c.clientSecret }, `${options.prefix}-${randomBytes(4).toString('hex')}`, 3);
    await vtn.start(options.listenHost, options.listenPort);
    options.target = vtn.base;
    io.progress(`playing an OpenADR 3.1.0 VTN at ${vtn.base}: start the VEN under test against it (client ${c.clientId}); waiting ${Math.round(options.waitMs / 1000)} s for it`);
    const deadline = Date.now() + options.waitMs;
    while (vtn.seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (vtn.seen.length === 0) {
      await vtn.close();
      throw new TargetError(`no VEN connected to ${vtn.base} within ${Math.round(options.waitMs / 1000)} s`, 'unreachable');
    }
    io.progress(`a VEN connected; watching it for ${Math.round(options.observeMs / 1000)} s`);
    await new Promise((r) => setTimeout(r, options.observeMs));
    const dir = findSpecDir(options.specDir);
    return { vtn, spec: dir ? new OpenApi(dir) : undefined, options };
  },
  cases: () => [
    def('discovers-token-endpoint', 'required', D('§Token endpoint discovery'), 'the VEN asks GET /auth/server for the token endpoint before asking for a token', ({ vtn }) => {
      const first = vtn.seen.findIndex((s) => s.path === '/auth/server');
      const token = vtn.seen.findIndex((s) => s.path === '/auth/token');
      check(token >= 0, 'the VEN never asked for a token');
      check(first >= 0 && first < token, `the first requests were ${vtn.seen.slice(0, 3).map(describe).join(', ')}`);
    }),
    def('token-request-form', 'required', API('POST /auth/token (application/x-www-form-urlencoded clientCredentialRequest)'), 'token requests are form-encoded client credentials (grant_type=client_credentials)', ({ vtn }) => {
      const reqs = vtn.seen.filter((s) => s.path === '/auth/token');
      if (!reqs.length) fail('no token request');
      for (const s of reqs) {
        check(/application\/x-www-form-urlencoded/.test(s.headers['content-type'] ?? ''), `content type '${s.headers['content-type'] ?? ''}'`);
        const f = new URLSearchParams(s.raw);
        check(f.get('grant_type') === 'client_credentials', `grant_type '${f.get('grant_type')}'`);
        check((f.get('client_id') && f.get('client_secret')) || /^Basic /i.test(s.headers.authorization ?? ''), 'no client credentials in the body or an HTTP Basic header');
        check(s.status === 200, `the token request was answered ${s.status} (wrong credentials?)`);
      }
    }),
    def('bearer-on-every-request', 'required', D('§OAuth 2.0 client credential flow ("Authorization: Bearer <token>")'), 'every API request carries a bearer token the VTN issued', ({ vtn }) => {
      const api = vtn.api();
      if (!api.length) fail('the VEN made no API request');
      const bad = api.find((s) => !vtn.tokens.has(/^Bearer\s+(\S+)$/i.exec(s.headers.authorization ?? '')?.[1] ?? ''));
      if (bad) fail(`${describe(bad)} carried Authorization '${(bad.headers.authorization ?? '').slice(0, 16)}'`);
    }),
    def('token-lifetime', 'recommended', D('§OAuth 2.0 client credential flow ("a short-lived token")'), 'the VEN takes a new token as the old one expires (3 s here) and never sends an expired one', ({ vtn }) => {
      const expired = vtn.api().find((s) => {
        const t = vtn.tokens.get(/^Bearer\s+(\S+)$/i.exec(s.headers.authorization ?? '')?.[1] ?? '');
        return t && t.expiresAt < s.at;
      });
      if (expired) fail(`${describe(expired)} carried an expired token`);
      check(vtn.seen.filter((s) => s.path === '/auth/token').length >= 2, 'only one token in a window longer than its lifetime');
    }),
    def('recovers-from-401', 'recommended', D('§OAuth 2.0 client credential flow ("returns an Unauthorized response if invalid or expired")'), 'after a 401 for a revoked token, the VEN gets a new token and carries on', ({ vtn }) => {
      if (!vtn.revokedToken) skip('the VEN never read events after registering');
      const i = vtn.seen.findIndex((s) => s.status === 401 && s.path.startsWith('/events'));
      const later = vtn.seen.slice(i + 1);
      check(later.some((s) => s.path === '/auth/token' && s.status === 200), 'no new token after the 401');
      check(later.some((s) => s.path.startsWith('/events') && s.status === 200), 'no successful event read after the 401');
    }),
    def('registers', 'required', UG('§6.2 VEN Enrollment Scenarios'), 'the VEN finds or creates its ven object (VEN_VEN_REQUEST)', ({ vtn }) => {
      check(vtn.objects.vens.length > 0, `no ven was created; ven requests: ${vtn.seen.filter((s) => s.path.startsWith('/vens')).map(describe).join(', ') || 'none'}`);
    }),
    def('request-bodies', 'required', API('requestBody schemas (VenVenRequest, VenResourceRequest, subscriptionRequest, reportRequest)'), 'every body the VEN writes matches its request schema', ({ vtn, spec }) => {
      if (!spec) skip('the OpenADR 3.1.0 OpenAPI document was not found (give --spec-dir)');
      const writes = vtn.api().filter((s) => requestSchema(s));
      if (!writes.length) skip('the VEN wrote nothing');
      for (const s of writes) {
        const errors = spec.checkSchema(requestSchema(s)!, s.json);
        if (errors.length) fail(`${s.method} ${s.path}: ${errors.join('; ')} in ${s.raw.slice(0, 300)}`);
      }
    }),
    def('no-bl-writes', 'required', D('§Assumptions ("a Business Logic client may create an event, but a VEN cannot")'), 'the VEN never tries to write programs or events', ({ vtn }) => {
      const bad = vtn.api().find((s) => /^\/(programs|events)/.test(s.path) && s.method !== 'GET');
      if (bad) fail(`the VEN sent ${describe(bad)}`);
    }),
    def('requests-granted-targets', 'required', D('§Object Privacy ("read operations by a VEN for an object that has targets must include matching targets in the query")'), 'event reads carry the targets granted to the VEN', ({ vtn }) => {
      const reads = vtn.api().filter((s) => s.method === 'GET' && s.path === '/events');
      if (!reads.length) fail('the VEN never listed events');
      check(reads.some((s) => s.query.getAll('targets').flatMap((x) => x.split(',')).includes(vtn.target)), `no event read asked for the granted target ${vtn.target}: ${reads.slice(-2).map(describe).join(', ')}`);
    }),
    def('finds-event', 'required', UG('§6.5 Event Scenarios'), 'the VEN obtains the event targeted at it (by reading it, or acknowledging its notification)', ({ vtn }) => {
      const e = vtn.event;
      if (!e) fail('the VEN never registered, so no event was made');
      const read = vtn.api().some((s) => s.path.startsWith('/events') && s.status === 200 && JSON.stringify(s.answer).includes(e.id));
      const pushed = vtn.outbound.some((o) => o.kind === 'notification' && o.status !== undefined && o.status >= 200 && o.status < 300);
      check(read || pushed, 'the event was neither read nor delivered');
    }),
    def('paging-limit', 'recommended', API('GET lists (limit: maximum 50)'), 'list requests ask for at most 50 objects', ({ vtn }) => {
      const bad = vtn.api().find((s) => s.method === 'GET' && s.query.has('limit') && Number(s.query.get('limit')) > 50);
      if (bad) fail(`${describe(bad)} asks for more than the maximum`);
    }),
    def('webhook-echo', 'required', D('§Webhooks (Security): "it MUST respond with 200 OK response and include the query string parameter value in the body"'), 'the VEN\'s callback answers the echo challenge with 200 and the value', ({ vtn }) => {
      const c = vtn.outbound.filter((o) => o.kind === 'challenge');
      if (!c.length) skip('the VEN did not subscribe to webhooks');
      for (const o of c) check(o.status === 200 && o.body?.trim() === o.echo, `${o.url} answered ${o.status ?? o.error} '${(o.body ?? '').slice(0, 40)}'`);
    }),
    def('webhook-https', 'required', D('§Webhooks (Security): "The VEN client MUST use HTTPS for the webhook callback URL"'), 'the VEN\'s callback URL is https (not checked for loopback test deployments)', ({ vtn }) => {
      const urls = vtn.objects.subscriptions.flatMap((s) => (s.objectOperations ?? []).map((o: any) => String(o.callbackUrl)));
      if (!urls.length) skip('the VEN did not subscribe to webhooks');
      for (const u of urls) {
        if (u.startsWith('https:')) continue;
        if (isLoopback(u)) skip('plain http callback on loopback: a test deployment');
        fail(`callback ${u} is not https`);
      }
    }),
    def('webhook-delivery', 'recommended', D('§Subscriptions'), 'the VEN\'s callback accepts a notification (2xx)', ({ vtn }) => {
      const n = vtn.outbound.filter((o) => o.kind === 'notification');
      if (!n.length) skip('no notification was sent (no subscription for EVENT CREATE)');
      const bad = n.find((o) => !(o.status && o.status >= 200 && o.status < 300));
      if (bad) fail(`${bad.url} answered ${bad.status ?? bad.error}`);
    }),
  ],
  async cleanup(r) {
    await r.vtn.close();
    return [];
  },
  requests: (r) => r.vtn.seen.length,
};
