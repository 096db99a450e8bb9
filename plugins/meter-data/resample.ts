/**
 * Changes the resolution of one series (interval-start timestamps in ms, sorted). Coarser: energies add up and
 * powers average, and a coarse interval is produced only when every fine interval in it is present (so a
 * partial sum never passes for a whole one). Finer: energies are split evenly and powers repeat; those values
 * are interpolations.
 */
export const RESOLUTIONS_S = [300, 600, 900, 1800, 3600] as const;

export function parseResolution(s: string): number | undefined {
  const m = /^(\d+)\s*(s|m|min|h)?$/.exec(s.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return unit === 'h' ? n * 3600 : unit === 'm' || unit === 'min' ? n * 60 : n;
}

export function resampleSeries(
  ts: ArrayLike<number>,
  values: ArrayLike<number>,
  fromS: number,
  toS: number,
  how: 'sum' | 'mean',
): { ts: number[]; values: number[]; interpolated: boolean } {
  if (fromS === toS) return { ts: Array.from(ts), values: Array.from(values), interpolated: false };
  const out = { ts: [] as number[], values: [] as number[], interpolated: toS < fromS };
  if (toS > fromS) {
    if (toS % fromS !== 0) throw new RangeError(`${toS}s is not a multiple of ${fromS}s`);
    const k = toS / fromS;
    const step = toS * 1000;
    let i = 0;
    while (i < ts.length) {
      const bucket = Math.floor(ts[i]! / step) * step;
      let s = 0;
      let n = 0;
      while (i < ts.length && ts[i]! < bucket + step) {
        s += values[i]!;
        n++;
        i++;
      }
      if (n === k) {
        out.ts.push(bucket);
        out.values.push(how === 'sum' ? s : s / k);
      }
    }
  } else {
    if (fromS % toS !== 0) throw new RangeError(`${fromS}s is not a multiple of ${toS}s`);
    const k = fromS / toS;
    for (let i = 0; i < ts.length; i++) {
      for (let j = 0; j < k; j++) {
        out.ts.push(ts[i]! + j * toS * 1000);
        out.values.push(how === 'sum' ? values[i]! / k : values[i]!);
      }
    }
  }
  return out;
}
