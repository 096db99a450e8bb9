import { body, check, expectStatus, fail, REFUSED, skip } from '../../expect.js';
import type { CaseDef, Clause, Severity } from '../../model.js';
import { WHO_LABEL, type Vtn, type Who, type World } from './context.js';

export type Case = CaseDef<Vtn>;

export function def(group: string, id: string, severity: Severity, clause: Clause, title: string, run: (v: Vtn) => Promise<void>): Case {
  return { id: `${group}.${id}`, group, title, clause, severity, run };
}

export const D = (ref: string): Clause => ({ doc: 'Definition', ref });
export const UG = (ref: string): Clause => ({ doc: 'User Guide', ref });
export const API = (ref: string): Clause => ({ doc: 'OpenAPI', ref });

// ---------------------------------------------------------------------------------------------
// auth: token endpoint discovery and the token endpoint itself
// ---------------------------------------------------------------------------------------------

export function authCases(): Case[] {
  const g = 'auth';
  return [
    def(g, 'server-info', 'required', D('§Token endpoint discovery'), 'GET /auth/server answers without a token and names the token endpoint', async (v) => {
      const x = expectStatus(await v.call('none', 'GET', '/auth/server'), 200);
      const b = body(x);
      check(typeof b.tokenURL === 'string', 'the body has no tokenURL', x);
      try {
        new URL(b.tokenURL);
      } catch {
        fail(`tokenURL '${b.tokenURL}' is not an absolute URL`, x);
      }
    }),
    def(g, 'token-issued', 'required', API('POST /auth/token (clientCredentialResponse)'), 'client credentials are exchanged for a Bearer access token', async (v) => {
      const c = v.options.credentials!.bl!;
      if (!c.clientId) skip('BL credentials are a token, not a client id and secret');
      const x = await v.call('none', 'POST', '/auth/token', { form: { grant_type: 'client_credentials', client_id: c.clientId, client_secret: c.clientSecret ?? '' } });
      if (!v.ownTokenEndpoint) skip(`tokens come from ${v.tokenUrl}, not this VTN's /auth/token`);
      expectStatus(x, 200);
      const b = body(x);
      check(typeof b.access_token === 'string' && b.access_token.length > 0, 'no access_token', x);
      check(b.token_type === 'Bearer', `token_type is '${b.token_type}', the schema says Bearer`, x);
    }),
    def(g, 'token-wrong-secret', 'required', { doc: 'RFC 6749', ref: '§5.2 (invalid_client)' }, 'a wrong client secret gets no token (401)', async (v) => {
      const c = v.options.credentials!.bl!;
      if (!c.clientId) skip('BL credentials are a token, not a client id and secret');
      if (!v.ownTokenEndpoint) skip(`tokens come from ${v.tokenUrl}, not this VTN's /auth/token`);
      const x = await v.call('none', 'POST', '/auth/token', { form: { grant_type: 'client_credentials', client_id: c.clientId, client_secret: `${c.clientSecret ?? ''}-wrong` } });
      expectStatus(x, [401, 400]);
      check(!(x.response?.json as any)?.access_token, 'an access_token was issued for a wrong secret', x);
    }),
    def(g, 'token-wrong-secret-error', 'recommended', { doc: 'RFC 6749', ref: '§5.2 (invalid_client)' }, "a wrong secret is answered 401 with error 'invalid_client'", async (v) => {
      const c = v.options.credentials!.bl!;
      if (!c.clientId) skip('BL credentials are a token, not a client id and secret');
      if (!v.ownTokenEndpoint) skip(`tokens come from ${v.tokenUrl}, not this VTN's /auth/token`);
      const x = expectStatus(await v.call('none', 'POST', '/auth/token', { form: { grant_type: 'client_credentials', client_id: c.clientId, client_secret: `${c.clientSecret ?? ''}-wrong` } }), 401);
      check(body(x).error === 'invalid_client', `error is '${body(x).error}'`, x);
    }),
    def(g, 'token-missing-secret', 'required', API('clientCredentialRequest (required: grant_type, client_id, client_secret)'), 'a token request without client_secret is refused with 400', async (v) => {
      if (!v.ownTokenEndpoint) skip(`tokens come from ${v.tokenUrl}, not this VTN's /auth/token`);
      const c = v.options.credentials!.bl!;
      const x = await v.call('none', 'POST', '/auth/token', { form: { grant_type: 'client_credentials', client_id: c.clientId ?? 'someone' } });
      expectStatus(x, [400, 401]);
    }),
    def(g, 'token-unsupported-grant', 'recommended', { doc: 'RFC 6749', ref: '§5.2 (unsupported_grant_type)' }, "grant_type=password is refused with 400 'unsupported_grant_type'", async (v) => {
      if (!v.ownTokenEndpoint) skip(`tokens come from ${v.tokenUrl}, not this VTN's /auth/token`);
      const c = v.options.credentials!.bl!;
      const x = expectStatus(await v.call('none', 'POST', '/auth/token', { form: { grant_type: 'password', client_id: c.clientId ?? 'x', client_secret: c.clientSecret ?? 'x' } }), 400);
      check(body(x).error === 'unsupported_grant_type', `error is '${body(x).error}'`, x);
    }),
    def(g, 'www-authenticate', 'recommended', { doc: 'RFC 6750', ref: '§3 (WWW-Authenticate)' }, 'a 401 for a missing bearer token carries WWW-Authenticate: Bearer', async (v) => {
      const x = expectStatus(await v.call('none', 'GET', '/programs'), 401);
      check(/^Bearer/i.test(x.response.headers['www-authenticate'] ?? ''), `WWW-Authenticate is '${x.response.headers['www-authenticate'] ?? ''}'`, x);
    }),
    def(g, 'https', 'required', D('§HTTPS/TLS'), 'the VTN is served over HTTPS (not checked for loopback test deployments)', async (v) => {
      const u = new URL(v.base);
      if (u.protocol === 'https:') return;
      if (/^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/i.test(u.hostname)) skip('plain http on loopback: a test deployment; TLS is not checked');
      fail(`${v.base} is plain http`);
    }),
  ];
}

