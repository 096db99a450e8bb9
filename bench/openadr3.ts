/**
 * OpenADR 3.1 VTN benchmarks (issue 3), against `gridflex serve` in a child process:
 *   - GET /events over 10,000 events (one program, paged by 50) as a ratio of GET /health
 *   - POST /events latency with 1,000 webhook subscriptions, and time until all 1,000 are delivered
 *   - POST /events latency with 1,000 VENs on MQTT, and time until all 1,000 clients have the event
 *   - time until 10,000 ven topics are notified of one event
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import mqtt from 'mqtt';

const BASE = '/openadr3/3.1.0';
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const progress = (m: string) => process.stderr.write(`bench: ${m}\n`);

export interface Row {
  what: string;
  result: string;
  target?: string;
}

/** Waits for `cond`, failing the bench (not hanging it) after `ms`. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function pool<T>(n: number, items: T[], fn: (t: T) => Promise<void>): Promise<void> {
  const q = [...items];
  await Promise.all(Array.from({ length: n }, async () => {
    for (let x = q.shift(); x !== undefined; x = q.shift()) await fn(x);
  }));
}

export async function benchOpenadr3(root: string): Promise<Row[]> {
  const rows: Row[] = [];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-bench-oa3-'));
  const port = 18992;
  const cfg = path.join(dir, 'gridflex.yaml');
  writeFileSync(
    cfg,
    [
      `dataDir: ${path.join(dir, 'data')}`,
      'log: { level: warn }',
      'plugins:',
      '  openadr3:',
      '    config:',
      '      clients:',
      '        - { clientId: bl, clientSecret: bl-secret-1, role: bl, name: BL }',
      '        - { clientId: ven-fleet, clientSecret: fleet-secret-1, role: ven, name: Fleet }',
      "      webhooks: { allowHttpHosts: ['127.0.0.1'], allowPrivateHosts: ['127.0.0.1'], concurrency: 32, pollMs: 200 }",
      '',
    ].join('\n'),
  );
  const proc = spawn(process.execPath, [path.join(root, 'bin/gridflex.js'), 'serve', '--port', String(port), '--config', cfg], { stdio: 'ignore', env: { ...process.env, DATABASE_URL: '' } });
  const url = `http://127.0.0.1:${port}`;
  const receiverHits = { n: 0 };
  const receiver = http.createServer((req, res) => {
    if (req.method === 'GET') {
      res.end(new URL(req.url ?? '/', 'http://x').searchParams.get('echo') ?? '');
      return;
    }
    req.resume();
    req.on('end', () => {
      receiverHits.n++;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const mqttClients: mqtt.MqttClient[] = [];
  try {
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`${url}/ready`)).ok) break;
      } catch {
        /* starting */
      }
      if (i > 600) throw new Error('server did not become ready');
      await new Promise((r) => setTimeout(r, 50));
    }
    const token = async (id: string, secret: string) => {
      const r = await fetch(`${url}${BASE}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=client_credentials&client_id=${id}&client_secret=${secret}` });
      return ((await r.json()) as { access_token: string }).access_token;
    };
    const bl = await token('bl', 'bl-secret-1');
    const fleet = await token('ven-fleet', 'fleet-secret-1');
    const post = async (p: string, body: unknown, tok = bl) => {
      const r = await fetch(`${url}${BASE}${p}`, { method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (r.status !== 201) throw new Error(`POST ${p}: ${r.status} ${await r.text()}`);
      return (await r.json()) as { id: string };
    };

    // 10,000 events in one program.
    const big = await post('/programs', { programName: 'bench-10k' });
    progress('creating 10,000 events');
    const t0 = performance.now();
    await pool(16, Array.from({ length: 10_000 }, (_, i) => i), async (i) => {
      await post('/events', { programID: big.id, eventName: `e${i}`, intervalPeriod: { start: '2026-12-01T00:00:00Z', duration: 'PT1H' }, intervals: [{ id: 0, payloads: [{ type: 'PRICE', values: [0.1 + i / 1e5] }] }] });
    });
    rows.push({ what: 'OpenADR 3.1: POST /events, no subscribers, 16 concurrent clients (10,000 events)', result: `${fmt(10_000 / ((performance.now() - t0) / 1000))} events/s` });

    const health = await autocannon({ url: `${url}/health`, connections: 10, duration: 8 });
    let page = 0;
    const events = await autocannon({
      url: `${url}${BASE}/events`,
      connections: 10,
      duration: 8,
      headers: { authorization: `Bearer ${bl}` },
      requests: [{ setupRequest: (req: any) => ({ ...req, path: `${BASE}/events?programID=${big.id}&skip=${(page++ % 200) * 50}&limit=50` }) }],
    });
    if (events.non2xx > 0) throw new Error(`GET /events answered ${events.non2xx} non-2xx`);
    rows.push({
      what: 'OpenADR 3.1: GET /events?programID=…&skip=…&limit=50 over 10,000 events (BL token, 10 connections) vs GET /health',
      result: `${fmt(events.requests.average)} req/s vs ${fmt(health.requests.average)} req/s: ratio ${(events.requests.average / health.requests.average).toFixed(2)}; p50 ${events.latency.p50} ms`,
    });
    progress(`GET /events ${fmt(events.requests.average)}/s, /health ${fmt(health.requests.average)}/s`);

    // 1,000 webhook subscriptions on one program.
    const hooked = await post('/programs', { programName: 'bench-webhooks' });
    progress('creating 1,000 webhook subscriptions (each passes the echo challenge)');
    await pool(16, Array.from({ length: 1000 }, (_, i) => i), async (i) => {
      await post('/subscriptions', { clientName: `sub-${i}`, programID: hooked.id, objectOperations: [{ objects: ['EVENT'], operations: ['CREATE'], callbackUrl: `${receiverUrl}?s=${i}` }] });
    });
    progress('measuring POST /events with 1,000 webhook subscriptions');
    // Quiet: each POST after the previous fan-out was delivered. Busy: back to back, each POST
    // while the previous event's 1,000 deliveries are still going out from the same process.
    const lat: number[] = [];
    let firstDelivered = 0;
    for (let i = 0; i < 20; i++) {
      const before = receiverHits.n;
      const t = performance.now();
      await post('/events', { programID: hooked.id, eventName: `w${i}` });
      lat.push(performance.now() - t);
      await until(() => receiverHits.n - before >= 1000, 120_000, `1,000 webhook deliveries (have ${receiverHits.n - before})`);
      if (i === 0) firstDelivered = performance.now() - t;
    }
    const busy: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      await post('/events', { programID: hooked.id, eventName: `b${i}` });
      busy.push(performance.now() - t);
    }
    rows.push({ what: 'OpenADR 3.1: POST /events latency with 1,000 webhook subscriptions, each after the previous fan-out was delivered (20; notifications queued in the same transaction)', result: `p50 ${pct(lat, 50).toFixed(1)} ms, p95 ${pct(lat, 95).toFixed(1)} ms`, target: 'p50 < 43 ms (published Rust implementation)' });
    rows.push({ what: 'OpenADR 3.1: the same, back to back while the previous events are being delivered (20)', result: `p50 ${pct(busy, 50).toFixed(1)} ms, p95 ${pct(busy, 95).toFixed(1)} ms` });
    rows.push({ what: 'OpenADR 3.1: one event to 1,000 webhook subscribers, POST until the last delivery (loopback receiver)', result: `${fmt(firstDelivered)} ms` });
    progress(`webhooks: quiet p50 ${pct(lat, 50).toFixed(1)} ms, busy p50 ${pct(busy, 50).toFixed(1)} ms, all delivered in ${fmt(firstDelivered)} ms`);
    await until(() => receiverHits.n >= 40_000, 300_000, `the webhook queue to drain (have ${receiverHits.n})`);

    // 1,000 VENs on MQTT.
    const notifiers = (await (await fetch(`${url}${BASE}/notifiers`, { headers: { authorization: `Bearer ${fleet}` } })).json()) as { MQTT: { URIS: string[] } };
    const broker = notifiers.MQTT.URIS[0]!;
    const mq = await post('/programs', { programName: 'bench-mqtt' });
    progress('creating 10,000 vens; connecting 1,000 MQTT clients');
    const venIds: string[] = new Array(10_000);
    await pool(16, Array.from({ length: 10_000 }, (_, i) => i), async (i) => {
      venIds[i] = (await post('/vens', { objectType: 'BL_VEN_REQUEST', clientID: 'ven-fleet', venName: `fleet-${i}` })).id;
    });
    const received = new Map<string, number>();
    await pool(32, venIds.slice(0, 1000), async (venId) => {
      const c = await mqtt.connectAsync(broker, { username: 'ven-fleet', password: fleet, reconnectPeriod: 0, clientId: `b-${venId}` });
      c.on('message', (_t, payload) => {
        const id = (JSON.parse(payload.toString()) as { object: { id: string } }).object.id;
        received.set(id, (received.get(id) ?? 0) + 1);
      });
      await c.subscribeAsync(`vens/${venId}/events/create`, { qos: 0 });
      mqttClients.push(c);
    });
    const watcher = await mqtt.connectAsync(broker, { username: 'bl', password: bl, reconnectPeriod: 0 });
    mqttClients.push(watcher);
    let allVenTopics = 0;
    watcher.on('message', () => allVenTopics++);
    await watcher.subscribeAsync('vens/+/events/create', { qos: 0 });
    const mlat: number[] = [];
    let fanout1k = 0;
    let fanout10k = 0;
    for (let i = 0; i < 10; i++) {
      const seen = allVenTopics;
      const t = performance.now();
      const ev = await post('/events', { programID: mq.id, eventName: `m${i}` });
      mlat.push(performance.now() - t);
      await until(() => (received.get(ev.id) ?? 0) >= 1000, 120_000, '1,000 MQTT clients');
      if (i === 0) fanout1k = performance.now() - t;
      await until(() => allVenTopics - seen >= 10_000, 120_000, '10,000 ven topics');
      if (i === 0) fanout10k = performance.now() - t;
    }
    rows.push({ what: 'OpenADR 3.1: POST /events latency with 10,000 vens and 1,000 VENs connected on MQTT (10 sequential; publishing follows the commit)', result: `p50 ${pct(mlat, 50).toFixed(1)} ms, p95 ${pct(mlat, 95).toFixed(1)} ms`, target: 'p50 < 72 ms (published Rust implementation)' });
    rows.push({ what: 'OpenADR 3.1: one untargeted event, POST until all 1,000 connected VEN clients have it (MQTT, embedded broker)', result: `${fmt(fanout1k)} ms` });
    rows.push({ what: 'OpenADR 3.1: one untargeted event, POST until all 10,000 ven topics are published and received (one BL client on vens/+/events/create)', result: `${fmt(fanout10k)} ms` });
    progress(`MQTT: p50 ${pct(mlat, 50).toFixed(1)} ms, 1k clients ${fmt(fanout1k)} ms, 10k topics ${fmt(fanout10k)} ms`);
  } finally {
    await Promise.all(mqttClients.map((c) => c.endAsync().catch(() => undefined)));
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
    await new Promise<void>((r) => receiver.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
