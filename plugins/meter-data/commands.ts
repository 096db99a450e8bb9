import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { GfError, KernelErrors, StorageToken, type CommandIo, type PluginCommand } from '../../core/index.js';
import { MeterDataErrors } from './errors.js';
import { refusal, writeParsed, type ImportReport } from './importer.js';
import type { MeterDataConfig } from './config.js';
import { importOptions, type RawImportOptions } from './options.js';
import { ReadingsParser, type ImportOptions, type Issue, type ParseResult } from './parse.js';

const USAGE = `Usage: gridflex import readings FILE [options]
       (also takes --config FILE and --data DIR)

Streams meter readings from a CSV or JSON file into the time-series store, with progress. Gaps, duplicates,
daylight-saving shifts, counter resets and suspicious units are reported by line range; a row that cannot be
read (bad timestamp or value, wrong unit) refuses the whole file unless --skip-invalid. While a server holds
the data folder the readings go through its API.

  --format auto|wide|long|json  wide: a timestamp column and one column per meter (default when there is no
                                meter/value column); long: timestamp, meter, value[, unit] columns
  --map ts=COL,meter=COL,value=COL,unit=COL   column names when they are not the usual ones
  --meters A,B                  only these columns of a wide file
  --unit kWh|Wh|MWh|W|kW|MW     unit of the values (default kWh: energy per interval)
  --quantity Q                  energyImport (default for energies), energyExport, energyNet, activePower
  --resolution 30m              interval length (default: the commonest step between timestamps)
  --timezone Europe/London      zone of timestamps without an offset (default UTC)
  --cumulative                  values are energy counters: store their differences
  --resample 15m,60m            also store the series at these resolutions (5m, 10m, 15m, 30m, 60m)
  --on-duplicate replace|ignore|error   readings already stored (default replace)
  --skip-invalid                write the readable rows even if some are refused
  --token T                     bearer token for a server that requires one (or GRIDFLEX_IMPORT_TOKEN)
  --json                        print the report as JSON`;

const OPTIONS = {
  format: { type: 'string' },
  map: { type: 'string' },
  meters: { type: 'string' },
  unit: { type: 'string' },
  quantity: { type: 'string' },
  resolution: { type: 'string' },
  timezone: { type: 'string' },
  cumulative: { type: 'boolean' },
  resample: { type: 'string' },
  'on-duplicate': { type: 'string' },
  'skip-invalid': { type: 'boolean' },
  token: { type: 'string' },
  json: { type: 'boolean' },
} as const;

function args(argv: string[]) {
  const [sub, ...rest] = argv;
  if (sub !== 'readings') throw new GfError(KernelErrors.GF_CLI_USAGE, sub ? `unknown import command '${sub}'; try readings` : 'import needs a command: readings FILE');
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new GfError(KernelErrors.GF_CLI_USAGE, (e as Error).message.split('\n')[0]!);
  }
  if (parsed.positionals.length !== 1) throw new GfError(KernelErrors.GF_CLI_USAGE, 'import readings takes one FILE');
  const file = parsed.positionals[0]!;
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    throw new GfError(KernelErrors.GF_CLI_USAGE, `cannot read ${file}`);
  }
  const { json, token, ...raw } = parsed.values;
  const o = importOptions(raw as RawImportOptions);
  if (!o.parse.format || o.parse.format === 'auto') {
    if (file.endsWith('.json')) o.parse.format = 'json';
  }
  return { file, size, o, json: json ?? false, token: token ?? process.env.GRIDFLEX_IMPORT_TOKEN };
}

