import type { Context } from 'koa';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { access, AuthErrors, definePlugin, GfError, isGfError, KernelErrors, PartiesToken, Router } from '../../core/index.js';
import { readServerInfo } from '../../core/server-info.js';
import { HmiConfig } from './config.js';
import { chart, esc, page, type Series } from './svg.js';

/**
 * The web HMI: server-rendered pages with plots (SVG, no script) of what the APIs answer: forecasts with their
 * p10–p90 band against what was metered, baselines against the day's load, and a market session's supply and
 * demand curves with the clearing point. It reads the server's own JSON APIs over loopback, so a page shows
 * exactly what an API client would get, refusals included.
 */

const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'";
const C = { point: '#1f77b4', band: '#1f77b4', actual: '#222222', baseline: '#d62728', supply: '#2ca02c', demand: '#d62728', clear: '#000000' };

interface Answer {
  status: number;
  body: any;
}

function html(ctx: Context, status: number, title: string, body: string): void {
  ctx.status = status;
  ctx.type = 'text/html; charset=utf-8';
  ctx.set('Content-Security-Policy', CSP);
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.body = page(title, body);
}

/** An API refusal shown as a page with the API's status, code and detail. */
function problemPage(ctx: Context, title: string, a: Answer): void {
  const p = a.body ?? {};
  html(ctx, a.status, title, `<p class="problem"><strong>${esc(String(p.code ?? `HTTP ${a.status}`))}</strong>: ${esc(String(p.detail ?? p.title ?? 'the API refused the request'))}</p>`);
}

/**
 * The page's query as the API's: passed through, a comma-separated `meter` split into several, and the
 * aggregate asked for when there is more than one meter.
 */
function apiQuery(q: Record<string, string | string[] | undefined>): URLSearchParams {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    for (const x of ([] as string[]).concat(v ?? [])) {
      if (k === 'meter') for (const m of x.split(',').map((y) => y.trim()).filter(Boolean)) u.append(k, m);
      else u.append(k, x);
    }
  }
  if (u.getAll('meter').length > 1 && !u.has('aggregate')) u.set('aggregate', 'true');
  return u;
}

/** A cell is text (escaped) or `{ html }` already built from escaped parts. */
type Cell = string | number | { html: string };
function table(head: string[], rows: Cell[][]): string {
  const cell = (c: Cell) => `<td>${typeof c === 'object' ? c.html : esc(String(c))}</td>`;
  return `<table><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${rows.map((r) => `<tr>${r.map(cell).join('')}</tr>`).join('')}</table>`;
}

/** Sum of several meters' readings on the given timestamps (null where any is missing). */
function sumOn(ts: string[], series: { ts: string[]; values: (number | null)[] }[], meters: number): (number | null)[] {
  if (series.length < meters) return ts.map(() => null);
  const maps = series.map((s) => new Map(s.ts.map((t, i) => [t, s.values[i]])));
  return ts.map((t) => {
    let sum = 0;
    for (const m of maps) {
      const v = m.get(t);
      if (v === null || v === undefined || !Number.isFinite(v)) return null;
      sum += v;
    }
    return sum;
  });
}

const cookie = (header: string, name: string): string | undefined => new RegExp(`(?:^|;\\s*)${name}=([A-Za-z0-9_-]{1,200})`).exec(header)?.[1];
const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

function loginForm(csrf: string, message = ''): string {
  return `${message ? `<p class="problem">${esc(message)}</p>` : ''}<form method="post" action="/hmi/login">
<p><label>Party id <input name="party" autocomplete="username" required maxlength="128"></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password" required maxlength="200"></label></p>
<input type="hidden" name="csrf" value="${esc(csrf)}"><p><button>Sign in</button></p></form>`;
}

/**
 * Sign-in and sign-out. The session cookie is HttpOnly, Secure and SameSite=Strict; the sign-in form carries a
 * double-submit CSRF token (cookie + field), every later form the session's own token (checked by the kernel).
 */
