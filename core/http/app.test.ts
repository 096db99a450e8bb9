import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { access, type Authorizer, createLogger, createRootContainer, definePlugin, GfError, KernelErrors, PluginHost, Router } from '../index.js';
import { createHttpApp, type HttpApp } from './app.js';
import { Metrics } from './metrics.js';

const OPERATOR_TOKEN = 'operator-token-for-the-app-test';
const OPERATOR = { authorization: `Bearer ${OPERATOR_TOKEN}` };

/** An authorizer that knows no credentials of its own: callers are anonymous unless they carry a server.apiTokens token. */
const NOBODY: Authorizer = { authenticate: async () => undefined, may: async () => false, visible: async () => new Set(), record: async () => {} };

/** A real Koa app on loopback with a test plugin's routes; log lines are captured. */
async function start(opts: { failReadiness?: boolean; bodyLimitBytes?: number; apiTokens?: string[] } = {}) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  const log = createLogger({ level: 'info', destination: sink });
  const plugin = definePlugin({
    manifest: { id: 't', version: '1.0.0' },
    async start(ctx) {
      const r = new Router();
      r.post('/echo', access.public('test'), (c) => {
        c.body = { got: c.request.body ?? null, xmlRoot: c.state.xml ? Object.keys(c.state.xml as object)[0] : null };
      });
      r.get('/items/:id', access.public('test'), (c) => {
        c.body = { id: c.params.id };
      });
      r.get('/coded', access.public('test'), () => {
        throw new GfError(KernelErrors.GF_VALIDATION_FAILED, 'limit must be at most 50', { data: { field: 'limit' } });
      });
      r.get('/crash', access.public('test'), () => {
        throw new Error('secret connection string postgres://u:p@h');
      });
      ctx.mount('/api/t', r);
      const open = new Router({ sensitive: false });
      open.post('/hook', access.public('a webhook'), (c) => {
        c.body = { hook: true };
      });
      open.post('/guarded', access.roles(['operator']), (c) => {
        c.body = { guarded: true };
      });
      const vtn = new Router();
      vtn.post('/things', access.protocol('its own tokens'), (c) => {
        c.body = { vtn: true };
      });
      vtn.post('/strict', access.roles(['operator']), (c) => {
        c.body = { strict: true };
      });
      ctx.mount('/x', open);
      ctx.mount('/vtn', vtn);
      ctx.readiness('always', async () => {
        if (opts.failReadiness) throw new Error('meter head-end unreachable');
      });
    },
  });
  const host = new PluginHost({ plugins: [plugin], root: createRootContainer(), log, kernelVersion: '0.2.0', kernel: { dataDir: '', databaseUrl: undefined, instanceId: 't' } });
  const app: HttpApp = createHttpApp({
    log,
    metrics: new Metrics(),
    bodyLimitBytes: opts.bodyLimitBytes ?? 2048,
    version: '9.9.9',
    pluginStatus: () => host.status(),
    readinessChecks: () => host.readiness(),
    apiTokens: opts.apiTokens ?? [OPERATOR_TOKEN],
  });
  const server = http.createServer(app.app.callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    app,
    lines,
    async boot() {
      await host.boot();
      app.mount(host.mounts, NOBODY);
      app.setPhase('ready');
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

type Started = Awaited<ReturnType<typeof start>>;

async function problem(res: Response, status: number, code: string) {
  assert.equal(res.status, status);
  assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
  const body = (await res.json()) as Record<string, unknown>;
  assert.equal(body.status, status, 'status is a number equal to the HTTP status');
  assert.equal(body.code, code);
  assert.equal(body.type, `urn:gridflex:problem:${code}`);
  for (const k of ['title', 'detail', 'instance', 'referenceId']) assert.equal(typeof body[k], 'string', k);
  return body;
}

describe('HTTP app', () => {
  let s: Started;
  before(async () => {
    s = await start();
  });
  after(() => s.close());

  it('answers liveness while starting, and readiness only once plugins are up', async () => {
    const health = await fetch(`${s.base}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(((await health.json()) as { phase: string }).phase, 'starting');
    const notReady = await problem(await fetch(`${s.base}/ready`), 503, 'GF_HTTP_NOT_READY');
    assert.equal(notReady.phase, 'starting');
    await problem(await fetch(`${s.base}/api/t/items/1`), 503, 'GF_HTTP_NOT_READY');
    await s.boot();
    const ready = await fetch(`${s.base}/ready`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready', plugins: { t: 'started' } });
  });

  it('maps an unknown route to 404 problem+json whose reference id is in the log line', async () => {
    const body = await problem(await fetch(`${s.base}/no/such/thing`, { headers: { 'x-request-id': 'req-abc_123' } }), 404, 'GF_HTTP_NOT_FOUND');
    assert.equal(body.instance, 'urn:gridflex:request:req-abc_123');
    assert.equal(body.path, '/no/such/thing');
    assert.equal(body.referenceId, 'req-abc_123');
    const line = s.lines.find((l) => l.referenceId === 'req-abc_123' && l.code === 'GF_HTTP_NOT_FOUND');
    assert.ok(line, 'the error log line carries the reference id');
    assert.ok(s.lines.some((l) => l.reqId === 'req-abc_123' && l.msg === 'request' && l.status === 404), 'the access line too');
  });

  it('answers 405 with Allow for a known path and wrong method', async () => {
    const res = await fetch(`${s.base}/api/t/items/7`, { method: 'DELETE' });
    await problem(res, 405, 'GF_HTTP_METHOD_NOT_ALLOWED');
    assert.match(res.headers.get('allow') ?? '', /GET/);
  });

  it('parses form bodies and refuses a repeated parameter', async () => {
    const ok = await fetch(`${s.base}/api/t/echo`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&scope=a+b' });
    assert.deepEqual(await ok.json(), { got: { grant_type: 'client_credentials', scope: 'a b' }, xmlRoot: null });
    await problem(
      await fetch(`${s.base}/api/t/echo`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1&a=2' }),
      400,
      'GF_HTTP_MALFORMED_BODY',
    );
  });

  it('parses JSON, and refuses malformed JSON with 400', async () => {
    const ok = await fetch(`${s.base}/api/t/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":[1,2]}' });
    assert.deepEqual(await ok.json(), { got: { a: [1, 2] }, xmlRoot: null });
    const bad = await problem(
      await fetch(`${s.base}/api/t/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":' }),
      400,
      'GF_HTTP_MALFORMED_BODY',
    );
    assert.match(String(bad.detail), /not valid JSON/);
  });

  it('parses well-formed XML with namespaces, and refuses malformed XML with 400', async () => {
    const xml = '<?xml version="1.0"?><oadr:oadrPayload xmlns:oadr="http://openadr.org/oadr-2.0b/2012/07"><a>1</a></oadr:oadrPayload>';
    const ok = await fetch(`${s.base}/api/t/echo`, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: xml });
    const body = (await ok.json()) as { got: string; xmlRoot: string };
    assert.equal(body.got, xml, 'the raw XML text is kept');
    assert.equal(body.xmlRoot, 'oadr:oadrPayload');
    const bad = await problem(
      await fetch(`${s.base}/api/t/echo`, { method: 'POST', headers: { 'content-type': 'text/xml' }, body: '<a><b></a>' }),
      400,
      'GF_HTTP_MALFORMED_BODY',
    );
    assert.match(String(bad.detail), /not well-formed XML/);
  });

  it('refuses NUL and lone surrogates in every kind of body, the query and route parameters, naming where', async () => {
    const post = (type: string, body: string, q = '') => fetch(`${s.base}/api/t/echo${q}`, { method: 'POST', headers: { 'content-type': type }, body });
    const cases: [Promise<Response>, string, string][] = [
      [post('application/json', '{"a":[{"b":"x\\u0000"}]}'), 'body', 'a[0].b'],
      [post('application/json', '{"a":"\\udbff"}'), 'body', 'a'],
      [post('application/json', '{"\\ud800":1}'), 'body', '\\ud800'],
      [post('application/xml', '<a>\u0000</a>'), 'body', '(body)'],
      [post('text/plain', 'line one\nline\u0000two'), 'body', '(body)'],
      [post('application/x-www-form-urlencoded', 'grant_type=x&client_id=%00'), 'body', 'client_id'],
      [post('application/json', '{}', '?limit=1&venName=a%00'), 'query', 'venName'],
      [fetch(`${s.base}/api/t/items/a%00b`), 'path', 'id'],
    ];
    for (const [res, where, field] of cases) {
      const body = await problem(await res, 400, 'GF_HTTP_INVALID_CHARACTER');
      assert.deepEqual([body.in, where === 'query' ? body.parameter : body.field], [where, field], JSON.stringify(body));
    }
    // XML character references to NUL or a surrogate are not well-formed (XML 1.0 Char): the parser refuses them.
    for (const x of ['<a><b>&#0;</b></a>', '<a>&#xDC00;</a>']) await problem(await post('application/xml', x), 400, 'GF_HTTP_MALFORMED_BODY');
    const fine = await post('application/json', '{"emoji":"\\ud83d\\ude00","text":"caf\u00e9"}');
    assert.deepEqual(await fine.json(), { got: { emoji: '\u{1F600}', text: 'café' }, xmlRoot: null }, 'paired surrogates are text');
    const deep = await problem(await post('application/json', `${'['.repeat(65)}${']'.repeat(65)}`), 400, 'GF_HTTP_BODY_TOO_DEEP');
    assert.equal(deep.maxDepth, 64);
    assert.equal((await post('application/json', `${'['.repeat(64)}${']'.repeat(64)}`)).status, 200, '64 levels are accepted');
  });

  it('refuses a body over the limit with 413', async () => {
    await problem(
      await fetch(`${s.base}/api/t/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ x: 'y'.repeat(5000) }) }),
      413,
      'GF_HTTP_BODY_TOO_LARGE',
    );
  });

  it('refuses an unsupported or missing content type with 415', async () => {
    const b = await problem(
      await fetch(`${s.base}/api/t/echo`, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: '--x--' }),
      415,
      'GF_HTTP_UNSUPPORTED_MEDIA_TYPE',
    );
    assert.equal(b.contentType, 'multipart/form-data; boundary=x');
    await problem(await fetch(`${s.base}/api/t/echo`, { method: 'POST', body: new Uint8Array([1, 2, 3]) }), 415, 'GF_HTTP_UNSUPPORTED_MEDIA_TYPE');
  });

  it('maps a coded error from a route to its status, and hides the internals of an unexpected one', async () => {
    const coded = await problem(await fetch(`${s.base}/api/t/coded`), 400, 'GF_VALIDATION_FAILED');
    assert.equal(coded.detail, 'limit must be at most 50');
    assert.equal(coded.field, 'limit');
    const crash = await problem(await fetch(`${s.base}/api/t/crash`), 500, 'GF_INTERNAL_ERROR');
    assert.doesNotMatch(JSON.stringify(crash), /postgres:\/\//);
    const logged = s.lines.find((l) => l.referenceId === crash.referenceId && l.level === 50);
    assert.ok(logged, 'the 500 is logged at error level with its reference id');
    assert.match(JSON.stringify(logged), /secret connection string/, 'the cause is in the log, not in the response');
  });

  it('exports Prometheus metrics: request counts and latency per route, plugin states', async () => {
    await fetch(`${s.base}/api/t/items/42`);
    assert.equal((await fetch(`${s.base}/metrics`)).status, 401, 'metrics are the operator\'s by default');
    const res = await fetch(`${s.base}/metrics`, { headers: OPERATOR });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.match(text, /gridflex_http_requests_total\{method="GET",route="\/api\/t\/items\/:id",status="200"\} [1-9]/);
    assert.match(text, /gridflex_http_request_duration_seconds_bucket\{le="0\.005",method="GET",route="\/api\/t\/items\/:id"\} \d+/);
    assert.match(text, /gridflex_plugin_state\{plugin="t",state="started"\} 1/);
    assert.match(text, /route="unmatched",status="404"/, 'unknown paths share one label');
  });

  it('lists plugins at /api/plugins', async () => {
    const body = (await (await fetch(`${s.base}/api/plugins`, { headers: OPERATOR })).json()) as { plugins: { id: string; state: string }[] };
    assert.deepEqual(body.plugins.map((p) => [p.id, p.state]), [['t', 'started']]);
  });
});

