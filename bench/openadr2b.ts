/**
 * OpenADR 2.0b VTN benchmarks (issue 4), against `gridflex serve` in a child process:
 * oadrPoll round trips per second with 1, 100 and 1,000 concurrent VENs, over plain HTTP and mutual TLS,
 * unsigned and signed, as a ratio of the raw Koa rate (GET /health), and the VTN's CPU per poll (read from
 * /proc for the server process, so the load generator's own CPU is not counted).
 */
import { execFileSync, fork, spawn } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { makeTestPki } from '../core/testing/pki.js';
import { encodePayload } from '../standards/openadr2b/codec.js';
import { certFingerprint, signPayload } from '../standards/openadr2b/signature.js';

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const progress = (m: string) => process.stderr.write(`bench: ${m}\n`);
const OA2 = '/OpenADR2/Simple/2.0b';

export interface Row {
  what: string;
  result: string;
  target?: string;
}

/** utime + stime of a process, in ms (Linux /proc). */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return ((Number(parts[11]) + Number(parts[12])) * 1000) / 100;
}

interface Ven {
  venID: string;
  agent: HttpAgent | HttpsAgent;
  /** Plain HTTP: the VEN's HTTP Basic credentials (venName:registration secret), sent with every message. */
  authorization?: string;
}

