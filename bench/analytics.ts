/**
 * Analytics benchmarks (issue 7):
 *   - accuracy per forecasting method and resolution (200 EDRP households, trained to 30 April 2009, May tested)
 *   - baseline accuracy on placebo days
 *   - training and day-ahead prediction for 1,000 prosumers at 10 minutes (synthesised from the real 200)
 *   - our histogram forest against ml-random-forest on 2,000 rows × 13 features
 *   - import rate of the EDRP file through `gridflex import readings`
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RandomForestRegression } from 'ml-random-forest';
import { evaluateBaselines } from '../plugins/baseline/evaluate.js';
import { BUILTIN_METHODS } from '../plugins/baseline/methods.js';
import { evaluate } from '../plugins/forecasting/evaluate.js';
import { HistForest, mulberry32 } from '../plugins/forecasting/forest.js';
import { calibrate, applyIntervals } from '../plugins/forecasting/intervals.js';
import { loadWideCsv } from '../plugins/forecasting/load.js';
import { BUILTIN_MODELS, randomForestModel } from '../plugins/forecasting/models.js';
import { DAY_MS, type DailyMatrix } from '../plugins/forecasting/profiles.js';
import type { Row } from './openadr3.js';

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const progress = (m: string) => process.stderr.write(`bench: ${m}\n`);

export async function benchAnalytics(root: string): Promise<Row[]> {
  const rows: Row[] = [];
  const file = path.join(root, '..', 'shared', 'data', 'edrp_scotland_200hh_halfhourly_2009-03_2009-05.csv');

  // Accuracy per method and resolution.
  for (const [label, res] of [['60 min', 3600], ['30 min', 1800], ['10 min (30-min data split evenly)', 600]] as const) {
    const d = loadWideCsv(file, { resolutionS: res });
    const until = Math.round((Date.UTC(2009, 4, 1) - d.start) / DAY_MS);
    const e = evaluate({ series: d.series, trainUntilDay: until, models: BUILTIN_MODELS });
    for (const s of e.scores) {
      rows.push({
        what: `analytics: day-ahead ${s.model}, 200 households at ${label}: WAPE per household (median) / aggregate; nRMSE per household / aggregate`,
        result: `${fmt(s.perProsumer.wape.median, 3)} / ${fmt(s.aggregate.wape, 3)}; ${fmt(s.perProsumer.nrmse.median, 3)} / ${fmt(s.aggregate.nrmse, 3)}`,
        ...(s.model === 'random-forest' && res === 1800 ? { target: 'beat persistence (0.679 / 0.105) and the notes’ forest (0.561 / 0.102)' } : {}),
      });
    }
    progress(`accuracy at ${label}: ${e.scores.map((s) => `${s.model} ${fmt(s.perProsumer.wape.median, 3)}/${fmt(s.aggregate.wape, 3)}`).join(', ')}`);
  }

  // Baselines on placebo days.
  {
    const d = loadWideCsv(file);
    const e = evaluateBaselines({ series: d.series, window: { startSlot: 32, endSlot: 38 }, methods: BUILTIN_METHODS.filter((m) => !m.id.startsWith('weather')), fromDay: 30 });
    for (const s of e.scores) {
      rows.push({
        what: `analytics: baseline ${s.method}, 200 households, 44 placebo weekdays, 16:00-19:00: portfolio mean absolute error / bias; per household median absolute error`,
        result: `${fmt(100 * s.portfolio.meanAbsError, 1)} % / ${fmt(100 * s.portfolio.bias, 1)} %; ${fmt(100 * s.perProsumer.medianAbsError, 1)} %`,
        ...(s.method === '10-in-10' ? { target: 'notes: 4-6 % for the best simple rules on 622 households' } : {}),
        ...(s.method === '10-in-10-learned' ? { target: 'beat the best simple rule on the same households (10-in-10)' } : {}),
      });
    }
  }

  // 1,000 prosumers at 10 minutes, synthesised from the real 200: each a real household scaled, shifted by whole
  // weeks where possible, its half-hours split into three unequal 10-minute parts.
  {
    const d = loadWideCsv(file);
    const rnd = mulberry32(11);
    const series: DailyMatrix[] = [];
    for (let i = 0; i < 1000; i++) {
      const src = d.series[i % d.series.length]!.matrix;
      const scale = 0.7 + 0.6 * rnd();
      const m: DailyMatrix = { start: src.start, days: src.days, slotsPerDay: 144, values: new Float64Array(src.days * 144), id: `p${i}` };
      for (let k = 0; k < src.values.length; k++) {
        const a = 0.2 + rnd();
        const b = 0.2 + rnd();
        const c = 0.2 + rnd();
        const t = a + b + c;
        const v = src.values[k]! * scale;
        m.values[3 * k] = (v * a) / t;
        m.values[3 * k + 1] = (v * b) / t;
        m.values[3 * k + 2] = (v * c) / t;
      }
      series.push(m);
    }
    const until = Math.round((Date.UTC(2009, 4, 1) - d.start) / DAY_MS);
    const model = randomForestModel();
    let t0 = performance.now();
    const state = model.train(series, until);
    const train = performance.now() - t0;
    t0 = performance.now();
    const cal = calibrate(model, series, until);
    const calMs = performance.now() - t0;
    t0 = performance.now();
    let points = 0;
    for (const m of series) {
      const f = model.predictDay(state, m, until);
      points += applyIntervals(cal, m, until, f, true)[1]!.length;
    }
    const predict = performance.now() - t0;
    rows.push({
      what: 'analytics: random forest for 1,000 prosumers at 10 min (synthesised from the 200): train / interval calibration (a second training) / day-ahead with p10-p90 for all (144,000 values)',
      result: `${fmt(train / 1000, 1)} s / ${fmt(calMs / 1000, 1)} s / ${fmt(predict / 1000, 1)} s; total ${fmt((train + calMs + predict) / 1000, 1)} s`,
      target: '< 60 s for the whole portfolio',
    });
    progress(`1,000 prosumers: train ${fmt(train)} ms, calibrate ${fmt(calMs)} ms, predict ${fmt(predict)} ms (${points} values)`);
  }

  // Our forest against ml-random-forest.
  {
    const rnd = mulberry32(5);
    const X: number[][] = [];
    const y: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const r = Array.from({ length: 13 }, () => rnd());
      X.push(r);
      y.push(Math.sin(6 * r[0]!) + r[1]! * r[2]!);
    }
    let t0 = performance.now();
    new RandomForestRegression({ nEstimators: 30, seed: 1, noOOB: true } as never).train(X, y);
    const ml = performance.now() - t0;
    t0 = performance.now();
    HistForest.fit(Float64Array.from(X.flat()), Float64Array.from(y), 13, { trees: 30, featureFraction: 1, minLeaf: 2, maxDepth: 20, sampleFraction: 1, bins: 128 });
    const ours = performance.now() - t0;
    rows.push({ what: 'analytics: training 30 trees on 2,000 rows × 13 features, ml-random-forest 2.1 / our histogram forest (same depth, all features)', result: `${fmt(ml)} ms / ${fmt(ours)} ms (${fmt(ml / ours)}×)` });
    progress(`forest: ml-random-forest ${fmt(ml)} ms, ours ${fmt(ours)} ms`);
  }

  // Import rate.
  {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-bench-import-'));
    try {
      const t0 = performance.now();
      const r = spawnSync(process.execPath, [path.join(root, 'bin/gridflex.js'), 'import', 'readings', file, '--json', '--data', path.join(dir, 'data')], { encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'warn', DATABASE_URL: '' } });
      const ms = performance.now() - t0;
      const written = r.status === 0 ? (JSON.parse(r.stdout) as { written: number }).written : 0;
      rows.push({ what: 'analytics: gridflex import readings of the EDRP file (5.3 MB, 200 meters × 4,416 half-hours) into a new embedded database, process start to exit', result: `${fmt(ms / 1000, 1)} s (${fmt(written / (ms / 1000))} readings/s)` });
      progress(`import: ${written} readings in ${fmt(ms)} ms`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return rows;
}