function signInPages(r: Router, parties: import('../../core/index.js').PartiesService): void {
  const loginPage = (http: Context, status: number, message = '') => {
    const csrf = randomBytes(18).toString('base64url');
    http.append('Set-Cookie', `gf_login_csrf=${csrf}; Path=/hmi/login; HttpOnly; Secure; SameSite=Strict; Max-Age=1800`);
    html(http, status, 'Sign in', loginForm(csrf, message));
  };
  r.get('/login', access.public('the sign-in form'), (http) => loginPage(http, 200));
  r.post('/login', access.public('sign-in: the password authenticates the request'), async (http) => {
    const b = (http.request.body && typeof http.request.body === 'object' ? http.request.body : {}) as Record<string, unknown>;
    const want = cookie(http.get('cookie'), 'gf_login_csrf');
    if (!want || typeof b.csrf !== 'string' || !same(b.csrf, want)) return loginPage(http, 403, 'The form expired or did not come from this site; please sign in again.');
    if (typeof b.party !== 'string' || typeof b.password !== 'string' || !b.party || !b.password) return loginPage(http, 400, 'Give your party id and password.');
    try {
      const s = await parties.login(b.party, b.password, http.ip);
      http.append('Set-Cookie', `gf_session=${s.session}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=${s.maxAgeSeconds}`);
      http.append('Set-Cookie', 'gf_login_csrf=; Path=/hmi/login; HttpOnly; Secure; SameSite=Strict; Max-Age=0');
      http.status = 303;
      http.redirect('/hmi');
    } catch (e) {
      if (isGfError(e) && e.code === AuthErrors.GF_AUTH_THROTTLED) return loginPage(http, 429, e.message);
      if (isGfError(e) && e.code === AuthErrors.GF_AUTH_INVALID_CLIENT) return loginPage(http, 401, 'Unknown party or wrong password.');
      throw e;
    }
  });
  r.get('/logout', access.signedIn(), async (http) => {
    const session = cookie(http.get('cookie'), 'gf_session');
    const csrf = session ? await parties.csrfOf(session) : undefined;
    const who = http.state.caller!;
    html(http, 200, 'Sign out', `<p>Signed in as ${esc(who.partyId)} (${esc(who.role)}).</p>${csrf ? `<form method="post" action="/hmi/logout"><input type="hidden" name="csrf" value="${esc(csrf)}"><button>Sign out</button></form>` : '<p>This request carries a bearer token, not a session: there is nothing to sign out of.</p>'}`);
  });
  r.post('/logout', access.signedIn(), async (http) => {
    const session = cookie(http.get('cookie'), 'gf_session');
    if (session) await parties.logout(session);
    http.append('Set-Cookie', 'gf_session=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0');
    http.status = 303;
    http.redirect('/hmi/login');
  });
}

