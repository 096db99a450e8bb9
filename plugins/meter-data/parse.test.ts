import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../../test/process.js';
import { ReadingsParser, type Issue } from './parse.js';
import { resampleSeries } from './resample.js';

const DATA = path.join(ROOT, '..', 'shared', 'data');
const parse = (text: string, opts: ConstructorParameters<typeof ReadingsParser>[0] = {}) => {
  const p = new ReadingsParser(opts);
  for (const l of text.split('\n')) p.line(l);
  return p.finish();
};
const find = (issues: Issue[], kind: string, meterId?: string) => issues.filter((i) => i.kind === kind && (meterId === undefined || i.meterId === meterId));

describe('meter-data: reading files', () => {
  it('reads the 200-household EDRP file (wide, 30 min, kWh) with no issue', () => {
    const r = parse(readFileSync(path.join(DATA, 'edrp_scotland_200hh_halfhourly_2009-03_2009-05.csv'), 'utf8'));
    assert.equal(r.series.length, 200);
    assert.equal(r.resolutionS, 1800);
    assert.equal(r.quantity, 'energyImport');
    assert.equal(r.series[0]!.ts.length, 4416);
    assert.equal(r.series[0]!.values[0], 86); // 0.086 kWh → Wh
    assert.deepEqual(r.issues, []);
  });

  it('reports gaps, duplicates, conflicts, empty cells and unreadable rows by line range', () => {
    const csv = [
      'timestamp,a,b',
      '2026-01-05T00:00Z,1.0,2.0',
      '2026-01-05T00:30Z,1.1,',
      '2026-01-05T01:00Z,1.2,',
      '2026-01-05T01:00Z,1.2,2.3',
      '2026-01-05T01:30Z,1.3,2.4',
      '2026-01-05T01:30Z,1.9,2.4',
      '2026-01-05T03:30Z,1.4,2.5',
      'yesterday,1,1',
      '2026-01-05T04:00Z,abc,2.6',
      '2026-01-05T04:30Z,1.5,2.7',
    ].join('\n');
    const r = parse(csv);
    assert.equal(r.resolutionS, 1800);
    assert.deepEqual(find(r.issues, 'missing-value', 'b').map((i) => [i.fromRow, i.toRow, i.count]), [[3, 4, 2]]);
    assert.deepEqual(find(r.issues, 'duplicate', 'a').map((i) => i.fromRow), [5]);
    assert.deepEqual(find(r.issues, 'conflict', 'a').map((i) => i.fromRow), [7]);
    // 02:00-03:00 missing, and 04:00 whose value was refused
    assert.deepEqual(find(r.issues, 'gap', 'a').map((i) => [i.fromRow, i.toRow, i.count]), [[7, 8, 3], [8, 11, 1]]);
    assert.deepEqual(find(r.issues, 'invalid-timestamp').map((i) => i.fromRow), [9]);
    assert.deepEqual(find(r.issues, 'invalid-value', 'a').map((i) => i.fromRow), [10]);
    assert.equal(r.refusedRows, 2);
    const a = r.series.find((s) => s.meterId === 'a')!;
    assert.equal(a.values[3], 1900, 'the later of two conflicting rows is kept');
  });

  it('reads naive local times across both daylight-saving changes of Europe/London', () => {
    const rows = ['timestamp,m'];
    // 2026-03-29 01:00-02:00 does not exist; 2026-10-25 01:00-02:00 happens twice.
    for (const t of ['2026-03-29T00:00', '2026-03-29T00:30', '2026-03-29T01:30', '2026-03-29T02:00']) rows.push(`${t},1`);
    for (const t of ['2026-10-25T00:30', '2026-10-25T01:00', '2026-10-25T01:30', '2026-10-25T01:00', '2026-10-25T01:30', '2026-10-25T02:00']) rows.push(`${t},1`);
    const r = parse(rows.join('\n'), { timezone: 'Europe/London', resolutionS: 1800 });
    assert.deepEqual(find(r.issues, 'dst-skipped').map((i) => i.fromRow), [4]);
    assert.deepEqual(find(r.issues, 'dst-repeated').map((i) => [i.fromRow, i.toRow]), [[7, 10]]);
    const m = r.series[0]!;
    const autumn = m.ts.filter((t) => t >= Date.UTC(2026, 9, 24, 23)).map((t) => new Date(t).toISOString().slice(11, 16));
    assert.deepEqual(autumn, ['23:30', '00:00', '00:30', '01:00', '01:30', '02:00'], 'the repeated hour becomes two distinct UTC hours');
    const withoutZone = parse(rows.join('\n'), { resolutionS: 1800 });
    assert.ok(find(withoutZone.issues, 'duplicate').length > 0, 'read as UTC the repeated hour shows up as duplicates');
  });

  it('turns cumulative counters into interval energies, reading a reset as a restart from zero', () => {
    const csv = ['ts,meter,value', '2026-01-05T00:00Z,c,100.0', '2026-01-05T01:00Z,c,101.5', '2026-01-05T02:00Z,c,103.0', '2026-01-05T03:00Z,c,0.5', '2026-01-05T04:00Z,c,1.0'].join('\n');
    const r = parse(csv, { cumulative: true });
    assert.deepEqual(r.series[0]!.values, [1500, 1500, 500, 500]);
    assert.deepEqual(r.series[0]!.estimated, [false, false, true, false]);
    assert.deepEqual(find(r.issues, 'counter-reset').map((i) => i.fromRow), [5]);
  });

  it('refuses a unit that does not measure the quantity and flags values of the wrong size', () => {
    const csv = ['ts,meter,value,unit', '2026-01-05T00:00Z,u,1,kWh', '2026-01-05T00:30Z,u,2,kvarh', '2026-01-05T01:00Z,u,500,Wh'].join('\n');
    const r = parse(csv);
    assert.deepEqual(find(r.issues, 'unit-mismatch').map((i) => i.fromRow), [3]);
    assert.deepEqual(r.series[0]!.values, [1000, 500]);
    const big = ['timestamp,w', ...Array.from({ length: 20 }, (_, i) => `2026-01-05T${String(i).padStart(2, '0')}:00Z,${800 + i}`)].join('\n');
    assert.equal(find(parse(big, { unit: 'kWh' }).issues, 'unit-suspect').length, 1);
    assert.equal(find(parse(big, { unit: 'Wh' }).issues, 'unit-suspect').length, 0);
  });

  it('reads the OPSD prosumer: cumulative kWh counters in named columns, early gaps reported', () => {
    const r = parse(readFileSync(path.join(DATA, 'opsd_household_DE_KN_residential4_60min_cumulative.csv'), 'utf8'), {
      columns: { ts: 'utc_timestamp' },
      meters: ['DE_KN_residential4_grid_import', 'DE_KN_residential4_pv'],
      cumulative: true,
    });
    assert.equal(r.resolutionS, 3600);
    const grid = r.series.find((s) => s.meterId === 'DE_KN_residential4_grid_import')!;
    assert.ok(grid.values.length > 10_000);
    const hourly = grid.values.filter((v) => v >= 0 && v < 20_000).length / grid.values.length;
    assert.ok(hourly > 0.99, 'hourly grid imports are plausible household energies');
    assert.ok(find(r.issues, 'missing-value').length > 0);
    assert.equal(r.refusedRows, 0);
  });

  it('names the missing timestamp column and unknown options', () => {
    assert.throws(() => parse('when,a\n2026-01-05T00:00Z,1'), { code: 'GF_IMPORT_INVALID', message: /no timestamp column/ });
    assert.throws(() => new ReadingsParser({ unit: 'BTU' }), { code: 'GF_IMPORT_BAD_OPTION', message: /unit 'BTU'/ });
    assert.throws(() => new ReadingsParser({ unit: 'kW', quantity: 'energyImport' }), { code: 'GF_IMPORT_BAD_OPTION' });
    assert.throws(() => new ReadingsParser({ timezone: 'Mars/Olympus' }), { code: 'GF_IMPORT_BAD_OPTION' });
  });
});

describe('meter-data: resampling', () => {
  const t0 = Date.UTC(2026, 0, 5);
  const ts = Array.from({ length: 12 }, (_, i) => t0 + i * 300_000); // 5-minute, one hour
  const v = ts.map((_, i) => i + 1);
  it('sums energies and averages powers into coarser intervals, only whole ones', () => {
    assert.deepEqual(resampleSeries(ts, v, 300, 900, 'sum').values, [6, 15, 24, 33]);
    assert.deepEqual(resampleSeries(ts, v, 300, 3600, 'mean').values, [6.5]);
    assert.deepEqual(resampleSeries(ts.slice(1), v.slice(1), 300, 1800, 'sum').ts, [t0 + 1800_000], 'the incomplete first half hour is not produced');
  });
  it('splits energies and repeats powers into finer intervals, marked as interpolated', () => {
    const r = resampleSeries([t0], [600], 1800, 600, 'sum');
    assert.deepEqual(r.values, [200, 200, 200]);
    assert.equal(r.interpolated, true);
    assert.deepEqual(resampleSeries([t0], [600], 1800, 600, 'mean').values, [600, 600, 600]);
  });
});
