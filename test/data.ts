import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { TimeSeriesStore } from '../core/index.js';
import { ReadingsParser } from '../plugins/meter-data/api.js';
import { ROOT } from './process.js';

/** The shared real data the tests read (../shared/data; never copied into the project). */
export const EDRP = path.join(ROOT, '..', 'shared', 'data', 'edrp_scotland_200hh_halfhourly_2009-03_2009-05.csv');

/** Writes the named EDRP households' half-hourly consumption into a store, as energyImport in Wh. */
export async function storeEdrp(readings: TimeSeriesStore, meters: readonly string[]): Promise<void> {
  const p = new ReadingsParser({ meters: [...meters] });
  for (const l of readFileSync(EDRP, 'utf8').split('\n')) p.line(l);
  for (const s of p.finish().series) await readings.writeSeries({ meterId: s.meterId, quantity: 'energyImport', resolutionS: 1800, unit: 'Wh' }, s.ts, s.values);
}
