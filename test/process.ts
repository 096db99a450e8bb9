import { spawn, type ChildProcess } from 'node:child_process';
import { OPERATOR_ENV } from '../core/testing/operator.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Runs the gridflex command from sources (tests must not depend on a stale dist/). */
export function gridflex(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, [path.join(ROOT, 'bin/gridflex.js'), ...args], {
    cwd: ROOT,
    // The embedded engine unless a test asks for a server: these tests are about one data folder.
    env: { ...process.env, GRIDFLEX_FROM_SOURCE: '1', LOG_LEVEL: 'warn', DATABASE_URL: '', ...OPERATOR_ENV, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs a command to completion; resolves with its exit code and output. */
export function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string; err: string }> {
  const p = gridflex(args, env);
  let out = '';
  let err = '';
  p.stdout!.on('data', (d) => (out += d));
  p.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve) => p.on('close', (code) => resolve({ code, out, err })));
}

/** Starts `gridflex serve` and resolves with its URL once it says it is ready. */
export function serve(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ proc: ChildProcess; url: string; output: () => string }> {
  const proc = gridflex(['serve', ...args], env);
  let all = '';
  proc.stdout!.on('data', (d) => (all += d));
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      all += d;
      const m = /ready at (http:\/\/\S+) in/.exec(all);
      if (m) {
        proc.stderr!.off('data', onData);
        proc.stderr!.on('data', (x) => (all += x));
        resolve({ proc, url: m[1]!, output: () => all });
      }
    };
    proc.stderr!.on('data', onData);
    proc.on('exit', (code) => reject(new Error(`gridflex serve exited with ${code} before ready: ${all}`)));
  });
}

export function exited(proc: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve({ code: proc.exitCode, signal: proc.signalCode });
  return new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
}
