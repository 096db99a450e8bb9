import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { loadConfigOrThrow } from '../core/config/config.js';
import { samplePath } from '../core/http/app.js';
import { OPERATOR, OPERATOR_ENV } from '../core/testing/operator.js';

interface RouteInfo {
  pluginId: string;
  method: string;
  path: string;
}
import { createLogger } from '../core/log.js';
import { startServer, type RunningServer } from '../core/server.js';
import { ROOT } from './process.js';

/**
 * Every route of the default plugin set, discovered from the mounted routers (`HttpApp.routes()`, so a new route is
 * covered without touching this file), gets bodies, queries and path parameters with NUL, lone surrogates, 10 MB,
 * deep nesting and wrong types. Whatever a route thinks of them, the answer is never a 5xx: hostile input is the
 * client's error. Query parameter and body field names are read from the sources, so new ones are covered too.
 */

/** Names used as query parameters and body fields in the sources (scraped, so the list follows the code). */
function namesInSources(): { query: string[]; body: string[] } {
  const query = new Set<string>();
  const body = new Set<string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir)) {
      const p = path.join(dir, e);
      if (e === 'node_modules' || e === '_generated') continue;
      if (statSync(p).isDirectory()) walk(p);
      else if (e.endsWith('.ts') && !e.endsWith('.test.ts')) {
        const src = readFileSync(p, 'utf8');
        for (const m of src.matchAll(/(?:query|\bq)\s*,\s*'([A-Za-z_][A-Za-z0-9_-]*)'/g)) query.add(m[1]!);
        for (const m of src.matchAll(/(?:\.query|\bq)\.(?:one|all|bool|int)?\(?'?([A-Za-z_][A-Za-z0-9_]*)/g)) query.add(m[1]!);
        for (const m of src.matchAll(/\bknown = \[([^\]]*)\]/g)) for (const k of m[1]!.matchAll(/'([^']+)'/g)) query.add(k[1]!);
        for (const m of src.matchAll(/\b(?:body|b|input|payload)\.([a-z][A-Za-z0-9_]*)/g)) body.add(m[1]!);
        for (const m of src.matchAll(/required: \[([^\]]*)\]/g)) for (const k of m[1]!.matchAll(/'([^']+)'/g)) body.add(k[1]!);
      }
    }
  };
  for (const d of ['core', 'adapters', 'plugins']) walk(path.join(ROOT, d));
  return { query: [...query].sort(), body: [...body].sort() };
}

interface Sent {
  status: number;
  code: string | undefined;
}

/** A raw request (node:http, so a body may be sent chunked and any bytes go through). */
/** Kept-alive connections for the small requests (much faster); big bodies get a connection each. */
const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1, timeout: 60_000 });

function request(base: string, method: string, target: string, opts: { body?: Buffer | string; type?: string; chunked?: boolean; headers?: Record<string, string> } = {}): Promise<Sent> {
  const u = new URL(base);
  const body = opts.body === undefined ? undefined : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body, 'utf8');
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.type) headers['content-type'] = opts.type;
  if (body && !opts.chunked) headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const big = (body?.length ?? 0) > 1 << 20 || target.length > 8192;
    const req = http.request({ host: u.hostname, port: u.port, method, path: target, headers, agent: big ? false : keepAlive }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let code: string | undefined;
        try {
          code = (JSON.parse(text) as { code?: string }).code;
        } catch {
          code = /<ei:responseDescription>([^<]*)/.exec(text)?.[1];
        }
        resolve({ status: res.statusCode ?? 0, code });
      });
      res.on('error', reject);
    });
    // The server may answer (413, 401, 404) and close before the whole body is written.
    req.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? resolve({ status: -1, code: e.code }) : reject(e)));
    if (body && opts.chunked) {
      for (let i = 0; i < body.length; i += 1 << 20) req.write(body.subarray(i, i + (1 << 20)));
      req.end();
    } else req.end(body);
  });
}

