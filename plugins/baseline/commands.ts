import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { GfError, KernelErrors, type CommandIo, type PluginCommand } from '../../core/index.js';
import { DAY_MS, loadWideCsv, resample, toMatrix, type DailyMatrix } from '../forecasting/api.js';
import { ReadingsParser } from '../meter-data/api.js';
import { BaselineErrors } from './errors.js';
import { evaluateBaselines, type BaselineEvaluation } from './evaluate.js';
import type { BaselineConfig } from './config.js';
import { BUILTIN_METHODS, NEEDS_WEATHER } from './methods.js';
import { parseWindow } from './window.js';

const USAGE = `Usage: gridflex baseline evaluate --data FILE --window HH:MM-HH:MM [--from DATE] [--methods LIST]
                                  [--temperature FILE] [--holidays D1,D2] [--json]

Scores the customer-baseline methods on placebo event days: every weekday from --from (default: 30 days into
the data) that is not a holiday is treated as if it had an event in the window (UTC), and each method's baseline
is compared with what was consumed. Reports, per method, the median over prosumers of their mean |error| and
bias, and for the portfolio (the sum of all) the mean |error|, bias and 90th percentile |error|. Needs no server.

  --data FILE          wide CSV (timestamp + one column per meter, kWh per interval), as in ../shared/data
  --methods LIST       comma-separated ids (default: all that the data allows: ${BUILTIN_METHODS.map((m) => m.id).join(', ')})
  --temperature FILE   CSV of timestamp,temperature (°C) at the data's resolution, for weather-regression
  --holidays LIST      dates (YYYY-MM-DD) that are neither history nor placebo days
  --json               print the result as one JSON document`;

const pct = (x: number) => `${(100 * x).toFixed(1).padStart(5)} %`;

function print(e: BaselineEvaluation, head: string, io: CommandIo): void {
  io.out(head);
  io.out('');
  io.out('method                      per prosumer (median)   | portfolio');
  io.out('                            |error|    bias         | |error|    bias      p90 |error|');
  for (const s of e.scores) {
    io.out(`${s.method.padEnd(27)} ${pct(s.perProsumer.medianAbsError)}  ${pct(s.perProsumer.medianBias)}      | ${pct(s.portfolio.meanAbsError)}  ${pct(s.portfolio.bias)}  ${pct(s.portfolio.p90AbsError)}`);
  }
  io.out('');
  io.out(`best for the portfolio: ${e.best}`);
}

function temperatures(file: string, start: number, days: number, slots: number): DailyMatrix {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new GfError(BaselineErrors.GF_BASELINE_BAD_INPUT, `cannot read ${file}`, { data: { file } });
  }
  // Read as a wide file of one "meter" (power-like: averaged when resampled).
  const p = new ReadingsParser({ format: 'wide', unit: 'W', quantity: 'activePower' });
  for (const l of text.split('\n')) p.line(l);
  const r = p.finish();
  if (r.refusedRows > 0 || r.series.length !== 1) {
    const first = r.issues.find((i) => i.kind.startsWith('invalid'));
    throw new GfError(BaselineErrors.GF_BASELINE_BAD_INPUT, `${file}${first ? ` line ${first.fromRow}: ${first.detail}` : ': needs exactly one temperature column'}`, { data: { file } });
  }
  const s = r.series[0]!;
  return resample(toMatrix(s.ts, s.values, r.resolutionS, start, start + days * DAY_MS), slots, 'mean');
}

/** `gridflex baseline evaluate`: placebo-day accuracy of the baseline methods on a file (standalone). */
export const baselineCommand: PluginCommand<BaselineConfig> = {
  summary: 'score the baseline methods on placebo event days (baseline evaluate --data FILE --window 16:00-19:00)',
  usage: USAGE,
  async runStandalone(argv, io) {
    const [sub, ...rest] = argv;
    if (sub !== 'evaluate') throw new GfError(KernelErrors.GF_CLI_USAGE, sub ? `unknown baseline command '${sub}'; try evaluate` : 'baseline needs a command: evaluate');
    let v;
    try {
      v = parseArgs({
        args: rest,
        options: { data: { type: 'string' }, window: { type: 'string' }, from: { type: 'string' }, methods: { type: 'string' }, temperature: { type: 'string' }, holidays: { type: 'string' }, json: { type: 'boolean' }, config: { type: 'string' } },
        strict: true,
      }).values;
    } catch (e) {
      throw new GfError(KernelErrors.GF_CLI_USAGE, (e as Error).message.split('\n')[0]!);
    }
    if (!v.data) throw new GfError(KernelErrors.GF_CLI_USAGE, 'baseline evaluate needs --data FILE');
    if (!v.window) throw new GfError(KernelErrors.GF_CLI_USAGE, 'baseline evaluate needs --window HH:MM-HH:MM');
    const data = loadWideCsv(v.data);
    const slots = data.series[0]!.matrix.slotsPerDay;
    const window = parseWindow(v.window, slots);
    const holidays = new Set<number>();
    for (const h of (v.holidays ?? '').split(',').filter(Boolean)) {
      const t = Date.parse(`${h}T00:00:00Z`);
      if (Number.isNaN(t)) throw new GfError(KernelErrors.GF_CLI_USAGE, `--holidays: '${h}' is not a date`);
      holidays.add(t);
    }
    const temperature = v.temperature ? temperatures(v.temperature, data.start, data.days, slots) : undefined;
    const ids = v.methods ? v.methods.split(',') : BUILTIN_METHODS.filter((m) => temperature || !NEEDS_WEATHER.has(m.id)).map((m) => m.id);
    const methods = ids.map((id) => {
      const m = BUILTIN_METHODS.find((x) => x.id === id);
      if (!m) throw new GfError(BaselineErrors.GF_BASELINE_UNKNOWN_METHOD, `no method '${id}' (known: ${BUILTIN_METHODS.map((x) => x.id).join(', ')})`, { data: { method: id } });
      if (NEEDS_WEATHER.has(id) && !temperature) throw new GfError(BaselineErrors.GF_BASELINE_NO_WEATHER, `${id} needs --temperature FILE`, { data: { method: id } });
      return m;
    });
    const fromDay = v.from ? Math.round((Date.parse(`${v.from}T00:00:00Z`) - data.start) / DAY_MS) : 30;
    if (!(fromDay >= 10 && fromDay < data.days)) {
      throw new GfError(BaselineErrors.GF_BASELINE_BAD_INPUT, `--from must leave at least 10 days of history and one placebo day (the data spans ${data.days} days)`, { data: { days: data.days } });
    }
    const e = evaluateBaselines({
      series: data.series,
      window,
      methods,
      fromDay,
      holidays,
      ...(temperature ? { temperature } : {}),
      onProgress: (done, total) => io.err(`baseline evaluate: ${done}/${total} methods`),
    });
    if (v.json) io.out(JSON.stringify({ data: { file: v.data, prosumers: data.series.length, window: v.window, from: new Date(data.start + fromDay * DAY_MS).toISOString().slice(0, 10) }, ...e }));
    else print(e, `${data.series.length} prosumers, ${e.placeboDays} placebo weekdays from ${new Date(data.start + fromDay * DAY_MS).toISOString().slice(0, 10)}, window ${v.window} UTC`, io);
    return 0;
  },
  async run() {
    throw new GfError(KernelErrors.GF_CLI_USAGE, 'baseline needs a command: evaluate');
  },
};
