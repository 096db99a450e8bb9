/**
 * `npm run bench`: measures the kernel on this machine and writes docs/benchmarks.md.
 *   - raw request rate of GET /health (the ceiling every protocol endpoint is measured against)
 *   - time-series insert rate, row API and column API, embedded engine and PostgreSQL
 *   - a 1-day range query for 1,000 meters at 10-minute resolution
 *   - cold start (fresh data folder) and warm start of `gridflex serve` to /health and /ready
 * PostgreSQL: DATABASE_URL if set, else a throwaway server started with .ci/postgres.sh when
 * Debian's postgresql is installed.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { openStorage, type SqlStorage } from '../adapters/storage/index.js';
import type { ReadingInput } from '../core/index.js';
import { benchOpenadr3 } from './openadr3.js';
import { benchLedger } from './ledger.js';
import { benchAnalytics } from './analytics.js';
import { benchMarket, benchMarketSession } from './market.js';
import { benchDevices } from './devices.js';
import { benchOpenadr2b } from './openadr2b.js';
import { benchAuth } from './auth.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const METERS = 1000;
const SLOTS = 144; // one day at 10 minutes
const T0 = Date.UTC(2026, 0, 5);
const REPS = 3;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const progress = (msg: string) => process.stderr.write(`bench: ${msg}\n`);

interface Row {
  what: string;
  result: string;
  target?: string;
}

async function waitHttp(url: string, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    try {
      const r = await fetch(url);
      if (r.ok) return performance.now() - t0;
    } catch {
      /* not listening yet */
    }
    if (performance.now() - t0 > timeoutMs) throw new Error(`${url} not up after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function startServer(dataDir: string, port: number) {
  const proc = spawn(process.execPath, [path.join(ROOT, 'bin/gridflex.js'), 'serve', '--port', String(port), '--data', dataDir], {
    env: { ...process.env, LOG_LEVEL: 'warn', DATABASE_URL: '' },
    stdio: 'ignore',
  });
  return proc;
}

async function stopServer(proc: ReturnType<typeof spawn>) {
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
}

async function startup(rows: Row[]) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-bench-start-'));
  try {
    for (const kind of ['cold (new data folder)', 'warm (existing data folder)']) {
      const t0 = performance.now();
      const proc = startServer(dir, 18990);
      await waitHttp('http://127.0.0.1:18990/health', 60_000);
      const health = performance.now() - t0;
      await waitHttp('http://127.0.0.1:18990/ready', 60_000);
      const ready = performance.now() - t0;
      rows.push({ what: `server start, ${kind}: process spawn to /health 200 / to /ready 200`, result: `${fmt(health)} ms / ${fmt(ready)} ms`, target: '/ready ≤ 15 s' });
      progress(`start ${kind}: health ${fmt(health)} ms, ready ${fmt(ready)} ms`);
      await stopServer(proc);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function healthRate(rows: Row[]) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-bench-http-'));
  const proc = startServer(dir, 18991);
  try {
    await waitHttp('http://127.0.0.1:18991/ready', 60_000);
    const run = (connections: number) =>
      autocannon({ url: 'http://127.0.0.1:18991/health', connections, pipelining: 1, duration: 8 });
    await autocannon({ url: 'http://127.0.0.1:18991/health', connections: 10, duration: 2 }); // warm-up
    for (const c of [1, 50]) {
      const r = await run(c);
      rows.push({
        what: `GET /health, ${c} keep-alive connection${c > 1 ? 's' : ''} (autocannon, 8 s; server and client share the 2 cores)`,
        result: `${fmt(r.requests.average)} req/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, ${r.non2xx} non-2xx`,
      });
      progress(`/health with ${c} connections: ${fmt(r.requests.average)} req/s`);
    }
  } finally {
    await stopServer(proc);
    rmSync(dir, { recursive: true, force: true });
  }
}

function dayOfReadings(day: number): ReadingInput[] {
  const out: ReadingInput[] = new Array(METERS * SLOTS);
  let k = 0;
  for (let m = 0; m < METERS; m++) {
    for (let s = 0; s < SLOTS; s++) {
      out[k++] = { meterId: `meter-${m}`, quantity: 'activePower', unit: 'W', ts: T0 + day * 86_400_000 + s * 600_000, value: 200 + ((m * 31 + s * 7) % 900) + 0.25, resolutionS: 600 };
    }
  }
  return out;
}

async function storageBench(rows: Row[], label: string, storage: SqlStorage, target: string) {
  // Row API: one day of 1,000 meters (144,000 readings) per call; new days each rep.
  const rowRates: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    const batch = dayOfReadings(rep);
    const t0 = performance.now();
    const r = await storage.readings.write(batch);
    const s = (performance.now() - t0) / 1000;
    if (r.written !== batch.length) throw new Error('short write');
    rowRates.push(batch.length / s);
  }
  rows.push({ what: `${label}: insert, row API, 144,000 readings a call (1,000 meters × 1 day at 10 min), median of ${REPS}`, result: `${fmt(median(rowRates))} readings/s`, target });
  progress(`${label} row insert: ${fmt(median(rowRates))}/s`);

  // Column API: one long series a call (the bulk-import path).
  const colRates: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    const n = 144_000;
    const ts = new Float64Array(n);
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      ts[i] = T0 + (10 + rep) * 86_400_000 * 1000 + i * 600_000;
      v[i] = (i % 977) + 0.5;
    }
    const t0 = performance.now();
    await storage.readings.writeSeries({ meterId: `long-${rep}`, quantity: 'activePower', unit: 'W', resolutionS: 600 }, ts, v);
    colRates.push(n / ((performance.now() - t0) / 1000));
  }
  rows.push({ what: `${label}: insert, column API, 144,000 readings of one series a call, median of ${REPS}`, result: `${fmt(median(colRates))} readings/s`, target });
  progress(`${label} column insert: ${fmt(median(colRates))}/s`);

  // Duplicate path: re-send a day that is stored (staging + INSERT … ON CONFLICT).
  const dup = dayOfReadings(0);
  const t1 = performance.now();
  await storage.readings.write(dup);
  rows.push({ what: `${label}: re-send of 144,000 stored readings (replace path)`, result: `${fmt(dup.length / ((performance.now() - t1) / 1000))} readings/s` });

  const meterIds = Array.from({ length: METERS }, (_, m) => `meter-${m}`);
  const qt: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    const t0 = performance.now();
    const res = await storage.readings.read({ meterIds, quantity: 'activePower', resolutionS: 600, from: T0 + rep * 86_400_000, to: T0 + (rep + 1) * 86_400_000 });
    qt.push(performance.now() - t0);
    const n = res.reduce((a, s) => a + s.values.length, 0);
    if (n !== METERS * SLOTS) throw new Error(`range query returned ${n}`);
  }
  rows.push({ what: `${label}: range query, 1 day × 1,000 meters at 10 min (144,000 values, columnar), median of ${REPS}`, result: `${fmt(median(qt))} ms` });
  progress(`${label} range query: ${fmt(median(qt))} ms`);
}

async function main() {
  const rows: Row[] = [];
  progress('building (npm run build) so server timings are of the compiled kernel');
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });

  await startup(rows);
  await healthRate(rows);

  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-bench-ts-'));
  const embedded = await openStorage({ dataDir: dir, databaseUrl: undefined });
  try {
    const v = (await embedded.query<{ v: string }>("SELECT split_part(version(), ' ', 2) AS v")).rows[0]!.v;
    await storageBench(rows, `embedded (PGlite, PostgreSQL ${v} in WASM, data folder)`, embedded, '≥ 100,000/s');
  } finally {
    await embedded.close();
    rmSync(dir, { recursive: true, force: true });
  }

  let url = process.env.DATABASE_URL;
  let started = false;
  if (!url) {
    try {
      url = execFileSync('bash', [path.join(ROOT, '.ci/postgres.sh'), 'start', '55433'], { encoding: 'utf8' }).trim();
      started = true;
    } catch {
      progress('no PostgreSQL server (set DATABASE_URL or install postgresql): skipping its rows');
    }
  }
  if (url) {
    const { tempPostgresDatabase } = await import('../adapters/storage/testing/postgres.js');
    process.env.DATABASE_URL = url;
    const db = (await tempPostgresDatabase())!;
    const pg = await openStorage({ dataDir: '', databaseUrl: db.url });
    try {
      const v = (await pg.query<{ v: string }>("SELECT split_part(version(), ' ', 2) AS v")).rows[0]!.v;
      await storageBench(rows, `PostgreSQL ${v} server (loopback)`, pg, '≥ 200,000/s');
    } finally {
      await pg.close();
      await db.drop();
      if (started) execFileSync('bash', [path.join(ROOT, '.ci/postgres.sh'), 'stop', '55433']);
    }
  }

  rows.push(...(await benchOpenadr3(ROOT)));
  rows.push(...(await benchOpenadr2b(ROOT)));
  rows.push(...(await benchAuth(ROOT, progress)));
  rows.push(...(await benchLedger()));
  rows.push(...(await benchAnalytics(ROOT)));
  rows.push(...(await benchMarket()));
  rows.push(...(await benchMarketSession()));
  rows.push(...(await benchDevices()));

  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const md = [
    '# Benchmarks',
    '',
    'Written by `npm run bench` (bench/run.ts); do not edit by hand. Numbers are from one run on the machine below;',
    'other work on the machine moves them, so compare runs on one machine only.',
    '',
    `- date: ${new Date().toISOString()}`,
    `- machine: ${cpu}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}`,
    `- Node ${process.version}`,
    '',
    '| what | result | target |',
    '|---|---|---|',
    ...rows.map((r) => `| ${r.what} | ${r.result} | ${r.target ?? ''} |`),
    '',
  ].join('\n');
  writeFileSync(path.join(ROOT, 'docs/benchmarks.md'), md);
  process.stdout.write(md);
}

/** Re-measures one section (rows whose label starts with `prefix`) and replaces just those rows in docs/benchmarks.md. */
async function only(prefix: string, run: () => Promise<Row[]>) {
  const fresh = await run();
  const file = path.join(ROOT, 'docs/benchmarks.md');
  const old = readFileSync(file, 'utf8').split('\n');
  const kept = old.filter((l) => !l.startsWith(`| ${prefix}`));
  const at = kept.findIndex((l, i) => i > 0 && l === '' && kept[i - 1]!.startsWith('|'));
  const lines = fresh.map((r) => `| ${r.what} | ${r.result} | ${r.target ?? ''} |`);
  kept.splice(at === -1 ? kept.length : at, 0, ...lines);
  const note = `- ${prefix} rows re-measured alone on ${new Date().toISOString()}`;
  const dateAt = kept.findIndex((l) => l.startsWith('- Node '));
  kept.splice(dateAt + 1, 0, note);
  writeFileSync(file, kept.filter((l, i) => !(l.startsWith(`- ${prefix} rows re-measured`) && i !== dateAt + 1)).join('\n'));
  process.stdout.write(lines.join('\n') + '\n');
}

if (process.argv.includes('--only=auth')) {
  only('auth:', () => benchAuth(ROOT, progress)).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else if (process.argv.includes('--only=openadr2b')) {
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  only('OpenADR 2.0b:', () => benchOpenadr2b(ROOT)).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else if (process.argv.includes('--only=devices')) {
  only('devices:', benchDevices).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else if (process.argv.includes('--only=market')) {
  only('market:', async () => [...(await benchMarket()), ...(await benchMarketSession())]).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else if (process.argv.includes('--only=analytics')) {
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  only('analytics:', () => benchAnalytics(ROOT)).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else if (process.argv.includes('--only=ledger')) {
  only('ledger:', benchLedger).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else if (process.argv.includes('--only=openadr3')) {
  // The server runs from dist/: build first, or the numbers are of stale code.
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  benchOpenadr3(ROOT).then((r) => console.log(r), (e) => {
    console.error(e);
    process.exit(1);
  });
} else main().catch((e) => {
  console.error(e);
  process.exit(1);
});