describe('HTTP abuse: every route of the default plugin set refuses hostile input without a 5xx', function () {
  this.timeout(900_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-abuse-'));
  const errors: string[] = [];
  let server: RunningServer;
  let routes: RouteInfo[];
  let auth: Record<string, string>;
  const names = namesInSources();

  before(async () => {
    const sink = new Writable({
      write(chunk, _enc, cb) {
        for (const l of String(chunk).split('\n').filter(Boolean)) {
          const line = JSON.parse(l) as { level: number; msg: string; err?: { message?: string } };
          if (line.level >= 50) errors.push(`${line.msg}: ${line.err?.message ?? ''}`);
        }
        cb();
      },
    });
    const config = loadConfigOrThrow({ env: { ...OPERATOR_ENV }, overrides: { port: 0, dataDir: path.join(dir, 'data') } });
    config.plugins.openadr3 = { enabled: true, config: { clients: [{ clientId: 'abuse-bl', clientSecret: 'abuse-bl-secret', role: 'bl', name: 'BL' }] } };
    server = await startServer({ config, log: createLogger({ level: 'info', destination: sink }) });
    routes = server.http.routes().flatMap((r) => r.methods.map((method) => ({ pluginId: r.plugin, method, path: r.path })));
    const token = await fetch(`${server.url}/openadr3/3.1.0/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&client_id=abuse-bl&client_secret=abuse-bl-secret',
    });
    assert.equal(token.status, 200);
    // The 3.1 VTN's routes check their token first; with a BL token the input reaches the route's own code.
    auth = { authorization: `Bearer ${((await token.json()) as { access_token: string }).access_token}` };
    // Objects for the path parameters to name (ids the client chooses).
    await fetch(`${server.url}/api/market/prosumers`, { method: 'POST', headers: { ...OPERATOR, 'content-type': 'application/json' }, body: JSON.stringify({ id: 'p1', meterId: 'm1' }) });
  });
  after(async () => {
    keepAlive.destroy();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Sends `variants` to every route (each route at a few sample paths) and collects every 5xx and network failure. */
  async function sweep(variants: { label: string; body?: Buffer | string; type?: string; query?: string; chunked?: boolean; pathValue?: string }[]) {
    const failures: string[] = [];
    let sent = 0;
    for (const r of routes) {
      for (const v of variants) {
        // The value goes in percent-encoded as given (a lone surrogate has no UTF-8 form to encode).
        const p = samplePath(r.path, 'SAMPLE').replaceAll('SAMPLE', v.pathValue ?? 'p1');
        const target = `${p}${v.query ? `?${v.query}` : ''}`;
        const withBody = !['GET', 'HEAD', 'DELETE'].includes(r.method) || v.body !== undefined;
        try {
          const res = await request(server.url, r.method, target, {
            ...(withBody && v.body !== undefined ? { body: v.body, type: v.type ?? 'application/json' } : {}),
            ...(v.chunked ? { chunked: true } : {}),
            // The VTN's routes take its own BL token; every other route the operator's, so the input reaches the route's code.
            headers: r.path.startsWith('/openadr3/') ? auth : OPERATOR,
          });
          sent++;
          if (res.status >= 500 || res.status === 0) failures.push(`${res.status} ${res.code ?? ''} ${r.method} ${r.path} (${v.label})`);
        } catch (e) {
          failures.push(`network error ${(e as Error).message} ${r.method} ${r.path} (${v.label})`);
        }
      }
    }
    return { failures, sent };
  }

  function check(result: { failures: string[]; sent: number }) {
    assert.ok(result.sent > routes.length, `sent ${result.sent} requests`);
    assert.deepEqual(result.failures, [], `5xx answers (server errors logged: ${errors.slice(-5).join(' | ')})`);
  }

  it('discovers the router table of the default plugin set', () => {
    const plugins = new Set(routes.map((r) => r.pluginId));
    for (const p of ['ledger', 'devices', 'openadr3', 'openadr2b', 'meter-data', 'forecasting', 'baseline', 'p2p-market', 'hmi']) assert.ok(plugins.has(p), p);
    assert.ok(names.query.length > 20 && names.body.length > 40, `${names.query.length} query names, ${names.body.length} body names`);
  });

  it('refuses the reported NUL and lone-surrogate inputs with 400 naming the field (issue 25 #6)', async () => {
    const oa3 = '/openadr3/3.1.0';
    const send = async (method: string, p: string, body?: unknown) => {
      const res = await fetch(`${server.url}${p}`, { method, headers: { ...(p.startsWith(oa3) ? auth : OPERATOR), 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const event = (values: unknown[]) => ({ programID: 'none', eventName: 'e', intervals: [{ id: 0, payloads: [{ type: 'PRICE', values }] }] });
    const cases: [string, string, unknown, string, string][] = [
      ['POST', `${oa3}/programs`, { programName: 'a\u0000b' }, 'body', 'programName'],
      ['POST', `${oa3}/programs`, { programName: 'x\ud800' }, 'body', 'programName'],
      ['POST', `${oa3}/events`, { ...event([1]), eventName: '\u0000' }, 'body', 'eventName'],
      ['POST', `${oa3}/events`, event(['ok', 'x\udc00']), 'body', 'intervals[0].payloads[0].values[1]'],
      ['POST', `${oa3}/vens`, { objectType: 'BL_VEN_REQUEST', clientID: 'c', venName: 'v\u0000' }, 'body', 'venName'],
      ['POST', `${oa3}/vens`, { objectType: 'BL_VEN_REQUEST', clientID: 'c', venName: 'v', attributes: [{ type: 't', values: ['\u0000'] }] }, 'body', 'attributes[0].values[0]'],
      ['POST', '/api/openadr2b/vens', { venName: 'site\u0000' }, 'body', 'venName'],
      ['POST', '/api/market/prosumers', { id: 'p\u0000', meterId: 'm' }, 'body', 'id'],
      ['POST', '/api/market/prosumers', { id: 'p', ['meter\ud83d']: 'm' }, 'body', 'meter\\ud83d'],
      ['GET', `${oa3}/programs?targets=%00`, undefined, 'query', 'targets'],
      ['GET', `${oa3}/vens?venName=%00`, undefined, 'query', 'venName'],
      ['GET', '/api/readings/series?meter=m%00', undefined, 'query', 'meter'],
      ['GET', '/api/market/prosumers/p%00', undefined, 'path', 'id'],
    ];
    for (const [method, p, body, where, field] of cases) {
      const r = await send(method, p, body);
      assert.deepEqual([r.status, r.body.code, r.body.in, where === 'query' ? r.body.parameter : r.body.field], [400, 'GF_HTTP_INVALID_CHARACTER', where, field], `${method} ${p} ${JSON.stringify(body)}`);
    }
    const deep = await fetch(`${server.url}${oa3}/programs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: `{"programName":"d","x":${'['.repeat(70)}${']'.repeat(70)}}` });
    const deepBody = (await deep.json()) as Record<string, unknown>;
    assert.deepEqual([deep.status, deepBody.code], [400, 'GF_HTTP_BODY_TOO_DEEP']);
    assert.match(String(deepBody.field), /^x(\[0\])+$/);
  });

  it('NUL anywhere: JSON strings and keys, XML, text, form, query parameters, path parameters', async () => {
    const keys = Object.fromEntries(names.body.map((k) => [k, 'a\u0000b']));
    check(
      await sweep([
        { label: 'json fields', body: JSON.stringify(keys) },
        { label: 'json nested', body: JSON.stringify({ a: [{ b: { c: 'x\u0000' } }] }) },
        { label: 'json key', body: JSON.stringify({ 'k\u0000': 1 }) },
        { label: 'json array', body: JSON.stringify(['\u0000']) },
        { label: 'xml char ref', body: '<?xml version="1.0"?><a>&#0;</a>', type: 'application/xml' },
        { label: 'xml raw', body: '<?xml version="1.0"?><a>\u0000</a>', type: 'application/xml' },
        { label: 'text', body: 'meter,ts,value\nm\u00001,2024-01-01T00:00:00Z,1\n', type: 'text/csv' },
        { label: 'form', body: 'grant_type=client_credentials&client_id=%00&client_secret=x', type: 'application/x-www-form-urlencoded' },
        { label: 'query', query: names.query.map((n) => `${n}=%00`).join('&') },
        ...names.query.map((n) => ({ label: `query ${n}`, query: `${n}=a%00b` })),
        { label: 'path', pathValue: '%00' },
        { label: 'path inside', pathValue: 'a%00b' },
      ]),
    );
  });

  it('lone surrogates: JSON strings and keys, XML character references, query and path', async () => {
    const keys = Object.fromEntries(names.body.map((k) => [k, '\ud800']));
    check(
      await sweep([
        { label: 'json fields', body: JSON.stringify(keys) },
        { label: 'json low', body: JSON.stringify({ name: 'x\udc00y', venName: '\udfff' }) },
        { label: 'json escaped', body: '{"programName":"\\udead","eventName":"\\ud800x","targets":["\\udc00"]}' },
        { label: 'json key', body: JSON.stringify({ ['\ud83d']: 1 }) },
        { label: 'xml', body: '<?xml version="1.0"?><a>&#xD800;</a>', type: 'application/xml' },
        { label: 'query', query: names.query.map((n) => `${n}=%ED%A0%80`).join('&') },
        ...names.query.map((n) => ({ label: `query ${n}`, query: `${n}=%ED%B0%80` })),
        { label: 'path', pathValue: '%ED%A0%80' },
      ]),
    );
  });

  it('10 MB: JSON, XML and text bodies with and without a length, and a huge query', async () => {
    const big = 'x'.repeat(10 * 1024 * 1024);
    check(
      await sweep([
        { label: 'json', body: JSON.stringify({ name: big }) },
        { label: 'json chunked', body: JSON.stringify([big]), chunked: true },
        { label: 'xml', body: `<a>${big}</a>`, type: 'application/xml' },
        { label: 'text chunked', body: big, type: 'text/csv', chunked: true },
        { label: 'query', query: `meter=${'m'.repeat(100_000)}` },
        { label: 'path', pathValue: 'p'.repeat(100_000) },
      ]),
    );
  });

  it('deep nesting: JSON arrays and objects, XML elements', async () => {
    check(
      await sweep([
        { label: 'json arrays', body: `${'['.repeat(100_000)}${']'.repeat(100_000)}` },
        { label: 'json objects', body: `${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}` },
        { label: 'json in a field', body: `{"name":"n","payload":${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}}` },
        { label: 'json just too deep', body: `${'['.repeat(65)}${']'.repeat(65)}` },
        { label: 'xml', body: `<?xml version="1.0"?>${'<a>'.repeat(50_000)}${'</a>'.repeat(50_000)}`, type: 'application/xml' },
        { label: 'form', body: 'a[b][c][d][e][f][g][h][i][j][k][l][m]=1', type: 'application/x-www-form-urlencoded' },
        { label: 'query', query: `${'a'.repeat(50)}[${'['.repeat(2000)}=1` },
      ]),
    );
  });

  it('wrong types: bodies of every JSON type, each field every wrong type, query parameters with wrong values', async () => {
    const values: unknown[] = [null, 0, -1, 1.5, 1e308, '', 'x', [], {}, true, [null], { a: null }, '9'.repeat(400), -1e308];
    check(
      await sweep([
        ...['null', '[]', '"s"', '0', 'true', '{}', '[{}]', '1e999', '-0'].map((b) => ({ label: `body ${b}`, body: b })),
        ...values.map((v) => ({ label: `fields = ${JSON.stringify(v).slice(0, 20)}`, body: JSON.stringify(Object.fromEntries(names.body.map((k) => [k, v]))) })),
        ...names.query.flatMap((n) => ['abc', '-1', '1e309', '', '2024-13-45T99:99:99Z', '9'.repeat(400)].map((v) => ({ label: `query ${n}=${v.slice(0, 10)}`, query: `${n}=${v}` }))),
        ...names.query.map((n) => ({ label: `query ${n} twice`, query: `${n}=1&${n}=2` })),
        { label: 'path -1', pathValue: '-1' },
        { label: 'path 1e309', pathValue: '1e309' },
      ]),
    );
  });
});
