/**
 * Naive local timestamps ("2009-03-29T01:30") to UTC in an IANA time zone, with the two daylight-saving
 * cases named: a local time that happens twice (clocks back) and one that never happens (clocks forward).
 */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(zone, f);
  }
  return f;
}

export function isTimeZone(zone: string): boolean {
  try {
    formatter(zone);
    return true;
  } catch {
    return false;
  }
}

/** The zone's offset from UTC (ms) at a UTC instant. */
export function offsetAt(zone: string, utcMs: number): number {
  const parts = formatter(zone).formatToParts(new Date(utcMs));
  const get = (t: string) => Number(parts.find((p) => p.type === t)!.value);
  const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return asUtc - Math.floor(utcMs / 1000) * 1000;
}

export interface LocalResolution {
  /** Candidate UTC instants: one normally, two when the local time repeats, none when it is skipped. */
  candidates: number[];
}

/** `wallMs` is the local wall-clock time read as if it were UTC (Date.UTC of its fields). */
export function resolveLocal(zone: string, wallMs: number): LocalResolution {
  const out = new Set<number>();
  // The offset is within ±14 h; try the offsets in force a day either side.
  for (const probe of [wallMs - 86_400_000, wallMs, wallMs + 86_400_000]) {
    const off = offsetAt(zone, probe);
    const utc = wallMs - off;
    if (offsetAt(zone, utc) === off) out.add(utc);
  }
  return { candidates: [...out].sort((a, b) => a - b) };
}