export const hmiPlugin = definePlugin({
  manifest: {
    id: 'hmi',
    version: '0.2.0',
    kernel: '^0.2.0',
    description: 'web HMI: pages with plots of readings, forecasts, baselines and market clearing, from the server’s own APIs',
  },
  config: HmiConfig,
  deps: { parties: PartiesToken },
  async start(ctx) {
    const parties = ctx.deps.parties;
    let base: string | undefined; // the server's own address, read once from its data folder (never the request's Host)
    /** Asks the API as the person viewing the page: their credential goes along, so they see what they may see. */
    const apiAs = (http: { get(h: string): string }) => async (path: string): Promise<Answer> => {
      base ??= readServerInfo(ctx.kernel.dataDir)?.url;
      if (!base) throw new GfError(KernelErrors.GF_HTTP_NOT_READY, 'the server has not published its address yet; try again shortly');
      const headers: Record<string, string> = {};
      for (const h of ['authorization', 'cookie']) if (http.get(h)) headers[h] = http.get(h);
      const res = await fetch(`${base}${path}`, { headers });
      const text = await res.text();
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = { detail: text.slice(0, 200) };
      }
      return { status: res.status, body };
    };
    /** What the meters' readings sum to on each timestamp (intervals of `resolutionS` from ts[0]); null where any is missing. */
    const metered = async (api: (path: string) => Promise<Answer>, meterIds: string[], quantity: string, ts: string[], resolutionS: number): Promise<(number | null)[]> => {
      const to = new Date(Date.parse(ts.at(-1)!) + resolutionS * 1000).toISOString();
      const q = new URLSearchParams([...meterIds.map((m): [string, string] => ['meter', m]), ['quantity', quantity], ['from', ts[0]!], ['to', to], ['resolution', `${resolutionS}s`]]);
      const readings = await api(`/api/readings?${q}`);
      return readings.status === 200 ? sumOn(ts, readings.body.series, meterIds.length) : ts.map(() => null);
    };
    const r = new Router();
    // A page asked for without a session: to the sign-in form (an API client gets the 401 from the API itself).
    r.use(async (http, next) => {
      try {
        await next();
      } catch (e) {
        if (isGfError(e) && e.code === AuthErrors.GF_AUTH_UNAUTHENTICATED && http.method === 'GET') http.redirect('/hmi/login');
        else throw e;
      }
    });
    signInPages(r, parties);

    r.get('/', access.signedIn(), async (http) => {
      const api = apiAs(http);
      const [sessions, stored] = await Promise.all([api('/api/market/sessions'), api('/api/readings/series')]);
      const meterIds = stored.status === 200 && Array.isArray(stored.body) ? [...new Set((stored.body as { meterId: string }[]).map((x) => x.meterId))] : [];
      const meters = meterIds.length
        ? `<p>${meterIds.length} meters stored: ${esc(meterIds.slice(0, 12).join(', '))}${meterIds.length > 12 ? ', …' : ''}.</p><datalist id="meters">${meterIds
            .slice(0, 2000)
            .map((m) => `<option value="${esc(m)}"></option>`)
            .join('')}</datalist>`
        : '<p>No readings stored yet (<code>gridflex import readings FILE</code>, or <code>POST /api/readings</code>).</p>';
      const market =
        sessions.status === 200 && Array.isArray(sessions.body)
          ? sessions.body.length
            ? table(
                ['session', 'slot start (UTC)', 'state', 'price', 'volume (Wh)'],
                sessions.body.map((s: any) => [{ html: `<a href="/hmi/market/sessions/${esc(String(s.id))}">${esc(String(s.id))}</a>` }, s.slotStart, s.state, s.clearing?.price ?? '', s.clearing?.volumeWh ?? '']),
              )
            : '<p>No sessions yet.</p>'
          : '<p>The market is not running.</p>';
      html(
        http,
        200,
        'Overview',
        `<h2>Meters</h2>${meters}
<h2>Forecasts</h2>
<form action="/hmi/forecast" method="get"><label>meters (comma-separated) <input name="meter" list="meters" required></label>
<label>resolution <select name="resolution"><option>60m</option><option selected>30m</option><option>10m</option><option>5m</option></select></label>
<label>issued at (UTC, optional) <input name="at" placeholder="2009-05-10T00:00:00Z"></label> <button>plot</button></form>
<h2>Readings</h2>
<form action="/hmi/readings" method="get"><label>meters <input name="meter" list="meters" required></label> <label>from <input name="from" placeholder="2009-05-10T00:00:00Z" required></label>
<label>to <input name="to" placeholder="2009-05-17T00:00:00Z" required></label> <label>quantity <input name="quantity" value="energyImport"></label> <button>plot</button></form>
<h2>Baselines</h2>
<form action="/hmi/baseline" method="get"><label>meters <input name="meter" list="meters" required></label> <label>date <input name="date" placeholder="2009-05-12" required></label>
<label>window <input name="window" value="16:00-19:00"></label> <button>plot</button></form>
<h2>Market sessions</h2>${market}`,
      );
    });

    r.get('/forecast', access.signedIn(), async (http) => {
      const api = apiAs(http);
      const q = apiQuery(http.query as never);
      const f = await api(`/api/forecasts?${q}`);
      if (f.status !== 200) return problemPage(http, 'Forecast', f);
      const s = f.body.aggregate ?? f.body.series[0];
      const ts: string[] = s.ts;
      const actual = await metered(api, f.body.series.map((x: any) => x.meterId), f.body.quantity, ts, f.body.resolutionS);
      const x = ts.map((t) => Date.parse(t));
      const series: Series[] = [
        { name: 'p10–p90', kind: 'band', points: x.map((t, i) => [t, s.p10[i]] as const), upper: s.p90, colour: C.band },
        { name: `forecast (${f.body.model})`, kind: 'line', points: x.map((t, i) => [t, s.point[i]] as const), colour: C.point },
        ...(actual.some((v) => v !== null) ? [{ name: 'metered', kind: 'line' as const, points: x.map((t, i) => [t, actual[i]!] as const), colour: C.actual, dashed: true }] : []),
      ];
      const who = f.body.aggregate ? `${f.body.series.length} meters (sum)` : s.meterId;
      const title = `${f.body.kind} forecast, ${who}`;
      html(
        http,
        200,
        'Forecast',
        chart({ title, x: { label: 'time (UTC)', time: true }, y: { label: `${f.body.quantity} (${f.body.unit} per ${f.body.resolutionS / 60} min)` }, series }) +
          `<p>Model ${esc(f.body.model)} v${esc(String(f.body.version))}, issued ${esc(f.body.issuedAt)}. <a href="/api/forecasts?${esc(q.toString())}">JSON</a></p>`,
      );
    });

    r.get('/baseline', access.signedIn(), async (http) => {
      const api = apiAs(http);
      const q = apiQuery(http.query as never);
      const b = await api(`/api/baselines?${q}`);
      if (b.status !== 200) return problemPage(http, 'Baseline', b);
      const s = b.body.aggregate ?? b.body.series[0];
      const step = b.body.resolutionS * 1000;
      const dayStart = Date.parse(`${b.body.date}T00:00:00Z`);
      const dayTs = Array.from({ length: 86400_000 / step }, (_, i) => new Date(dayStart + i * step).toISOString());
      const actual = await metered(api, b.body.series.map((x: any) => x.meterId), 'energyImport', dayTs, b.body.resolutionS);
      const winX = (s.ts as string[]).map((t) => Date.parse(t));
      const series: Series[] = [
        { name: 'metered', kind: 'step', points: [...dayTs.map((t, i) => [Date.parse(t), actual[i]!] as const), [dayStart + 86400_000, actual.at(-1)!] as const], colour: C.actual },
        { name: `baseline (${b.body.method})`, kind: 'step', points: [...winX.map((t, i) => [t, s.baseline[i]] as const), [winX.at(-1)! + step, s.baseline.at(-1)] as const], colour: C.baseline },
      ];
      const who = b.body.aggregate ? `${b.body.series.length} meters (sum)` : s.meterId;
      html(
        http,
        200,
        'Baseline',
        chart({
          title: `Baseline ${b.body.date} ${b.body.window} UTC, ${who}`,
          x: { label: 'time (UTC)', time: true },
          y: { label: `energy (${b.body.unit} per ${b.body.resolutionS / 60} min)` },
          series,
          spans: [{ from: winX[0]!, to: winX.at(-1)! + step, label: 'event window' }],
        }) +
          `<p>${esc(b.body.rule)}</p><p>Day-of factor ${esc(String(s.adjustment))}; flexibility down ${esc(String(Math.round(s.flexibility.downWh)))} Wh, up ${esc(String(Math.round(s.flexibility.upWh)))} Wh. <a href="/api/baselines?${esc(q.toString())}">JSON</a></p>`,
      );
    });

    r.get('/readings', access.signedIn(), async (http) => {
      const api = apiAs(http);
      const q = apiQuery(http.query as never);
      q.delete('aggregate'); // not a readings parameter: each meter is drawn as its own line
      const a = await api(`/api/readings?${q}`);
      if (a.status !== 200) return problemPage(http, 'Readings', a);
      const list = a.body.series as { meterId: string; quantity: string; unit: string; resolutionS: number; ts: string[]; values: (number | null)[] }[];
      if (list.length === 0) return html(http, 200, 'Readings', '<p>No readings for these meters in that range.</p>');
      const palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];
      const shown = list.slice(0, palette.length);
      const units = [...new Set(shown.map((x) => x.unit))].join(', ');
      const series: Series[] = shown.map((x, i) => ({ name: x.meterId, kind: 'line', points: x.ts.map((t, k) => [Date.parse(t), x.values[k] ?? null] as const), colour: palette[i]! }));
      const per = shown[0]!.resolutionS ? ` per ${shown[0]!.resolutionS / 60} min` : '';
      html(
        http,
        200,
        'Readings',
        chart({ title: `${shown[0]!.quantity}, ${shown.length} meter${shown.length > 1 ? 's' : ''}`, x: { label: 'time (UTC)', time: true }, y: { label: `${shown[0]!.quantity} (${units}${per})` }, series }) +
          (list.length > shown.length ? `<p>The first ${shown.length} of ${list.length} meters are drawn.</p>` : '') +
          `<p><a href="/api/readings?${esc(q.toString())}">JSON</a></p>`,
      );
    });

    r.get('/market/sessions/:id', access.signedIn(), async (http) => {
      const api = apiAs(http);
      const v = await api(`/api/market/sessions/${encodeURIComponent(http.params.id!)}`);
      if (v.status !== 200) return problemPage(http, 'Market session', v);
      const { supply, demand } = v.body.curves as { supply: { price: number; qtyWh: number }[]; demand: { price: number; qtyWh: number }[] };
      const steps = (c: { price: number; qtyWh: number }[]) => (c.length ? [...c.map((p, i) => [(i ? c[i - 1]!.qtyWh : 0) / 1000, p.price] as const), [c.at(-1)!.qtyWh / 1000, c.at(-1)!.price] as const] : []);
      const cl = v.body.clearing;
      const markers = cl && cl.price !== null && cl.volumeWh > 0 ? [{ x: cl.volumeWh / 1000, y: cl.price, label: `cleared ${cl.volumeWh / 1000} kWh at ${cl.price}`, colour: C.clear }] : [];
      const svg = chart({
        title: `Session ${v.body.id}: ${v.body.slotStart} to ${v.body.slotEnd} (${v.body.state})`,
        x: { label: 'quantity (kWh)' },
        y: { label: 'price (token base units per kWh)' },
        series: [
          { name: 'supply (offers, ascending)', kind: 'step', points: steps(supply), colour: C.supply },
          { name: 'demand (bids, descending)', kind: 'step', points: steps(demand), colour: C.demand },
        ],
        markers,
      });
      const trades = (v.body.trades as any[]).map((t) => [t.idx, t.bid_id, t.offer_id, t.qty_wh, t.price, t.delivered_wh ?? '', t.paid ?? '', t.penalty ?? '', t.green_reward ?? '']);
      html(
        http,
        200,
        `Market session ${v.body.id}`,
        svg +
          (cl ? `<p>${esc(cl.algorithm)}: ${cl.price === null ? esc(`nothing cleared${cl.reason ? ` (${cl.reason})` : ''}`) : esc(`price ${cl.price}, ${cl.volumeWh} Wh`)}.</p>` : '<p>Not cleared yet.</p>') +
          `<h2>Trades</h2>${trades.length ? table(['#', 'bid', 'offer', 'Wh', 'price', 'delivered Wh', 'paid', 'penalty', 'green reward'], trades) : '<p>None.</p>'}` +
          `<h2>Order book</h2>${table(['order', 'prosumer', 'side', 'Wh', 'limit price'], (v.body.book as any[]).map((o) => [o.id, o.prosumer, o.side, o.qtyWh, o.limitPrice]))}` +
          `<p><a href="/api/market/sessions/${esc(String(v.body.id))}">JSON</a></p>`,
      );
    });
    ctx.mount('/hmi', r);
  },
});

export default hmiPlugin;
