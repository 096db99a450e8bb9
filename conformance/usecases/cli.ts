/** `gridflex usecases`: list and export the eDREAM use cases (conformance/usecases/*.yaml). */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { exportFiles, FORMATS, type ExportFormat } from './export.js';
import { allSteps, loadUseCases, statusCounts, UseCaseDataError, type HighLevelUseCase } from './model.js';

export interface UseCasesIo {
  out(line: string): void;
  err(line: string): void;
}

export const USAGE = `Usage: gridflex usecases list [--dir DIR] [--json]
       gridflex usecases export [--format ${FORMATS.join('|')}|all]... [--out DIR] [--id HL-UCnn]... [--dir DIR]

The eDREAM use cases (HL-UC01 flexibility aggregation, HL-UC02 P2P market, HL-UC03 VPP) as IEC 62559 models,
each step naming the gridflex component and API call or event that realises it, and whether it is implemented.
  list                  the use cases with their step counts per status
  export                writes, per HL use case, HL-UCnn.xml (IEC 62559-3), HL-UCnn.md and README.md (markdown)
                        and one HL-UCnn-LL-UCnn.mmd Mermaid sequence diagram per LL use case (mermaid);
                        --format repeatable, default all; without --out the files go to stdout
  --dir DIR             the folder with HL-UCnn.yaml (default: conformance/usecases)
Exit 0: done; 1: the use case data is invalid (the field is named); 2: usage.`;

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
    throw new UsageError(`unknown command '${cmd}' (list, export)`);
  } catch (e) {
    if (e instanceof UseCaseDataError) {
      io.err(`gridflex usecases: invalid use case data: ${e.message}`);
      return 1;
    }
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`gridflex usecases: ${(e as Error).message}`);
      io.err(USAGE);
      return 2;
    }
    throw e;
  }
}
