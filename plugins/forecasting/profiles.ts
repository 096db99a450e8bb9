/**
 * Meter data as a day × slot matrix (UTC days), the shape every day-ahead method here works on.
 * Missing slots are NaN.
 */
export const DAY_MS = 86_400_000;

export interface DailyMatrix {
  /** The meter, when known (models that need a site or asset look it up by this). */
  id?: string;
  /** Weather on the same calendar and resolution, when the meter has a location (forecast values ahead). */
  covariates?: { temperature?: DailyMatrix; irradiance?: DailyMatrix };
  /** UTC midnight of the first day (ms). */
  start: number;
  days: number;
  slotsPerDay: number;
  /** Row-major days × slots. */
  values: Float64Array;
}

export function emptyMatrix(start: number, days: number, slotsPerDay: number): DailyMatrix {
  return { start, days, slotsPerDay, values: new Float64Array(days * slotsPerDay).fill(NaN) };
}

/** Places interval-start timestamps (ms) and values into a matrix at `resolutionS`. */
export function toMatrix(ts: ArrayLike<number>, values: ArrayLike<number>, resolutionS: number, from?: number, to?: number): DailyMatrix {
  const slotMs = resolutionS * 1000;
  if (DAY_MS % slotMs !== 0) throw new RangeError(`resolution ${resolutionS}s does not divide a day`);
  const slots = DAY_MS / slotMs;
  const first = from ?? (ts.length ? Math.floor(ts[0]! / DAY_MS) * DAY_MS : 0);
  const last = to ?? (ts.length ? Math.floor(ts[ts.length - 1]! / DAY_MS) * DAY_MS + DAY_MS : first);
  const m = emptyMatrix(first, Math.max(0, Math.round((last - first) / DAY_MS)), slots);
  for (let i = 0; i < ts.length; i++) {
    const k = Math.floor((ts[i]! - first) / slotMs);
    if (k >= 0 && k < m.values.length) m.values[k] = values[i]!;
  }
  return m;
}

export function row(m: DailyMatrix, day: number): Float64Array {
  return m.values.subarray(day * m.slotsPerDay, (day + 1) * m.slotsPerDay);
}

export function at(m: DailyMatrix, day: number, slot: number): number {
  if (day < 0 || day >= m.days) return NaN;
  if (slot < 0) return at(m, day - 1, slot + m.slotsPerDay);
  if (slot >= m.slotsPerDay) return at(m, day + 1, slot - m.slotsPerDay);
  return m.values[day * m.slotsPerDay + slot]!;
}

/**
 * Changes resolution. Coarser: energies (`sum`) add up, powers (`mean`) average; a coarse slot with any
 * missing part is missing. Finer: energies split evenly, powers repeat.
 */
export function resample(m: DailyMatrix, slotsPerDay: number, how: 'sum' | 'mean'): DailyMatrix {
  if (slotsPerDay === m.slotsPerDay) return m;
  const out = emptyMatrix(m.start, m.days, slotsPerDay);
  if (m.slotsPerDay % slotsPerDay === 0) {
    const k = m.slotsPerDay / slotsPerDay;
    for (let i = 0; i < out.values.length; i++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += m.values[i * k + j]!;
      out.values[i] = how === 'sum' ? s : s / k;
    }
  } else if (slotsPerDay % m.slotsPerDay === 0) {
    const k = slotsPerDay / m.slotsPerDay;
    for (let i = 0; i < out.values.length; i++) out.values[i] = how === 'sum' ? m.values[Math.floor(i / k)]! / k : m.values[Math.floor(i / k)]!;
  } else throw new RangeError(`cannot resample ${m.slotsPerDay} to ${slotsPerDay} slots a day`);
  return out;
}

/** The element-wise sum of matrices over the same days (NaN where any member is missing). */
export function sumMatrices(ms: readonly DailyMatrix[]): DailyMatrix {
  const first = ms[0]!;
  const out = { ...first, values: new Float64Array(first.values.length) };
  for (const m of ms) {
    if (m.start !== first.start || m.days !== first.days || m.slotsPerDay !== first.slotsPerDay) throw new RangeError('matrices differ in shape');
    for (let i = 0; i < out.values.length; i++) out.values[i]! += m.values[i]!;
  }
  return out;
}

/** 0 = Monday … 6 = Sunday. */
export function weekday(m: DailyMatrix, day: number): number {
  return (new Date(m.start + day * DAY_MS).getUTCDay() + 6) % 7;
}

export function dayMean(m: DailyMatrix, day: number): number {
  if (day < 0 || day >= m.days) return NaN;
  const r = row(m, day);
  let s = 0;
  for (let i = 0; i < r.length; i++) s += r[i]!;
  return s / r.length;
}