// ---------------------------------------------------------------------------------------------
// access: every operation for every role
// ---------------------------------------------------------------------------------------------

interface Op {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  template: string;
  /** Path ids from the shared objects. */
  ids?: (w: World, v: Vtn) => Promise<Record<string, string>> | Record<string, string>;
  /** A valid body for the operation (for writes). */
  body?: (w: World, v: Vtn, who: Who) => unknown;
  mqtt?: boolean;
}

const program = (v: Vtn, tag: string) => ({ programName: v.name(`acc-${tag}`) });
const event = (w: World) => ({ programID: w.programOpen.id, intervals: [{ id: 0, payloads: [{ type: 'SIMPLE', values: [1] }] }] });
const blVen = (v: Vtn, w: World, tag: string) => ({ objectType: 'BL_VEN_REQUEST', clientID: w.venA.clientID, venName: v.name(`acc-${tag}`) });
const venVen = (v: Vtn, tag: string) => ({ objectType: 'VEN_VEN_REQUEST', venName: v.name(`acc-${tag}`) });
const report = (w: World) => ({ eventID: w.eventOpen.id, clientName: 'conformance', resources: [] });

/** The 3.1.0 operations (OpenAPI `paths`), each with ids and a body the shared objects make valid. */
export const OPERATIONS: Op[] = [
  { method: 'GET', template: '/programs' },
  { method: 'POST', template: '/programs', body: (_w, v, who) => program(v, `p-${who}`) },
  { method: 'GET', template: '/programs/{programID}', ids: (w) => ({ programID: w.programOpen.id }) },
  { method: 'PUT', template: '/programs/{programID}', ids: (w) => ({ programID: w.programOpen.id }), body: (w) => ({ programName: w.programOpen.programName }) },
  { method: 'DELETE', template: '/programs/{programID}', ids: (w) => ({ programID: w.programA.id }) },
  { method: 'GET', template: '/events' },
  { method: 'POST', template: '/events', body: (w) => event(w) },
  { method: 'GET', template: '/events/{eventID}', ids: (w) => ({ eventID: w.eventOpen.id }) },
  { method: 'PUT', template: '/events/{eventID}', ids: (w) => ({ eventID: w.eventOpen.id }), body: (w) => ({ ...w.eventOpen, id: undefined }) },
  { method: 'DELETE', template: '/events/{eventID}', ids: (w) => ({ eventID: w.eventOpen.id }) },
  { method: 'GET', template: '/vens' },
  { method: 'POST', template: '/vens', body: (w, v, who) => (who === 'bl' ? blVen(v, w, `v-${who}`) : venVen(v, `v-${who}`)) },
  { method: 'GET', template: '/vens/{venID}', ids: (w) => ({ venID: w.venA.id }) },
  { method: 'PUT', template: '/vens/{venID}', ids: (w) => ({ venID: w.venA.id }), body: (w) => ({ objectType: 'VEN_VEN_REQUEST', venName: w.venA.venName }) },
  { method: 'DELETE', template: '/vens/{venID}', ids: (w) => ({ venID: w.venA.id }) },
  { method: 'GET', template: '/resources' },
  { method: 'POST', template: '/resources', body: (w, v, who) => ({ objectType: 'VEN_RESOURCE_REQUEST', venID: w.venA.id, resourceName: v.name(`acc-r-${who}`) }) },
  { method: 'GET', template: '/resources/{resourceID}', ids: (w) => ({ resourceID: w.resA.id }) },
  { method: 'PUT', template: '/resources/{resourceID}', ids: (w) => ({ resourceID: w.resA.id }), body: (w) => ({ objectType: 'VEN_RESOURCE_REQUEST', venID: w.venA.id, resourceName: w.resA.resourceName }) },
  { method: 'DELETE', template: '/resources/{resourceID}', ids: (w) => ({ resourceID: w.resA.id }) },
  { method: 'GET', template: '/reports' },
  { method: 'POST', template: '/reports', body: (w) => report(w) },
  { method: 'GET', template: '/reports/{reportID}', ids: (w) => ({ reportID: w.reportA.id }) },
  { method: 'PUT', template: '/reports/{reportID}', ids: (w) => ({ reportID: w.reportA.id }), body: (w) => report(w) },
  { method: 'DELETE', template: '/reports/{reportID}', ids: (w) => ({ reportID: w.reportA.id }) },
  { method: 'GET', template: '/subscriptions' },
  {
    method: 'POST',
    template: '/subscriptions',
    body: (_w, v) => ({ clientName: 'conformance', objectOperations: [{ objects: ['PROGRAM'], operations: ['CREATE'], callbackUrl: v.listener ? v.listener.url('/cb/access') : 'https://conformance.invalid/cb' }] }),
  },
  { method: 'GET', template: '/subscriptions/{subscriptionID}', ids: async (_w, v) => ({ subscriptionID: (await v.sharedSubscription()).id }) },
  {
    method: 'PUT',
    template: '/subscriptions/{subscriptionID}',
    ids: async (_w, v) => ({ subscriptionID: (await v.sharedSubscription()).id }),
    body: () => ({ clientName: 'conformance', objectOperations: [{ objects: ['PROGRAM'], operations: ['CREATE'], callbackUrl: 'https://conformance.invalid/cb' }] }),
  },
  { method: 'DELETE', template: '/subscriptions/{subscriptionID}', ids: async (_w, v) => ({ subscriptionID: (await v.sharedSubscription()).id }) },
  { method: 'GET', template: '/notifiers' },
  { method: 'GET', template: '/notifiers/mqtt/topics/programs', mqtt: true },
  { method: 'GET', template: '/notifiers/mqtt/topics/programs/{programID}', ids: (w) => ({ programID: w.programOpen.id }), mqtt: true },
  { method: 'GET', template: '/notifiers/mqtt/topics/programs/{programID}/events', ids: (w) => ({ programID: w.programOpen.id }), mqtt: true },
  { method: 'GET', template: '/notifiers/mqtt/topics/events', mqtt: true },
  { method: 'GET', template: '/notifiers/mqtt/topics/reports', mqtt: true },
  { method: 'GET', template: '/notifiers/mqtt/topics/subscriptions', mqtt: true },
  { method: 'GET', template: '/notifiers/mqtt/topics/vens', mqtt: true },
  { method: 'GET', template: '/notifiers/mqtt/topics/resources', mqtt: true },
  { method: 'GET', template: '/notifiers/mqtt/topics/vens/{venID}', ids: (w) => ({ venID: w.venA.id }), mqtt: true },
  { method: 'GET', template: '/notifiers/mqtt/topics/vens/{venID}/events', ids: (w) => ({ venID: w.venA.id }), mqtt: true },
  { method: 'GET', template: '/notifiers/mqtt/topics/vens/{venID}/programs', ids: (w) => ({ venID: w.venA.id }), mqtt: true },
  { method: 'GET', template: '/notifiers/mqtt/topics/vens/{venID}/resources', ids: (w) => ({ venID: w.venA.id }), mqtt: true },
];

