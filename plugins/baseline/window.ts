import { GfError } from '../../core/index.js';
import { BaselineErrors } from './errors.js';
import type { Window } from './methods.js';

/** "16:00-19:00" (UTC) as slots of a day at `slotsPerDay`. */
export function parseWindow(s: string, slotsPerDay: number): Window {
  const m = /^(\d{2}):(\d{2})-(\d{2}):(\d{2})$/.exec(s);
  const slotMin = 1440 / slotsPerDay;
  if (!m) throw new GfError(BaselineErrors.GF_BASELINE_BAD_INPUT, `window '${s}' is not HH:MM-HH:MM`, { data: { parameter: 'window' } });
  const a = +m[1]! * 60 + +m[2]!;
  const b = m[3] === '24' && m[4] === '00' ? 1440 : +m[3]! * 60 + +m[4]!;
  if (+m[1]! > 23 || +m[2]! > 59 || b > 1440 || +m[4]! > 59 || b <= a) throw new GfError(BaselineErrors.GF_BASELINE_BAD_INPUT, `window '${s}' must start before it ends, within one day`, { data: { parameter: 'window' } });
  if (a % slotMin !== 0 || b % slotMin !== 0) throw new GfError(BaselineErrors.GF_BASELINE_BAD_INPUT, `window '${s}' does not fall on ${slotMin}-minute intervals`, { data: { parameter: 'window' } });
  return { startSlot: a / slotMin, endSlot: b / slotMin };
}
