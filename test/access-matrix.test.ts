import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describeRule, PartiesToken, type RouteRule } from '../core/index.js';
import { startTestHost, type TestHost } from '../core/testing/host.js';

/**
 * Every route of every built-in plugin (discovered from the router table), called as each kind of caller, against
 * an expectation written here, independently of the code's own declarations: a route added without a line here fails.
 *
 * The world: operator; DSO `dso1`; aggregators `aggA` (portfolio: `p1`) and `aggB` (portfolio: `p2`); prosumers `p1`
 * (site s1: meter m1, device d1) and `p2` (site s2: meter m2, device d2). Requests aim at p1's objects.
 */

type Who = 'anonymous' | 'operator' | 'dso1' | 'aggA' | 'aggB' | 'p1' | 'p2';
const WHO: Who[] = ['anonymous', 'dso1', 'aggA', 'aggB', 'p1', 'p2', 'operator'];

/** Who may: the rest get 401 (anonymous), 403 (role) or 404 (another party's object). */
type Allow = 'public' | 'all' | 'op' | 'op+agg' | 'op+dso+agg' | 'own' | 'own+dso' | 'self' | 'own-agg';

interface Case {
  allow: Allow;
  params?: Record<string, string>;
  query?: string;
  body?: unknown;
}

const SESSION = String(Math.floor(Date.now() / 3_600_000 + 2) * 3600);
const ORDER = { prosumer: 'p1', side: 'buy', qtyWh: 100, limitPrice: 10 };

