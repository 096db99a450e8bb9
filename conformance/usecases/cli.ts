/** `gridflex usecases`: list and export the eDREAM use cases (conformance/usecases/*.yaml). */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { exportFiles, FORMATS, type ExportFormat } from './export.js';
import { allSteps, loadUseCases, statusCounts, UseCaseDataError, type HighLevelUseCase, type LowLevelUseCase } from './model.js';
import { runnable, runUseCases, TargetError, type Outcome, type StepResult } from './run.js';

export interface UseCasesIo {
  out(line: string): void;
  err(line: string): void;
}

export const USAGE = `Usage: gridflex usecases list [--dir DIR] [--json]
       gridflex usecases export [--format ${FORMATS.join('|')}|all]... [--out DIR] [--id HL-UCnn]... [--dir DIR]
       gridflex usecases run <HL-UCnn|HL-UCnn-LL-UCnn|all> --target URL [--token T] [--payment-token T]
                             [--destructive] [--prefix NAME] [--timeout-ms N] [--json]

The eDREAM use cases (HL-UC01 flexibility aggregation, HL-UC02 P2P market, HL-UC03 VPP) as IEC 62559 models,
each step naming the gridflex component and API call or event that realises it, and whether it is implemented.
  list                  the use cases with their step counts per status
  export                writes, per HL use case, HL-UCnn.xml (IEC 62559-3), HL-UCnn.md and README.md (markdown)
                        and one HL-UCnn-LL-UCnn.mmd Mermaid sequence diagram per LL use case (mermaid);
                        --format repeatable, default all; without --out the files go to stdout
  run                   executes the steps that have an executor (HL-UC02, the P2P market) against a running
                        gridflex over HTTP and reports each step: pass, fail, skip (with why), not implemented,
                        not automated, with its time
  --target URL          the server's base URL, e.g. http://127.0.0.1:8080
  --token T             a bearer token with the operator role: an operator party's access token (POST
                        /api/auth/token, gridflex tokens issue) or one of server.apiTokens (default: env GRIDFLEX_TOKEN)
  --payment-token T     one of the market's paymentProviderTokens, for the steps that mint tokens
  --destructive         also run steps that change state beyond the run's own objects (cancelling a session)
  --prefix NAME         prefix of the prosumer ids the run registers (default gfuc)
  --dir DIR             the folder with HL-UCnn.yaml (default: conformance/usecases)
Exit 0: done (run: no step failed); 1: a step failed, or the use case data is invalid (the field is named);
2: usage; 3: the target cannot be tested (one line).`;

class UsageError extends Error {}

function select(hls: HighLevelUseCase[], ids: string[] | undefined): HighLevelUseCase[] {
  if (!ids?.length) return hls;
  return ids.map((id) => {
    const hl = hls.find((h) => h.id === id);
    if (!hl) throw new UsageError(`--id ${id}: no such use case (${hls.map((h) => h.id).join(', ')})`);
    return hl;
  });
}

export async function usecasesMain(args: string[], io: UseCasesIo): Promise<number> {
  const [cmd, ...rest] = args;
  try {
    if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
      io.out(USAGE);
      return cmd === undefined ? 2 : 0;
    }
    if (cmd === 'list') {
      const { values } = parseArgs({ args: rest, options: { dir: { type: 'string' }, json: { type: 'boolean' } }, strict: true, allowPositionals: false });
      const hls = loadUseCases(values.dir);
      if (values.json) {
        io.out(JSON.stringify(hls.flatMap((h) => h.useCases.map((l) => ({ id: l.fullId, name: l.name, steps: statusCounts(allSteps(l)) }))), null, 2));
        return 0;
      }
      for (const h of hls) {
        io.out(`${h.id}  ${h.name}`);
        for (const l of h.useCases) {
          const c = statusCounts(allSteps(l));
          io.out(`  ${l.fullId.padEnd(17)} ${l.name.padEnd(64)} ${c.implemented} implemented, ${c.partial} partial, ${c['not-implemented']} not implemented`);
        }
      }
      return 0;
    }
    if (cmd === 'export') {
      const { values } = parseArgs({
        args: rest,
        options: { format: { type: 'string', multiple: true }, out: { type: 'string' }, id: { type: 'string', multiple: true }, dir: { type: 'string' } },
        strict: true,
        allowPositionals: false,
      });
      const asked = values.format ?? ['all'];
      for (const f of asked) if (f !== 'all' && !(FORMATS as readonly string[]).includes(f)) throw new UsageError(`--format ${f}: one of ${FORMATS.join(', ')}, all`);
      const formats: ExportFormat[] = asked.includes('all') ? [...FORMATS] : (asked as ExportFormat[]);
      const files = exportFiles(select(loadUseCases(values.dir), values.id), formats);
      if (values.out === undefined) {
        for (const [name, text] of files) {
          if (files.size > 1) io.out(`==> ${name} <==`);
          io.out(text.trimEnd());
        }
        return 0;
      }
      mkdirSync(values.out, { recursive: true });
      for (const [name, text] of files) writeFileSync(path.join(values.out, name), text);
      io.err(`wrote ${files.size} files to ${values.out}`);
      return 0;
    }
    if (cmd === 'run') return await runCommand(rest, io);
    throw new UsageError(`unknown command '${cmd}' (list, export, run)`);
  } catch (e) {
    if (e instanceof UseCaseDataError) {
      io.err(`gridflex usecases: invalid use case data: ${e.message}`);
      return 1;
    }
    if (e instanceof TargetError) {
      io.err(`gridflex usecases: ${e.message}`);
      return 3;
    }
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`gridflex usecases: ${(e as Error).message}`);
      io.err(USAGE);
      return 2;
    }
    throw e;
  }
}

