/**
 * Identifiers and durations as branded types, made only by validating parsers
 * ("parse, don't check later"). Pure: no I/O, no framework.
 */

declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

/** OpenADR 3.1.0 `objectID`: `^[a-zA-Z0-9_-]*$`, 1 to 128 characters (gridflex requires at least one). */
export type ObjectId = Brand<string, 'ObjectId'>;

export const OBJECT_ID_PATTERN = /^[a-zA-Z0-9_-]{1,128}$/;

export function parseObjectId(value: unknown): ObjectId | undefined {
  return typeof value === 'string' && OBJECT_ID_PATTERN.test(value) ? (value as ObjectId) : undefined;
}

/** An ISO 8601 duration (`PnYnMnDTnHnMnS`, or `PnW`), as used by OpenADR 3 and 2.0b (xcal). */
export type IsoDuration = Brand<string, 'IsoDuration'>;

const DURATION = /^(-)?P(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

export interface DurationParts {
  negative: boolean;
  years: number;
  months: number;
  weeks: number;
  days: number;
  hours: number;
  minutes: number;
  seconds: number;
}

export function parseIsoDuration(value: unknown): { duration: IsoDuration; parts: DurationParts } | undefined {
  if (typeof value !== 'string') return undefined;
  const m = DURATION.exec(value);
  if (!m) return undefined;
  // "P" alone and "PT" with nothing after are not durations.
  if (!m.slice(2).some((g) => g !== undefined) || value.endsWith('T')) return undefined;
  const n = (i: number) => (m[i] === undefined ? 0 : Number(m[i]));
  return {
    duration: value as IsoDuration,
    parts: { negative: m[1] === '-', years: n(2), months: n(3), weeks: n(4), days: n(5), hours: n(6), minutes: n(7), seconds: n(8) },
  };
}

/**
 * Milliseconds of a duration without calendar parts (weeks, days, hours, minutes, seconds; a day is
 * 24 h, as OpenADR intervals are in UTC). Returns undefined when years or months make it calendar-dependent.
 */
export function durationToMs(value: string): number | undefined {
  const p = parseIsoDuration(value)?.parts;
  if (!p || p.years !== 0 || p.months !== 0) return undefined;
  const ms = ((((p.weeks * 7 + p.days) * 24 + p.hours) * 60 + p.minutes) * 60 + p.seconds) * 1000;
  return p.negative ? -ms : ms;
}

/**
 * `startMs` plus an ISO 8601 duration, on the UTC calendar: years and months move the date (a day past
 * the new month's end clamps to it, 31 January + P1M = 29 February in a leap year), then weeks, days
 * (24 h) and the time part are added. Undefined for what is not a duration, or for fractional years or
 * months, which have no calendar meaning.
 */
export function addIsoDuration(startMs: number, value: string): number | undefined {
  const p = parseIsoDuration(value)?.parts;
  if (!p || !Number.isInteger(p.years) || !Number.isInteger(p.months) || !Number.isFinite(startMs)) return undefined;
  const sign = p.negative ? -1 : 1;
  let t = startMs;
  if (p.years !== 0 || p.months !== 0) {
    const d = new Date(startMs);
    const months = d.getUTCFullYear() * 12 + d.getUTCMonth() + sign * (p.years * 12 + p.months);
    const year = Math.floor(months / 12);
    const month = months - year * 12;
    const lastDay = new Date(0);
    lastDay.setUTCFullYear(year, month + 1, 0);
    const out = new Date(startMs);
    // setUTCFullYear, not Date.UTC: Date.UTC reads years 0..99 as 1900..1999.
    out.setUTCFullYear(year, month, Math.min(d.getUTCDate(), lastDay.getUTCDate()));
    t = out.getTime();
  }
  const fixed = ((((p.weeks * 7 + p.days) * 24 + p.hours) * 60 + p.minutes) * 60 + p.seconds) * 1000;
  t += sign * fixed;
  return Number.isFinite(t) ? t : undefined;
}

/** The inverse of `durationToMs` for whole seconds: `PT1H30M`, `PT45S`, `PT0S` (rounded to the second). */
export function msToDuration(ms: number): IsoDuration {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return `PT${h ? `${h}H` : ''}${m ? `${m}M` : ''}${sec || (!h && !m) ? `${sec}S` : ''}` as IsoDuration;
}