const CASES: Record<string, Case> = {
  'GET /health': { allow: 'public' },
  'GET /ready': { allow: 'public' },
  'GET /metrics': { allow: 'op' },
  'GET /api/plugins': { allow: 'all' },
  'GET /api/routes': { allow: 'op' },
  // parties
  'POST /api/auth/token': { allow: 'public', body: { grant_type: 'client_credentials', client_id: 'p1-client', client_secret: 'p1-client-secret-0123456789' } },
  'GET /api/auth/jwks': { allow: 'public' },
  'GET /api/auth/me': { allow: 'all' },
  'GET /api/parties': { allow: 'op+agg' },
  'POST /api/parties': { allow: 'op', body: { id: 'newcomer', role: 'prosumer', name: 'New' } },
  'GET /api/parties/:id': { allow: 'own+dso', params: { id: 'p1' } },
  'POST /api/parties/:id/disable': { allow: 'op', params: { id: 'victim' } },
  'POST /api/parties/:id/password': { allow: 'self', params: { id: 'p1' }, body: { password: 'a long enough password' } },
  'POST /api/parties/:id/clients': { allow: 'op', params: { id: 'victim' } },
  'GET /api/parties/:id/sites': { allow: 'own', params: { id: 'p1' } },
  'POST /api/parties/:id/sites': { allow: 'op', params: { id: 'victim' }, body: { id: 'sv', meters: ['mv'] } },
  'GET /api/parties/:id/portfolio': { allow: 'own-agg', params: { id: 'aggA' } },
  'POST /api/parties/:id/portfolio': { allow: 'op', params: { id: 'aggB' }, body: { prosumer: 'victim' } },
  'DELETE /api/parties/:id/portfolio/:prosumer': { allow: 'op', params: { id: 'aggB', prosumer: 'victim' } },
  'GET /api/audit': { allow: 'op' },
  // ledger
  'GET /api/ledger': { allow: 'all' },
  'GET /api/ledger/events': { allow: 'op+dso+agg' },
  'POST /api/ledger/rpc': { allow: 'op+dso+agg', body: { jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] } },
  // devices
  'GET /api/devices': { allow: 'all' },
  'POST /api/devices': { allow: 'op', body: {} },
  'POST /api/devices/signals': { allow: 'op', body: { type: 'SIMPLE', value: 0, devices: [] } },
  'GET /api/devices/:id': { allow: 'own', params: { id: 'd1' } },
  'POST /api/devices/:id/poll': { allow: 'own', params: { id: 'd1' } },
  'POST /api/devices/:id/setpoints': { allow: 'own', params: { id: 'd1' }, body: { name: 'exportLimitW', value: 1000 } },
  // analytics
  'POST /api/readings': { allow: 'op', query: 'quantity=energyImport&resolution=30m', body: { readings: [] } },
  'GET /api/readings/series': { allow: 'all' },
  'GET /api/readings': { allow: 'own', query: 'meter=m1&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z' },
  'GET /api/weather': { allow: 'all', query: 'location=nowhere&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z' },
  'GET /api/forecasts': { allow: 'own+dso', query: 'meter=m1' },
  'GET /api/forecasts/models': { allow: 'all' },
  'GET /api/forecasts/latest': { allow: 'own+dso', query: 'meter=m1' },
  'GET /api/baselines/methods': { allow: 'all' },
  'GET /api/baselines': { allow: 'own+dso', query: 'meter=m1&date=2026-01-05' },
  'GET /api/pv-health': { allow: 'own', query: 'meter=m1' },
  // market
  'POST /api/market/prosumers': { allow: 'own', body: { id: 'p1', meterId: 'm1' } },
  'GET /api/market/prosumers/:id': { allow: 'own', params: { id: 'p1' } },
  'POST /api/market/prosumers/:id/tokens/buy': { allow: 'op', params: { id: 'p1' }, body: { amount: 1, reference: 'matrix' } },
  'POST /api/market/prosumers/:id/tokens/sell': { allow: 'own', params: { id: 'p1' }, body: { amount: 1, reference: 'matrix' } },
  'POST /api/market/rewards': { allow: 'op', body: { amount: 1 } },
  'GET /api/market/sessions': { allow: 'all' },
  'POST /api/market/sessions/open': { allow: 'op' },
  'GET /api/market/sessions/:id': { allow: 'all', params: { id: SESSION } },
  'POST /api/market/sessions/:id/orders': { allow: 'own', params: { id: SESSION }, body: { orders: [ORDER] } },
  'DELETE /api/market/sessions/:id/orders/:order': { allow: 'own', params: { id: SESSION, order: '999' }, query: 'prosumer=p1' },
  'PUT /api/market/sessions/:id/orders/:order': { allow: 'own', params: { id: SESSION, order: '999' }, body: ORDER },
  'POST /api/market/sessions/:id/clear': { allow: 'op', params: { id: SESSION } },
  'POST /api/market/sessions/:id/cancel': { allow: 'op', params: { id: '1' } },
  'POST /api/market/sessions/:id/settle': { allow: 'op', params: { id: SESSION } },
  // OpenADR 2.0b operator API
  'GET /api/openadr2b': { allow: 'op' },
  'GET /api/openadr2b/vens': { allow: 'op' },
  'GET /api/openadr2b/vens/:id': { allow: 'op' },
  'POST /api/openadr2b/vens': { allow: 'op', body: { venName: 'matrix-ven' } },
  'POST /api/openadr2b/vens/:id/reregister': { allow: 'op' },
  'POST /api/openadr2b/vens/:id/cancel-registration': { allow: 'op' },
  'GET /api/openadr2b/vens/:id/events': { allow: 'op' },
  'GET /api/openadr2b/vens/:id/opts': { allow: 'op' },
  'GET /api/openadr2b/vens/:id/report-metadata': { allow: 'op' },
  'GET /api/openadr2b/vens/:id/report-requests': { allow: 'op' },
  'POST /api/openadr2b/vens/:id/report-requests': { allow: 'op', body: {} },
  'DELETE /api/openadr2b/vens/:id/report-requests/:rid': { allow: 'op' },
  'GET /api/openadr2b/vens/:id/reports': { allow: 'op' },
  'GET /api/openadr2b/events/:id/participation': { allow: 'op' },
  // HMI
  'GET /hmi': { allow: 'all' },
  'GET /hmi/login': { allow: 'public' },
  'POST /hmi/login': { allow: 'public', body: { party: 'p1', password: 'not the password' } },
  'GET /hmi/logout': { allow: 'all' },
  'POST /hmi/logout': { allow: 'all' },
  'GET /hmi/forecast': { allow: 'all' },
  'GET /hmi/baseline': { allow: 'all' },
  'GET /hmi/readings': { allow: 'all' },
  'GET /hmi/market/sessions/:id': { allow: 'all', params: { id: SESSION } },
};

/** The codes an access rule refuses with (a token endpoint's invalid_client is an answer, not a refusal). */
const REFUSALS = new Set(['GF_AUTH_UNAUTHENTICATED', 'GF_AUTH_INVALID_TOKEN', 'GF_AUTH_FORBIDDEN', 'GF_AUTH_NOT_FOUND', 'GF_AUTH_CSRF']);