describe('HTTP app readiness probes', () => {
  it('logs "not ready" once at info while booting, not an error with a stack per probe (issue 25 #10)', async () => {
    const s = await start();
    try {
      for (let i = 0; i < 5; i++) await problem(await fetch(`${s.base}/ready`), 503, 'GF_HTTP_NOT_READY');
      const problems = s.lines.filter((l) => l.code === 'GF_HTTP_NOT_READY');
      assert.equal(problems.length, 1, JSON.stringify(problems));
      assert.equal(problems[0]!.level, 30);
      assert.equal(problems[0]!.err, undefined, 'no stack trace');
      assert.equal(s.lines.filter((l) => (l.level as number) >= 50).length, 0, 'nothing at error level');
      assert.equal(s.lines.filter((l) => l.msg === 'request' && l.status === 503).length, 5, 'each probe still has its access line');
      await s.boot();
      assert.equal((await fetch(`${s.base}/ready`)).status, 200);
    } finally {
      await s.close();
    }
  });
});

describe('HTTP app readiness checks', () => {
  it('is not ready while a plugin readiness check fails, and names it', async () => {
    const s = await start({ failReadiness: true });
    try {
      await s.boot();
      const body = await problem(await fetch(`${s.base}/ready`), 503, 'GF_HTTP_NOT_READY');
      assert.deepEqual(body.checks, { 't.always': 'meter head-end unreachable' });
    } finally {
      await s.close();
    }
  });
});

