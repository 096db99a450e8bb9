import { parseArgs } from 'node:util';
import { GfError, KernelErrors, type CommandIo, type PluginCommand } from '../../core/index.js';
import { parseResolution } from '../meter-data/api.js';
import { ForecastErrors } from './errors.js';
import { evaluate, type Evaluation } from './evaluate.js';
import type { ForecastingConfig } from './config.js';
import { loadWideCsv } from './load.js';
import { BUILTIN_MODELS, type ForecastModel } from './models.js';
import { DAY_MS } from './profiles.js';

const USAGE = `Usage: gridflex forecast evaluate --data FILE [--train-until DATE] [--resolution 30m] [--models LIST]
                                  [--meters N] [--intervals] [--json]

Backtests the day-ahead forecasting models on a wide CSV (a timestamp column and one column per meter, values
in kWh per interval, as in ../shared/data): trained on the days before --train-until (default: all but the
last 30 days), then every later day forecast from the days before it (rolling origin). Reports MAE, RMSE,
nRMSE, WAPE and MAPE (where defined) per prosumer (median and quartiles) and for the aggregate (the sum,
forecast as a series of its own), against persistence and seasonal-naive. Needs no server.

  --resolution 30m   5m, 10m, 15m, 30m or 60m (finer than the data splits it evenly)
  --models LIST      comma-separated ids (default: all: ${BUILTIN_MODELS.map((m) => m.id).join(', ')})
  --meters N         only the first N meter columns
  --intervals        also score the p10–p90 prediction interval (its coverage; 0.8 is calibrated)
  --json             print the result as one JSON document`;

const f3 = (x: number | undefined | null) => (x === undefined || x === null || Number.isNaN(x) ? '   -  ' : x.toFixed(3));

function table(e: Evaluation, head: string, io: CommandIo): void {
  io.out(head);
  io.out('');
  io.out('model            per prosumer (median [p25-p75])                 | aggregate');
  io.out('                 WAPE                  MAE     nRMSE  MAPE       | WAPE   MAE      nRMSE  MAPE   | train+test s');
  for (const s of e.scores) {
    const p = s.perProsumer;
    io.out(
      `${s.model.padEnd(16)} ${f3(p.wape.median)} [${f3(p.wape.p25)}-${f3(p.wape.p75)}]  ${p.mae.median.toFixed(1).padStart(6)} ${f3(p.nrmse.median)}  ${f3(p.mape?.median)}      | ` +
        `${f3(s.aggregate.wape)}  ${s.aggregate.mae.toFixed(0).padStart(7)}  ${f3(s.aggregate.nrmse)}  ${f3(s.aggregate.mape)}  | ${((s.trainMs + s.predictMs) / 1000).toFixed(1)}` +
        (s.coverage80 ? `  (p10-p90 coverage ${f3(s.coverage80.perProsumer)} / ${f3(s.coverage80.aggregate)})` : ''),
    );
  }
  const per = e.scores.find((s) => s.model === 'persistence');
  const skill = (id: string, f: (s: Evaluation['scores'][number]) => number) => {
    const b = e.scores.find((s) => s.model === id)!;
    return per ? ` (WAPE ${(100 * (1 - f(b) / f(per))).toFixed(1)} % below persistence)` : '';
  };
  io.out('');
  io.out(`best per prosumer: ${e.best.perProsumerWape}${skill(e.best.perProsumerWape, (s) => s.perProsumer.wape.median)}`);
  io.out(`best aggregate:    ${e.best.aggregateWape}${skill(e.best.aggregateWape, (s) => s.aggregate.wape)}`);
}

