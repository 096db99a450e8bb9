import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';

/**
 * What the access check costs a small authenticated GET: the same handler behind `access.public` and behind
 * `access.roles(['prosumer'], { owns })` with a prosumer's EdDSA token, on one server, in one run. Measured as
 * the server process's CPU time per request (from /proc), so the load generator's share does not count.
 */
export async function benchAuth(root: string, progress: (m: string) => void): Promise<{ what: string; result: string; target?: string }[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-bench-auth-'));
  const cfg = path.join(dir, 'gridflex.yaml');
  writeFileSync(cfg, `dataDir: ${path.join(dir, 'data')}\nplugins:\n  benchauth:\n    module: ${path.join(root, 'bench/fixtures/auth-plugin.ts')}\n`);
  const run = (args: string[]) =>
    new Promise<string>((resolve, reject) => {
      const p = spawn(process.execPath, [path.join(root, 'bin/gridflex.js'), ...args, '--config', cfg], { env: { ...process.env, GRIDFLEX_FROM_SOURCE: '1', LOG_LEVEL: 'warn', DATABASE_URL: '' } });
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`gridflex ${args.join(' ')} exited ${code}`))));
    });
  await run(['parties', 'add', '--id', 'bench-p', '--role', 'prosumer', '--name', 'Bench']);
  const token = await run(['tokens', 'issue', '--party', 'bench-p', '--ttl', '3600']);
  const port = 18995;
  const ROUNDS = 9;
  const proc = spawn(process.execPath, [path.join(root, 'bin/gridflex.js'), 'serve', '--port', String(port), '--config', cfg], {
    env: { ...process.env, GRIDFLEX_FROM_SOURCE: '1', LOG_LEVEL: 'warn', DATABASE_URL: '' },
    stdio: 'ignore',
  });
  const cpuMs = () => {
    const f = readFileSync(`/proc/${proc.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, clock ticks (100 Hz)
  };
  try {
    for (let t0 = Date.now(); ; ) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/ready`)).ok) break;
      } catch {
        /* not yet */
      }
      if (Date.now() - t0 > 60_000) throw new Error('server not ready');
      await new Promise((r) => setTimeout(r, 100));
    }
    const headers = { authorization: `Bearer ${token}` };
    const measure = async (p: string) => {
      const c0 = cpuMs();
      const r = await autocannon({ url: `http://127.0.0.1:${port}${p}`, connections: 10, amount: 10_000, headers });
      if (r.non2xx) throw new Error(`${p}: ${r.non2xx} non-2xx`);
      return { usPerReq: ((cpuMs() - c0) * 1000) / r.requests.total, rps: r.requests.average };
    };
    await measure('/api/benchauth/open'); // warm-up both paths
    await measure('/api/benchauth/checked');
    // Alternating rounds; the median of each pair's ratio, so load from elsewhere on the machine cancels out.
    const open: number[] = [];
    const checked: number[] = [];
    const ratios: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const first = i % 2 === 0;
      const a = (await measure(first ? '/api/benchauth/open' : '/api/benchauth/checked')).usPerReq;
      const b = (await measure(first ? '/api/benchauth/checked' : '/api/benchauth/open')).usPerReq;
      const [o1, c1] = first ? [a, b] : [b, a];
      open.push(o1);
      checked.push(c1);
      ratios.push(c1 / o1);
    }
    const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    const o = med(open);
    const c = med(checked);
    const pct = (med(ratios) - 1) * 100;
    progress(`auth: ${o.toFixed(1)} µs public vs ${c.toFixed(1)} µs checked per request (+${pct.toFixed(1)} %)`);
    return [
      {
        what: 'auth: server CPU per small GET, public route vs the same route behind a role + ownership rule with a prosumer token (9 alternating rounds of 10,000 requests, 10 connections; medians, and the median of the per-round ratio)',
        result: `${o.toFixed(1)} µs vs ${c.toFixed(1)} µs: ${pct >= 0 ? '+' : ''}${pct.toFixed(1)} %`,
        target: '≤ +10 %',
      },
    ];
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}