/** Routes that authenticate by their own standard: anonymous calls are refused in that standard's terms. */
const PROTOCOL_PREFIXES = ['/openadr3/', '/OpenADR2/'];

function expected(allow: Allow, who: Who): 'ok' | 401 | 403 | 404 {
  if (allow === 'public') return 'ok';
  if (who === 'anonymous') return 401;
  if (who === 'operator') return 'ok';
  switch (allow) {
    case 'all':
      return 'ok';
    case 'op':
      return 403;
    case 'op+agg':
      return who === 'aggA' || who === 'aggB' ? 'ok' : 403;
    case 'op+dso+agg':
      return who === 'dso1' || who === 'aggA' || who === 'aggB' ? 'ok' : 403;
    case 'own':
      return who === 'p1' || who === 'aggA' ? 'ok' : who === 'dso1' ? 403 : 404;
    case 'own+dso':
      return who === 'p1' || who === 'aggA' ? 'ok' : 404;
    case 'self':
      return who === 'p1' ? 'ok' : 404;
    case 'own-agg':
      return who === 'aggA' ? 'ok' : who === 'aggB' ? 404 : 403;
  }
}

describe('access matrix: every route × every kind of caller', function () {
  this.timeout(240_000);
  let h: TestHost;
  let routes: RouteRule[];
  const headers = new Map<Who, Record<string, string>>();

  before(async () => {
    h = await startTestHost({ plugins: ['openadr3', 'openadr2b', 'meter-data', 'weather', 'forecasting', 'baseline', 'pv-degradation', 'p2p-market', 'hmi', 'ledger', 'devices'] });
    const parties = h.resolve(PartiesToken);
    await parties.addParty({ id: 'dso1', role: 'dso', name: 'DSO' });
    for (const a of ['aggA', 'aggB']) await parties.addParty({ id: a, role: 'aggregator', name: a });
    for (const p of ['p1', 'p2', 'victim']) await parties.addParty({ id: p, role: 'prosumer', name: p });
    await parties.addSite('p1', { id: 's1', meters: ['m1'], devices: ['d1'] });
    await parties.addSite('p2', { id: 's2', meters: ['m2'], devices: ['d2'] });
    await parties.enrol('aggA', 'p1');
    await parties.enrol('aggB', 'p2');
    await parties.addClient('p1', { clientId: 'p1-client', clientSecret: 'p1-client-secret-0123456789' });
    headers.set('anonymous', {});
    for (const w of WHO) if (w !== 'anonymous') headers.set(w, await h.as(w));
    routes = h.http.routes();
  });
  after(() => h?.close());

  it('has an expectation for every route, and every expectation names a route', () => {
    const keys = routes.filter((r) => !PROTOCOL_PREFIXES.some((p) => r.path.startsWith(p))).flatMap((r) => r.methods.map((m) => `${m} ${r.path}`));
    const missing = keys.filter((k) => !(k in CASES));
    const stale = Object.keys(CASES).filter((k) => !keys.includes(k));
    assert.deepEqual(missing, [], 'routes without a line in CASES (add one saying who may call it)');
    assert.deepEqual(stale, [], 'CASES lines for routes that do not exist');
  });

  it('answers each caller as the table says: 401 anonymous, 403 wrong role, 404 another party\'s object, never 5xx', async () => {
    const wrong: string[] = [];
    const order = [...WHO]; // refusals first, the operator last (its writes change the world least for the others)
    for (const who of order) {
      for (const r of routes) {
        if (PROTOCOL_PREFIXES.some((p) => r.path.startsWith(p))) continue;
        for (const method of r.methods) {
          const c = CASES[`${method} ${r.path}`]!;
          const path = r.path.replace(/:(\w+)/g, (_m, k: string) => encodeURIComponent(c.params?.[k] ?? 'x'));
          const res = await fetch(`${h.url}${path}${c.query ? `?${c.query}` : ''}`, {
            method,
            headers: { ...headers.get(who), ...(c.body !== undefined ? { 'content-type': 'application/json' } : {}) },
            ...(c.body !== undefined ? { body: JSON.stringify(c.body) } : {}),
            redirect: 'manual',
          });
          const text = await res.text();
          const code = res.headers.get('content-type')?.includes('json') ? ((JSON.parse(text) as { code?: string }).code ?? '') : '';
          const authRefusal = REFUSALS.has(code);
          const want = expected(c.allow, who);
          const cell = `${who} ${method} ${path} → ${res.status} ${code}`;
          if (res.status >= 500) wrong.push(`${cell} (5xx)`);
          else if (want === 401 && method === 'GET' && path.startsWith('/hmi')) {
            if (res.status !== 302 || res.headers.get('location') !== '/hmi/login') wrong.push(`${cell}, expected a redirect to /hmi/login`);
          }
          else if (want === 'ok' ? authRefusal : !(authRefusal && res.status === want)) wrong.push(`${cell}, expected ${want}`);
          if (want === 401 && res.status === 401 && !res.headers.get('www-authenticate')) wrong.push(`${cell}: 401 without WWW-Authenticate`);
        }
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('docs/security.md lists every route with its rule, as the router table says', () => {
    const rows = routes.map((r) => `| ${r.methods.join(', ')} | \`${r.path}\` | ${r.plugin} | ${describeRule(r.rule).replace(/\|/g, '\\|')} |`);
    const doc = readFileSync(new URL('../docs/security.md', import.meta.url), 'utf8');
    const table = /<!-- routes:begin -->\n([\s\S]*?)<!-- routes:end -->/.exec(doc)?.[1] ?? '';
    const want = ['| method | path | plugin | who may call it |', '|---|---|---|---|', ...rows].join('\n') + '\n';
    assert.equal(table, want, 'regenerate the table between <!-- routes:begin --> and <!-- routes:end --> from this test\'s expectation');
  });

  it('refuses anonymous calls to the OpenADR routes in their own terms', async () => {
    const res = await fetch(`${h.url}/openadr3/3.1.0/programs`);
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { code: string }).code, 'GF_OA3_UNAUTHORIZED');
    const disco = await fetch(`${h.url}/openadr3/3.1.0/auth/server`);
    assert.equal(disco.status, 200, 'token discovery stays open (Definition §Token endpoint discovery)');
  });

  it('refuses forged, expired, revoked and disabled-party tokens with 401', async () => {
    const parties = h.resolve(PartiesToken);
    const good = (await h.as('p2')).authorization.slice(7);
    const [hd, pl] = good.split('.');
    const claims = JSON.parse(Buffer.from(pl!, 'base64url').toString()) as Record<string, unknown>;
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${pl}.`;
    const edited = `${hd}.${Buffer.from(JSON.stringify({ ...claims, role: 'operator' })).toString('base64url')}.${good.split('.')[2]}`;
    for (const [what, t] of [['alg none', none], ['edited claims', edited], ['garbage', 'abc.def.ghi']] as const) {
      const res = await fetch(`${h.url}/api/auth/me`, { headers: { authorization: `Bearer ${t}` } });
      assert.equal(res.status, 401, what);
      assert.match(res.headers.get('www-authenticate') ?? '', /invalid_token/, what);
    }
    await parties.addParty({ id: 'p3', role: 'prosumer', name: 'p3' });
    const victim = await h.as('p3');
    assert.equal((await fetch(`${h.url}/api/auth/me`, { headers: victim })).status, 200);
    const jti = JSON.parse(Buffer.from(victim.authorization.split('.')[1]!, 'base64url').toString()).jti as string;
    await parties.revoke(jti);
    assert.equal((await fetch(`${h.url}/api/auth/me`, { headers: victim })).status, 401, 'a revoked token, even one verified before (cached)');
    const p2 = await h.as('p2');
    assert.equal((await fetch(`${h.url}/api/auth/me`, { headers: p2 })).status, 200);
    await parties.disable('p2');
    assert.equal((await fetch(`${h.url}/api/auth/me`, { headers: p2 })).status, 401, 'a disabled party\'s token');
  });

  it('records every write in the audit trail with who, what and the request id', async () => {
    const res = await fetch(`${h.url}/api/market/sessions/open`, { method: 'POST', headers: { ...(await h.as('p1')), 'x-request-id': 'audit-probe-1' } });
    assert.equal(res.status, 403);
    const list = (await (await fetch(`${h.url}/api/audit?party=p1&limit=10000`, { headers: h.operator })).json()) as { requestId: string; method: string; path: string; status: number; role: string }[];
    const e = list.find((x) => x.requestId === 'audit-probe-1');
    assert.ok(e, 'the refused write is in the trail');
    assert.deepEqual({ method: e.method, path: e.path, status: e.status, role: e.role }, { method: 'POST', path: '/api/market/sessions/open', status: 403, role: 'prosumer' });
  });
});