async function parseFile(file: string, size: number, parse: Partial<ImportOptions>, io: CommandIo): Promise<ParseResult> {
  const parser = new ReadingsParser(parse);
  if (parse.format === 'json') {
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new GfError(MeterDataErrors.GF_IMPORT_INVALID, `${file} is not JSON: ${(e as Error).message}`, { data: {} });
    }
    parser.json(doc);
    return parser.finish();
  }
  let read = 0;
  let next = 0.1;
  const started = Date.now();
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) {
    parser.line(line);
    read += Buffer.byteLength(line) + 1;
    if (size > 1_000_000 && read / size >= next) {
      io.err(`read ${Math.round((100 * read) / size)}% (${(read / 1e6).toFixed(1)} of ${(size / 1e6).toFixed(1)} MB, ${parser.rows.toLocaleString('en-US')} lines, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
      next += 0.1;
    }
  }
  return parser.finish();
}

const range = (i: Issue) => `line ${i.fromRow}${i.toRow > i.fromRow ? `-${i.toRow}` : ''}`;

function print(report: ImportReport, json: boolean, io: CommandIo): number {
  if (json) {
    io.out(JSON.stringify(report));
  } else {
    io.out(`${report.written.toLocaleString('en-US')} readings written for ${report.series.length} meter(s) at ${report.resolutionS / 60} min (${report.quantity}, ${report.unit}); ${report.duplicates} replaced or ignored`);
    for (const r of report.resampled) io.out(`  also ${r.written.toLocaleString('en-US')} at ${r.resolutionS / 60} min`);
    if (report.issues.length) io.out(`${report.issues.length} issue(s):`);
    for (const i of report.issues.slice(0, 50)) io.out(`  ${range(i)}${i.meterId ? ` ${i.meterId}` : ''}: ${i.kind}${i.count > 1 ? ` ×${i.count}` : ''}: ${i.detail}`);
    if (report.issues.length > 50) io.out(`  … ${report.issues.length - 50} more (--json lists all)`);
  }
  return report.refusedRows > 0 ? 1 : 0;
}

/** `gridflex import readings FILE`. */
export const importCommand: PluginCommand<MeterDataConfig, { storage: typeof StorageToken }> = {
  summary: 'import meter readings from CSV or JSON, with gaps, duplicates, DST shifts and resets reported',
  usage: USAGE,
  async run(argv, ctx, io) {
    const a = args(argv);
    const parsed = await parseFile(a.file, a.size, a.o.parse, io);
    return print(await writeParsed(ctx.deps.storage.readings, parsed, a.o.write), a.json, io);
  },
  async runRemote(argv, serverUrl, io) {
    const a = args(argv);
    const parsed = await parseFile(a.file, a.size, a.o.parse, io);
    const refused = refusal(parsed, a.o.write); // the same refusal as offline, before anything is sent
    if (refused) throw refused;
    const q = new URLSearchParams({ format: 'json', unit: parsed.unit, quantity: parsed.quantity, resolution: `${parsed.resolutionS}s`, 'on-duplicate': a.o.write.onConflict });
    if (a.o.write.resample.length) q.set('resample', a.o.write.resample.map((r) => `${r}s`).join(','));
    let written = 0;
    let duplicates = 0;
    const resampled = new Map<number, number>();
    const batch: { meterId: string; ts: number; value: number }[] = [];
    const flush = async () => {
      if (!batch.length) return;
      const res = await fetch(`${serverUrl}/api/readings?${q}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(a.token ? { authorization: `Bearer ${a.token}` } : {}) },
        body: JSON.stringify({ readings: batch }),
      });
      const body = (await res.json()) as ImportReport & { code?: string; detail?: string };
      if (res.status !== 201) throw new GfError(body.code ?? MeterDataErrors.GF_IMPORT_INVALID, `server refused readings: ${body.detail ?? res.status}`);
      written += body.written;
      duplicates += body.duplicates;
      for (const r of body.resampled) resampled.set(r.resolutionS, (resampled.get(r.resolutionS) ?? 0) + r.written);
      batch.length = 0;
    };
    for (const s of parsed.series) {
      for (let i = 0; i < s.ts.length; i++) {
        batch.push({ meterId: s.meterId, ts: s.ts[i]!, value: s.values[i]! });
        if (batch.length >= 10_000) await flush();
      }
      await flush(); // one meter per request at most spans batches, never mixes with a gap
    }
    io.err(`sent through the server at ${serverUrl}`);
    return print(
      {
        rows: parsed.rows,
        refusedRows: parsed.refusedRows,
        quantity: parsed.quantity,
        unit: parsed.unit,
        resolutionS: parsed.resolutionS,
        written,
        duplicates,
        series: parsed.series.map((s) => ({ meterId: s.meterId, points: s.ts.length, from: new Date(s.ts[0]!).toISOString(), to: new Date(s.ts[s.ts.length - 1]!).toISOString() })),
        resampled: [...resampled].map(([resolutionS, n]) => ({ resolutionS, written: n })),
        issues: parsed.issues,
      },
      a.json,
      io,
    );
  },
};