function slug(op: Op): string {
  return `${op.method.toLowerCase()}-${op.template.replace(/^\//, '').replace(/\{[^}]+\}/g, 'id').replace(/\//g, '-')}`;
}

async function attempt(v: Vtn, who: Who, op: Op) {
  const w = await v.shared();
  const ids = op.ids ? await op.ids(w, v) : {};
  const json = op.body?.(w, v, who);
  const x = await v.call(who, op.method, op.template, { ids, ...(json !== undefined ? { json } : {}) });
  if (op.method === 'POST') v.track(who, op.template.slice(1) as never, x);
  return x;
}

/** Operations only BL may do (scopes write_programs, write_events, read_all/read_bl topic lists). */
const BL_ONLY = new Set([
  'POST /programs',
  'PUT /programs/{programID}',
  'DELETE /programs/{programID}',
  'POST /events',
  'PUT /events/{eventID}',
  'DELETE /events/{eventID}',
  'GET /notifiers/mqtt/topics/programs',
  'GET /notifiers/mqtt/topics/programs/{programID}',
  'GET /notifiers/mqtt/topics/programs/{programID}/events',
  'GET /notifiers/mqtt/topics/events',
  'GET /notifiers/mqtt/topics/reports',
  'GET /notifiers/mqtt/topics/subscriptions',
  'GET /notifiers/mqtt/topics/vens',
  'GET /notifiers/mqtt/topics/resources',
]);

