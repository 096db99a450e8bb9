import { addIsoDuration } from '../common/ids.js';
import type { IntervalPeriod } from './types.js';

/**
 * When an event ends, from its interval periods (UTC ms), or null when it cannot be known (no start
 * or no duration): such an event has not transpired. Durations count on the calendar (P1Y, P1M).
 * The User Guide's "now" start, 0001-01-01, is taken literally (§7.3): an event from then with
 * P9999Y runs into the future (a "do it now" event), one with PT0S is long over (the cancellation
 * idiom of §7.9). docs/conformance.md explains the reading.
 */
export function eventEndMs(event: { intervalPeriod?: IntervalPeriod | null; duration?: string | null; intervals?: { intervalPeriod?: IntervalPeriod | null }[] | null }): number | null {
  const base = event.intervalPeriod ?? undefined;
  if (event.duration) {
    const start = base?.start ? Date.parse(base.start) : NaN;
    return (Number.isFinite(start) ? addIsoDuration(start, event.duration) : undefined) ?? null;
  }
  const intervals = event.intervals?.length ? event.intervals : [{}];
  let end = -Infinity;
  // Intervals without their own start follow one another from the event's start.
  let cursor: number | undefined;
  for (const iv of intervals) {
    const p = iv.intervalPeriod ?? undefined;
    const startText = p?.start ?? (cursor === undefined ? base?.start : undefined);
    const durText = p?.duration ?? base?.duration;
    const start = startText ? Date.parse(startText) : cursor;
    if (start === undefined || !Number.isFinite(start) || !durText) return null;
    const stop = addIsoDuration(start, durText);
    if (stop === undefined) return null;
    end = Math.max(end, stop);
    cursor = stop;
  }
  return end;
}

/** The "now" start as the User Guide writes it (§7.3): a date, or a date-time without an offset. */
const UG_NOW_FORMS = new Set(['0001-01-01', '0001-01-01T00:00:00']);

/**
 * A request body with every `intervalPeriod.start` written as the User Guide's sentinel (`0001-01-01`,
 * `0001-01-01T00:00:00`, neither of them RFC 3339) replaced by the same instant in RFC 3339,
 * `0001-01-01T00:00:00Z`, so the request validates against `dateTime` and the response stays valid.
 * Anything else is returned untouched (the same object when nothing changed).
 */
export function normalizeNowStarts<T>(body: T): T {
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) {
      let changed = false;
      const out = node.map((x) => {
        const y = walk(x);
        if (y !== x) changed = true;
        return y;
      });
      return changed ? out : node;
    }
    if (!node || typeof node !== 'object') return node;
    let out: Record<string, unknown> | undefined;
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
      let next = walk(v);
      if (k === 'intervalPeriod' && next && typeof next === 'object' && !Array.isArray(next)) {
        const start = (next as { start?: unknown }).start;
        if (typeof start === 'string' && UG_NOW_FORMS.has(start)) next = { ...(next as object), start: '0001-01-01T00:00:00Z' };
      }
      if (next !== v) (out ??= { ...(node as Record<string, unknown>) })[k] = next;
    }
    return out ?? node;
  };
  return walk(body) as T;
}