function post(url: string, agent: HttpAgent | HttpsAgent, body: string, authorization?: string): Promise<string> {
  const u = new URL(url);
  const fn = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = fn(u, { method: 'POST', agent, headers: { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), ...(authorization ? { authorization } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}


/** Drives `active` VENs, each polling back to back for `seconds`; returns polls/s and the server's CPU per poll. */
async function drive(base: string, agents: Array<HttpAgent | HttpsAgent>, docs: (i: number) => string | undefined, seconds: number, pid: number, check: boolean, auth: (i: number) => string | undefined = () => undefined): Promise<{ rate: number; cpuUs: number; resets: number }> {
  let done = 0;
  let bad = 0;
  let resets = 0;
  const stopAt = performance.now() + seconds * 1000;
  const cpu0 = cpuMs(pid);
  const t0 = performance.now();
  await Promise.all(
    agents.map(async (agent, i) => {
      while (performance.now() < stopAt) {
        const xml = docs(i);
        if (!xml) break;
        let answer: string;
        try {
          answer = await post(`${base}/OadrPoll`, agent, xml, auth(i));
        } catch (e) {
          // A keep-alive socket the server closed while idle: count it and go on with a new one.
          if ((e as { code?: string }).code !== 'ECONNRESET') throw e;
          resets++;
          continue;
        }
        if (check && !answer.includes('<ei:responseCode>200<')) bad++;
        done++;
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  if (bad) throw new Error(`${bad} polls were refused`);
  return { rate: done / elapsed, cpuUs: ((cpuMs(pid) - cpu0) / done) * 1000, resets };
}

export async function benchOpenadr2b(root: string): Promise<Row[]> {
  const rows: Row[] = [];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-bench-oa2-'));
  const pki = makeTestPki();
  const N = 1000;
  progress(`issuing ${N} VEN certificates (one RSA key, ${N} certificates)`);
  const vtn = pki.issue('vtn');
  const key = path.join(pki.dir, 'fleet.key');
  execFileSync('openssl', ['genrsa', '-out', key, '2048'], { stdio: 'ignore' });
  const keyPem = readFileSync(key, 'utf8');
  const certs: string[] = [];
  for (let i = 0; i < N; i++) {
    const csr = path.join(pki.dir, 'f.csr');
    const crt = path.join(pki.dir, 'f.pem');
    execFileSync('openssl', ['req', '-new', '-key', key, '-subj', `/CN=ven-${i}`, '-out', csr], { stdio: 'ignore' });
    execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', pki.ca.certFile, '-CAkey', path.join(pki.dir, 'ca.key'), '-CAcreateserial', '-out', crt, '-days', '1'], { stdio: 'ignore' });
    certs.push(readFileSync(crt, 'utf8'));
  }
  const port = 18996;
  const tlsPort = 18997;
  const cfg = path.join(dir, 'gridflex.yaml');
  const vens = certs.map((c, i) => `        - { venName: tls-${i}, fingerprint: '${certFingerprint(c)}' }`);
  writeFileSync(
    cfg,
    [
      `dataDir: ${path.join(dir, 'data')}`,
      'log: { level: warn }',
      'plugins:',
      '  openadr3: { config: { mqtt: { enabled: false } } }',
      '  openadr2b:',
      '    config:',
      // Plain-HTTP VENs register themselves, each bound to the registration secret it presents first.
      '      openRegistration: true',
      `      tls: { port: ${tlsPort}, certFile: ${vtn.certFile}, keyFile: ${vtn.keyFile}, caFile: ${pki.ca.certFile} }`,
      '      vens:',
      ...vens,
      ...['ledger', 'devices', 'meter-data', 'weather', 'forecasting', 'baseline', 'pv-degradation', 'p2p-market'].map((p) => `  ${p}: { enabled: false }`),
      '',
    ].join('\n'),
  );
  const proc = spawn(process.execPath, [path.join(root, 'bin/gridflex.js'), 'serve', '--port', String(port), '--config', cfg], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DATABASE_URL: '' } });
  const url = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`${url}/ready`)).ok) break;
      } catch {
        /* starting */
      }
      if (i > 1200) throw new Error('server did not become ready');
      await new Promise((r) => setTimeout(r, 50));
    }
    const raw = await autocannon({ url: `${url}/health`, connections: 10, duration: 6 });
    const rawRate = raw.requests.average;
    rows.push({ what: 'OpenADR 2.0b: raw Koa rate, GET /health, 10 connections (the reference)', result: `${fmt(rawRate)} req/s` });
    progress(`raw Koa ${fmt(rawRate)} req/s`);

    // The same load against a bare Node server (fixed answer, same TLS settings): what Node itself costs.
    const bare = new Map<string, { rate: number; cpuUs: number }>();
    writeFileSync(path.join(pki.dir, 'response.xml'), encodePayload('oadrResponse', { eiResponse: { responseCode: '200', responseDescription: 'OK', requestID: '' }, venID: 'abcdefghijklmnopqrstuvwx' }));
    for (const mode of ['plain HTTP', 'mutual TLS'] as const) {
      const child = fork(path.join(root, 'bench/bare-server.mjs'), [mode === 'mutual TLS' ? 'tls' : 'plain', '18998', pki.dir], { stdio: 'ignore' });
      await new Promise((r) => child.once('message', r));
      const base = `${mode === 'mutual TLS' ? 'https' : 'http'}://127.0.0.1:18998${OA2}`;
      for (const c of [1, 100, 1000]) {
        const agents = Array.from({ length: c }, (_, i) => (mode === 'mutual TLS' ? new HttpsAgent({ keepAlive: true, maxSockets: 1, cert: certs[i], key: keyPem, ca: pki.ca.certPem }) : new HttpAgent({ keepAlive: true, maxSockets: 1 })));
        const doc = encodePayload('oadrPoll', { venID: 'abcdefghijklmnopqrstuvwx' });
        await Promise.all(agents.map((a) => post(`${base}/OadrPoll`, a, doc)));
        bare.set(`${mode}/${c}`, await drive(base, agents, () => doc, c === 1 ? 4 : 6, child.pid!, false));
        progress(`bare Node ${mode}, ${c}: ${bare.get(`${mode}/${c}`)!.cpuUs.toFixed(0)} µs/request`);
        agents.forEach((a) => a.destroy());
      }
      child.kill();
    }

    const fleetKey = createPrivateKey(keyPem);
    const ids = new Map<number, { key: ReturnType<typeof createPrivateKey>; cert: X509Certificate }>();
    const identity = (i: number) => ids.get(i) ?? ids.set(i, { key: fleetKey, cert: new X509Certificate(certs[i]!) }).get(i)!;
    const register = async (base: string, agent: HttpAgent | HttpsAgent, name: string, signed: boolean, i: number, authorization?: string): Promise<string> => {
      const body = { requestID: 'r', oadrProfileName: '2.0b', oadrTransportName: 'simpleHttp', oadrReportOnly: false, oadrXmlSignature: signed, oadrVenName: name, oadrHttpPullModel: true };
      const xml = signed ? signPayload('oadrCreatePartyRegistration', body, identity(i)) : encodePayload('oadrCreatePartyRegistration', body);
      const answer = await post(`${base}/EiRegisterParty`, agent, xml, authorization);
      const venID = /<ei:venID>([^<]+)</.exec(answer)?.[1];
      if (!venID) throw new Error(`registration failed: ${answer.slice(0, 300)}`);
      return venID;
    };

    for (const mode of ['plain HTTP', 'mutual TLS'] as const) {
      for (const signed of [false, true]) {
        if (mode === 'plain HTTP' && signed) continue; // signatures are tied to the TLS identity here
        const base = mode === 'mutual TLS' ? `https://127.0.0.1:${tlsPort}${OA2}` : `${url}${OA2}`;
        const fleet: Ven[] = [];
        progress(`${mode}${signed ? ', signed' : ''}: registering ${N} VENs`);
        for (let i = 0; i < N; i++) {
          const agent = mode === 'mutual TLS' ? new HttpsAgent({ keepAlive: true, maxSockets: 1, cert: certs[i], key: keyPem, ca: pki.ca.certPem }) : new HttpAgent({ keepAlive: true, maxSockets: 1 });
          const name = mode === 'mutual TLS' ? `tls-${i}` : `plain-${i}`;
          const authorization = mode === 'mutual TLS' ? undefined : `Basic ${Buffer.from(`${name}:bench-secret-${name}`).toString('base64')}`;
          fleet.push({ venID: await register(base, agent, name, signed, i, authorization), agent, ...(authorization ? { authorization } : {}) });
        }
        // One poll each first: a VEN's first poll after registering computes its view of the events.
        // (A keep-alive socket the server closed while the others registered may be reset: such a poll is sent again.)
        await Promise.all(
          fleet.map(async (v, i) => {
            for (let attempt = 0; ; attempt++) {
              try {
                return await post(`${base}/OadrPoll`, v.agent, signed ? signPayload('oadrPoll', { venID: v.venID }, identity(i)) : encodePayload('oadrPoll', { venID: v.venID }), v.authorization);
              } catch (e) {
                if ((e as { code?: string }).code !== 'ECONNRESET' || attempt >= 3) throw e;
              }
            }
          }),
        );
        for (const c of [1, 100, 1000]) {
          const active = fleet.slice(0, c);
          const seconds = c === 1 ? 4 : 6;
          // Signed polls are made before the clock starts (the load generator shares the machine).
          const budget = signed ? Math.ceil((c === 1 ? 1200 : 1500) * seconds) : 0;
          const pool: string[][] = active.map(() => []);
          if (signed) for (let k = 0; k < budget; k++) pool[k % c]!.push(signPayload('oadrPoll', { venID: active[k % c]!.venID }, identity(k % c)));
          const plainPolls = active.map((v) => encodePayload('oadrPoll', { venID: v.venID }));
          const r = await drive(base, active.map((v) => v.agent), (i) => (signed ? pool[i]!.pop() : plainPolls[i]!), seconds, proc.pid!, true, (i) => active[i]!.authorization);
          const ref = signed ? undefined : bare.get(`${mode}/${c}`);
          rows.push({
            what: `OpenADR 2.0b: oadrPoll round trips, ${c} concurrent VEN${c > 1 ? 's' : ''}, ${mode}${signed ? ', signed both ways' : ''}`,
            result: `${fmt(r.rate)} polls/s (${(r.rate / rawRate).toFixed(2)}x raw Koa), VTN CPU ${r.cpuUs.toFixed(0)} µs/poll${ref ? ` (bare Node ${mode === 'mutual TLS' ? 'HTTPS' : 'HTTP'} server: ${ref.cpuUs.toFixed(0)} µs)` : ''}${r.resets ? `, ${r.resets} idle connections reset` : ''}`,
            target: signed ? '≤ 6 ms CPU/poll (10x a popular Python VTN signing)' : '≤ 100 µs CPU/poll (10x a popular Python VTN)',
          });
          progress(rows[rows.length - 1]!.what + ': ' + rows[rows.length - 1]!.result);
        }
        for (const v of fleet) v.agent.destroy();
      }
    }
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
    rmSync(pki.dir, { recursive: true, force: true });
  }
  return rows;
}