/** VEN 1's own objects, which another VEN must not read or change (Definition §VEN created object privacy). */
const VEN_OWNED = new Set([
  'GET /vens/{venID}',
  'PUT /vens/{venID}',
  'DELETE /vens/{venID}',
  'GET /resources/{resourceID}',
  'PUT /resources/{resourceID}',
  'DELETE /resources/{resourceID}',
  'GET /reports/{reportID}',
  'PUT /reports/{reportID}',
  'DELETE /reports/{reportID}',
  'GET /subscriptions/{subscriptionID}',
  'PUT /subscriptions/{subscriptionID}',
  'DELETE /subscriptions/{subscriptionID}',
  'GET /notifiers/mqtt/topics/vens/{venID}',
  'GET /notifiers/mqtt/topics/vens/{venID}/events',
  'GET /notifiers/mqtt/topics/vens/{venID}/programs',
  'GET /notifiers/mqtt/topics/vens/{venID}/resources',
]);

const BL_NO_WRITE = new Set(['POST /reports', 'PUT /reports/{reportID}', 'DELETE /reports/{reportID}']);

export function accessCases(): Case[] {
  const out: Case[] = [];
  for (const who of ['none', 'bad'] as Who[]) {
    const g = who === 'none' ? 'access-no-token' : 'access-bad-token';
    for (const op of OPERATIONS) {
      out.push(
        def(g, slug(op), 'required', D('§OAuth 2.0 client credential flow ("returns an Unauthorized response if invalid")'), `${op.method} ${op.template} with ${WHO_LABEL[who]} is refused with 401`, async (v) => {
          expectStatus(await attempt(v, who, op), 401);
        }),
      );
    }
  }
  for (const op of OPERATIONS) {
    const key = `${op.method} ${op.template}`;
    if (BL_ONLY.has(key)) {
      out.push(
        def('access-ven', slug(op), 'required', key.includes('mqtt') ? API(`${key} (security: ${key.includes('programs') ? 'read_all' : 'read_bl'})`) : D('§Assumptions ("a Business Logic client may create an event, but a VEN cannot")'), `${key} by a VEN is refused with 403`, async (v) => {
          if (op.mqtt && !v.notifiers?.MQTT) skip('the VTN offers no MQTT notifier');
          expectStatus(await attempt(v, 'ven', op), 403);
        }),
      );
    }
    if (VEN_OWNED.has(key)) {
      out.push(
        def('access-other-ven', slug(op), 'required', D('§VEN created object privacy'), `${key} on VEN 1's object by another VEN is refused (403 or 404)`, async (v) => {
          v.requireSecondVen();
          if (op.mqtt && !v.notifiers?.MQTT) skip('the VTN offers no MQTT notifier');
          expectStatus(await attempt(v, 'ven2', op), [403, 404]);
        }),
      );
    }
    if (BL_NO_WRITE.has(key)) {
      out.push(
        def('access-bl', slug(op), 'recommended', API(`${key} (security: write_reports, "only VENs can write to reports")`), `${key} by BL is refused with 403`, async (v) => {
          expectStatus(await attempt(v, 'bl', op), 403);
        }),
      );
    }
  }
  out.push(
    def('access-ven', 'narrow-scope-token', 'extension', API('securitySchemes oAuth2ClientCredentials (scopes)'), 'a VEN token asked for with scope read_targets only cannot read vens (403)', async (v) => {
      const c = v.options.credentials!.vens[0]!;
      if (!c.clientId || !v.ownTokenEndpoint) skip('needs VEN 1 client credentials and the VTN\'s own token endpoint');
      const t = await v.call('none', 'POST', '/auth/token', { form: { grant_type: 'client_credentials', client_id: c.clientId, client_secret: c.clientSecret ?? '', scope: 'read_targets' } });
      if (t.response?.status !== 200) skip(`the VTN does not issue narrowed tokens (answered ${t.response?.status})`);
      const x = await v.call('none', 'GET', '/vens', { headers: { authorization: `Bearer ${body(t).access_token}` } });
      expectStatus(x, 403);
    }),
  );
  return out;
}

export { REFUSED };