describe('HTTP app access rules', () => {
  it('decides on the matched route, as each route declares; paths are case-sensitive', async () => {
    const s = await start({ apiTokens: ['a-token-of-sixteen-chars'] });
    try {
      await s.boot();
      const post = (p: string, auth = false) => fetch(`${s.base}${p}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(auth ? { authorization: 'Bearer a-token-of-sixteen-chars' } : {}) }, body: '{}' });
      assert.equal((await post('/x/hook')).status, 200, 'a route declared public');
      await problem(await post('/x/guarded'), 401, 'GF_AUTH_UNAUTHENTICATED');
      assert.equal((await post('/x/guarded', true)).status, 200);
      assert.equal((await post('/vtn/things')).status, 200, 'a route that authenticates by its own protocol');
      await problem(await post('/vtn/strict'), 401, 'GF_AUTH_UNAUTHENTICATED');
      await problem(await post('/X/guarded'), 404, 'GF_HTTP_NOT_FOUND');
      await problem(await post('/x/GUARDED'), 404, 'GF_HTTP_NOT_FOUND');
      await problem(await fetch(`${s.base}/API/t/items/1`), 404, 'GF_HTTP_NOT_FOUND');
      await problem(await fetch(`${s.base}/HEALTH`), 404, 'GF_HTTP_NOT_FOUND');
      const table = s.app.routes().map((r) => `${r.methods.join('|')} ${r.path} ${r.rule.kind}`);
      for (const want of ['POST /x/hook public', 'POST /x/guarded roles', 'POST /vtn/things protocol', 'POST /vtn/strict roles', 'GET /api/t/items/:id public', 'GET /metrics roles', 'GET /health public']) {
        assert.ok(table.includes(want), `${want} in ${table.join(', ')}`);
      }
    } finally {
      await s.close();
    }
  });
});
