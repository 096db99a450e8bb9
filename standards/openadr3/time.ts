import { durationToMs } from '../common/ids.js';
import type { IntervalPeriod } from './types.js';

/** The 3.1.0 User Guide's "now" start (0001-01-01) and "infinite" duration (P9999Y). */
const NOW_START = /^0001-01-01/;

/**
 * When an event ends, from its interval periods (UTC ms), or null when it cannot be known
 * (no start, a "now" start, an infinite or calendar duration): such an event has not transpired.
 */
export function eventEndMs(event: { intervalPeriod?: IntervalPeriod | null; duration?: string | null; intervals?: { intervalPeriod?: IntervalPeriod | null }[] | null }): number | null {
  const base = event.intervalPeriod ?? undefined;
  let end: number | null = -Infinity;
  const intervals = event.intervals ?? [];
  const consider = (p: IntervalPeriod | undefined, index: number): void => {
    if (end === null) return;
    const startText = p?.start ?? base?.start;
    const durText = p?.duration ?? base?.duration;
    if (!startText || NOW_START.test(startText) || !durText) {
      end = null;
      return;
    }
    const start = Date.parse(startText);
    const dur = durationToMs(durText);
    if (!Number.isFinite(start) || dur === undefined) {
      end = null;
      return;
    }
    // Intervals without their own start follow one another from the event's start.
    const s = p?.start ? start : start + index * dur;
    end = Math.max(end, s + dur);
  };
  if (event.duration) {
    const start = base?.start;
    const dur = durationToMs(event.duration);
    if (!start || NOW_START.test(start) || dur === undefined) return null;
    return Date.parse(start) + dur;
  }
  if (intervals.length === 0) consider(undefined, 0);
  intervals.forEach((iv, i) => consider(iv.intervalPeriod ?? undefined, i));
  return end === -Infinity ? null : end;
}
