import { GfError, isQuantity, type ConflictPolicy } from '../../core/index.js';
import { MeterDataErrors } from './errors.js';
import { checkOptions, type ImportOptions } from './parse.js';
import type { WriteOptions } from './importer.js';
import { parseResolution, RESOLUTIONS_S } from './resample.js';

/** Import options as strings (CLI flags or query parameters), checked and named when wrong. */
export interface RawImportOptions {
  format?: string;
  unit?: string;
  quantity?: string;
  resolution?: string;
  timezone?: string;
  cumulative?: string | boolean;
  map?: string;
  meters?: string;
  resample?: string;
  'skip-invalid'?: string | boolean;
  'on-duplicate'?: string;
}

function bad(option: string, message: string): GfError {
  return new GfError(MeterDataErrors.GF_IMPORT_BAD_OPTION, `${option}: ${message}`, { data: { option } });
}

const flag = (v: string | boolean | undefined) => v === true || v === 'true' || v === '1' || v === '';

export function importOptions(raw: RawImportOptions): { parse: Partial<ImportOptions>; write: WriteOptions } {
  const parse: Partial<ImportOptions> = { columns: {} };
  if (raw.format !== undefined) {
    if (!['auto', 'wide', 'long', 'json'].includes(raw.format)) throw bad('format', 'auto, wide, long or json');
    parse.format = raw.format as ImportOptions['format'];
  }
  if (raw.unit !== undefined) parse.unit = raw.unit;
  if (raw.quantity !== undefined) {
    if (!isQuantity(raw.quantity)) throw bad('quantity', `'${raw.quantity}' is not a quantity`);
    parse.quantity = raw.quantity;
  }
  if (raw.resolution !== undefined) {
    const r = parseResolution(raw.resolution);
    if (r === undefined || r <= 0 || 86400 % r !== 0) throw bad('resolution', `'${raw.resolution}' is not a duration dividing a day (e.g. 30m)`);
    parse.resolutionS = r;
  }
  if (raw.timezone !== undefined) parse.timezone = raw.timezone;
  if (raw.cumulative !== undefined) parse.cumulative = flag(raw.cumulative);
  if (raw.map !== undefined) {
    for (const part of raw.map.split(',')) {
      const [k, v] = part.split('=');
      if (!k || !v || !['ts', 'meter', 'value', 'unit'].includes(k)) throw bad('map', `'${part}' is not one of ts=, meter=, value=, unit= followed by a column name`);
      parse.columns![k as 'ts'] = v;
    }
  }
  if (raw.meters !== undefined) parse.meters = raw.meters.split(',').filter(Boolean);
  const resample: number[] = [];
  if (raw.resample !== undefined && raw.resample !== '') {
    for (const p of raw.resample.split(',')) {
      const r = parseResolution(p);
      if (r === undefined || !(RESOLUTIONS_S as readonly number[]).includes(r)) throw bad('resample', `'${p}' is not one of 5m, 10m, 15m, 30m, 60m`);
      resample.push(r);
    }
  }
  const onDuplicate = raw['on-duplicate'] ?? 'replace';
  if (!['replace', 'ignore', 'error'].includes(onDuplicate)) throw bad('on-duplicate', 'replace, ignore or error');
  checkOptions({ format: 'auto', columns: {}, unit: 'kWh', timezone: 'UTC', cumulative: false, ...parse } as ImportOptions);
  return { parse, write: { resample, onConflict: onDuplicate as ConflictPolicy, skipInvalid: flag(raw['skip-invalid']) } };
}