const MARK: Record<Outcome, string> = { pass: 'pass', fail: 'FAIL', skip: 'skip', 'not-implemented': 'not implemented', 'not-automated': 'not automated' };

function line(r: StepResult): string {
  return `${r.useCase.padEnd(16)} ${r.number.padStart(2)}. ${r.step.padEnd(16)} ${MARK[r.outcome].padEnd(15)} ${String(r.ms).padStart(6)} ms${r.detail ? `  ${r.detail}` : ''}`;
}

async function runCommand(args: string[], io: UseCasesIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      target: { type: 'string' },
      token: { type: 'string' },
      'payment-token': { type: 'string' },
      destructive: { type: 'boolean' },
      prefix: { type: 'string' },
      'timeout-ms': { type: 'string' },
      json: { type: 'boolean' },
      dir: { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError('run takes one use case id (HL-UCnn, HL-UCnn-LL-UCnn) or all');
  if (!values.target) throw new UsageError('--target URL is required');
  let target: URL;
  try {
    target = new URL(values.target);
  } catch {
    throw new UsageError(`--target ${values.target}: not a URL`);
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new UsageError(`--target ${values.target}: http or https`);
  if (values.prefix !== undefined && !/^[a-z][a-z0-9-]{0,15}$/.test(values.prefix)) throw new UsageError('--prefix: a lower-case word of at most 16 characters');
  const timeout = values['timeout-ms'];
  if (timeout !== undefined && !/^[1-9]\d{0,6}$/.test(timeout)) throw new UsageError(`--timeout-ms must be a whole number ≥ 1, got '${timeout}'`);
  const all = loadUseCases(values.dir);
  const id = positionals[0]!;
  let hls: HighLevelUseCase[];
  let lls: LowLevelUseCase[] | undefined;
  if (id === 'all') hls = all;
  else {
    const hl = all.find((h) => h.id === id || id.startsWith(`${h.id}-`));
    const ll = hl?.useCases.find((l) => l.fullId === id);
    if (!hl || (id !== hl.id && !ll)) throw new UsageError(`no use case '${id}' (${all.flatMap((h) => [h.id, ...h.useCases.map((l) => l.fullId)]).join(', ')}, all)`);
    hls = [hl];
    if (ll) lls = [ll];
  }
  if (!hls.some(runnable)) io.err(`note: no step of ${id} has an executor yet; the steps are listed with their status`);
  const token = values.token ?? process.env.GRIDFLEX_TOKEN;
  const results = await runUseCases(hls, lls, {
    target: target.href,
    ...(token ? { token } : {}),
    ...(values['payment-token'] ? { paymentToken: values['payment-token'] } : {}),
    ...(values.destructive ? { destructive: true } : {}),
    ...(values.prefix ? { prefix: values.prefix } : {}),
    ...(timeout ? { timeoutMs: Number(timeout) } : {}),
    progress: (r) => (values.json ? io.err(line(r)) : io.out(line(r))),
  });
  const count = (o: Outcome) => results.filter((r) => r.outcome === o).length;
  const summary = `${results.length} steps: ${count('pass')} pass, ${count('fail')} fail, ${count('skip')} skip, ${count('not-implemented')} not implemented, ${count('not-automated')} not automated`;
  if (values.json) {
    io.out(JSON.stringify({ target: target.href, results }, null, 2));
    io.err(summary);
  } else io.out(summary);
  return count('fail') > 0 ? 1 : 0;
}
