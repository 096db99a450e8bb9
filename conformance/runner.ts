import { TransportError } from './http.js';
import { CaseFailed, CaseSkipped, citation, TargetError, type CaseResult, type RunIo, type RunOptions, type RunReport, type SuiteDef } from './model.js';

/**
 * Runs a suite: prepare (a target that cannot be tested throws TargetError), every case in the
 * suite's order (one line of progress each on `io`), then cleanup, which runs whatever happened.
 */
export async function runSuite<C>(suite: SuiteDef<C>, options: RunOptions, io: RunIo): Promise<RunReport> {
  const startedAt = new Date().toISOString();
  const t0 = Date.now();
  const ctx = await suite.prepare(options, io);
  const results: CaseResult[] = [];
  let leftovers: string[] = [];
  try {
    const all = suite.cases(ctx);
    const ids = new Set<string>();
    for (const c of all) {
      if (ids.has(c.id)) throw new Error(`suite ${suite.id} has two cases named ${c.id}`);
      ids.add(c.id);
    }
    const chosen = options.only?.length ? all.filter((c) => options.only!.some((p) => c.id.startsWith(p))) : all;
    const width = String(chosen.length).length;
    for (const [i, c] of chosen.entries()) {
      const started = Date.now();
      const base = { id: c.id, group: c.group, title: c.title, clause: citation(c.clause), severity: c.severity };
      let result: CaseResult;
      try {
        await c.run(ctx);
        result = { ...base, outcome: 'pass', ms: Date.now() - started };
      } catch (e) {
        if (e instanceof CaseSkipped) result = { ...base, outcome: 'skip', reason: e.message, ms: Date.now() - started };
        else if (e instanceof CaseFailed) result = { ...base, outcome: 'fail', reason: e.message, ...(e.exchange ? { exchange: e.exchange } : {}), ms: Date.now() - started };
        else if (e instanceof TransportError) result = { ...base, outcome: 'fail', reason: `transport: ${e.message}`, exchange: e.exchange, ms: Date.now() - started };
        else result = { ...base, outcome: 'fail', reason: `the case itself failed: ${(e as Error).message ?? String(e)}`, ms: Date.now() - started };
      }
      results.push(result);
      const tag = result.outcome === 'pass' ? 'pass' : result.outcome === 'fail' ? 'FAIL' : 'skip';
      io.progress(`[${String(i + 1).padStart(width)}/${chosen.length}] ${tag} ${c.severity.padEnd(11)} ${c.id}${result.outcome === 'pass' ? '' : `: ${result.reason ?? ''}`} (${result.ms} ms)`);
    }
  } finally {
    leftovers = await suite.cleanup(ctx).catch((e: Error) => [`cleanup failed: ${e.message}`]);
  }
  const requests = suite.requests?.(ctx);
  return { suite: suite.id, target: options.target, startedAt, ms: Date.now() - t0, results, leftovers, ...(requests !== undefined ? { requests } : {}) };
}

export { TargetError };