export function evaluateArgs(argv: string[]) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        data: { type: 'string' },
        'train-until': { type: 'string' },
        resolution: { type: 'string' },
        models: { type: 'string' },
        meters: { type: 'string' },
        intervals: { type: 'boolean' },
        json: { type: 'boolean' },
        config: { type: 'string' },
      },
      strict: true,
    });
  } catch (e) {
    throw new GfError(KernelErrors.GF_CLI_USAGE, (e as Error).message.split('\n')[0]!);
  }
  const v = parsed.values;
  if (!v.data) throw new GfError(KernelErrors.GF_CLI_USAGE, 'forecast evaluate needs --data FILE');
  const resolutionS = v.resolution === undefined ? undefined : parseResolution(v.resolution);
  if (v.resolution !== undefined && (resolutionS === undefined || ![300, 600, 900, 1800, 3600].includes(resolutionS))) {
    throw new GfError(KernelErrors.GF_CLI_USAGE, `--resolution must be 5m, 10m, 15m, 30m or 60m, not '${v.resolution}'`);
  }
  const models: ForecastModel<any>[] = [];
  for (const id of (v.models ?? BUILTIN_MODELS.map((m) => m.id).join(',')).split(',')) {
    const m = BUILTIN_MODELS.find((x) => x.id === id);
    if (!m) throw new GfError(ForecastErrors.GF_FORECAST_UNKNOWN_MODEL, `no model '${id}' (known: ${BUILTIN_MODELS.map((x) => x.id).join(', ')})`, { data: { model: id } });
    models.push(m);
  }
  const meters = v.meters === undefined ? undefined : Number(v.meters);
  if (meters !== undefined && (!Number.isInteger(meters) || meters < 1)) throw new GfError(KernelErrors.GF_CLI_USAGE, '--meters must be a whole number above 0');
  let trainUntil: number | undefined;
  if (v['train-until'] !== undefined) {
    trainUntil = Date.parse(v['train-until'].length === 10 ? `${v['train-until']}T00:00:00Z` : v['train-until']);
    if (Number.isNaN(trainUntil)) throw new GfError(KernelErrors.GF_CLI_USAGE, `--train-until must be a date (2009-05-01), not '${v['train-until']}'`);
  }
  return { file: v.data, resolutionS, models, meters, trainUntil, intervals: v.intervals ?? false, json: v.json ?? false };
}

/** `gridflex forecast evaluate`: a backtest on a file, standalone (no server, no storage). */
export const forecastCommand: PluginCommand<ForecastingConfig> = {
  summary: 'backtest the forecasting models on a wide CSV (forecast evaluate --data FILE)',
  usage: USAGE,
  async runStandalone(argv, io) {
    const [sub, ...rest] = argv;
    if (sub !== 'evaluate') throw new GfError(KernelErrors.GF_CLI_USAGE, sub ? `unknown forecast command '${sub}'; try evaluate` : 'forecast needs a command: evaluate');
    const a = evaluateArgs(rest);
    const data = loadWideCsv(a.file, { ...(a.resolutionS ? { resolutionS: a.resolutionS } : {}), ...(a.meters ? { maxSeries: a.meters } : {}) });
    const untilDay = a.trainUntil === undefined ? data.days - 30 : Math.round((Math.floor(a.trainUntil / DAY_MS) * DAY_MS - data.start) / DAY_MS);
    if (untilDay < 21 || untilDay >= data.days) {
      throw new GfError(ForecastErrors.GF_FORECAST_BAD_INPUT, `--train-until must leave at least 21 days to train on and one to test (the data spans ${data.days} days from ${new Date(data.start).toISOString().slice(0, 10)})`, {
        data: { days: data.days },
      });
    }
    let lastPct = -1;
    const e = evaluate({
      series: data.series,
      trainUntilDay: untilDay,
      models: a.models,
      intervals: a.intervals,
      onProgress: (done, total, what) => {
        const pct = Math.floor((100 * done) / total);
        if (pct >= lastPct + 10 || done === total) {
          io.err(`evaluate: ${pct}% ${what}`);
          lastPct = pct;
        }
      },
    });
    const from = new Date(data.start + untilDay * DAY_MS).toISOString().slice(0, 10);
    const to = new Date(data.start + (data.days - 1) * DAY_MS).toISOString().slice(0, 10);
    if (a.json) io.out(JSON.stringify({ data: { file: a.file, prosumers: data.series.length, resolutionS: data.resolutionS, trainUntil: from, testFrom: from, testTo: to }, ...e }));
    else table(e, `${data.series.length} prosumers, ${e.testDays} test days (${from} to ${to}), ${data.resolutionS / 60} min, day-ahead, rolling origin`, io);
    return 0;
  },
  async run() {
    throw new GfError(KernelErrors.GF_CLI_USAGE, 'forecast needs a command: evaluate');
  },
};
