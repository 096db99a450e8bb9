import { createHash } from 'node:crypto';
import { durationToMs, msToDuration } from '../../standards/common/ids.js';
import { xcalDateTime, type Body } from '../../standards/openadr2b/codec.js';
import { powerScale, signalFor } from '../../standards/openadr2b/signals.js';
import { eventEndMs } from '../../standards/openadr3/time.js';
import type { IntervalPeriod } from '../../standards/openadr3/types.js';
import type { ObjectRow } from '../openadr3/api.js';

/** What the 2.0b side keeps of a 3.1 event: enough to render it again after it is deleted (cancelled). */
export interface EventSnapshot {
  id: string;
  createdMs: number;
  programName: string;
  targets: string[];
  body: Record<string, unknown>;
}

export function snapshotOf(event: ObjectRow, programName: string): EventSnapshot {
  return { id: event.id, createdMs: event.created_ms, programName, targets: event.targets, body: event.body };
}

/** A change a VEN must be told about (new modification number): anything but metadata. */
export function snapshotHash(s: EventSnapshot): string {
  return createHash('sha256').update(JSON.stringify([s.programName, [...s.targets].sort(), s.body])).digest('base64url').slice(0, 22);
}

interface Iv {
  startMs: number;
  durMs: number;
  payloads: Array<{ type: string; values: unknown[] }>;
}

/** The event's intervals with absolute start and duration (intervals without a start follow each other). */
export function intervalsOf(body: Record<string, unknown>): { start: number; end: number; intervals: Iv[] } | undefined {
  const base = (body.intervalPeriod ?? undefined) as IntervalPeriod | undefined;
  const list = (body.intervals ?? []) as Array<{ intervalPeriod?: IntervalPeriod; payloads?: Array<{ type: string; values: unknown[] }> }>;
  const out: Iv[] = [];
  let cursor: number | undefined;
  for (const iv of list) {
    const p = iv.intervalPeriod;
    const startText = p?.start ?? (cursor === undefined ? base?.start : undefined);
    const durText = p?.duration ?? base?.duration;
    const dur = durText ? durationToMs(durText) : undefined;
    const start = startText && !/^0001-01-01/.test(startText) ? Date.parse(startText) : cursor;
    if (start === undefined || !Number.isFinite(start) || dur === undefined) return undefined;
    out.push({ startMs: start, durMs: dur, payloads: iv.payloads ?? [] });
    cursor = start + dur;
  }
  if (!out.length) return undefined;
  const end = eventEndMs(body as never) ?? Math.max(...out.map((x) => x.startMs + x.durMs));
  return { start: Math.min(...out.map((x) => x.startMs)), end, intervals: out };
}

export interface RenderOptions {
  modNumber: number;
  cancelled: boolean;
  now: number;
  marketContext: string;
  currency: string;
  /** This VEN's id, and the targets it may see on the event (target hiding, as in 3.1). */
  venId: string;
  visibleTargets: string[];
  /** Before start by at most this, the status is `near` rather than `far`. */
  nearMs: number;
}

/** The ei:eiEvent of one 3.1 event as one VEN sees it. Undefined when it cannot be placed in time. */
export function renderEiEvent(s: EventSnapshot, o: RenderOptions): Body | undefined {
  const t = intervalsOf(s.body);
  if (!t) return undefined;
  const status = o.cancelled ? 'cancelled' : o.now >= t.end ? 'completed' : o.now >= t.start ? 'active' : t.start - o.now <= o.nearMs ? 'near' : 'far';
  const descriptors = (s.body.payloadDescriptors ?? []) as Array<{ payloadType?: string; units?: string; currency?: string }>;
  const types = [...new Set(t.intervals.flatMap((iv) => iv.payloads.map((p) => p.type)))];
  const signals = types.map((type, n) => {
    const map = signalFor(type);
    const d = descriptors.find((x) => x.payloadType === type);
    let value = (iv: Iv): number => {
      const v = iv.payloads.find((p) => p.type === type)?.values[0];
      return typeof v === 'number' ? v : typeof v === 'boolean' ? Number(v) : 0;
    };
    let itemBase: Body | undefined;
    if (map.unit === 'currencyPerKWh') {
      itemBase = { currencyPerKWh: { itemDescription: 'currencyPerKWh', itemUnits: (d?.currency ?? o.currency).toUpperCase(), siScaleCode: 'none' } };
    } else if (map.unit === 'powerReal') {
      const sc = powerScale(d?.units);
      const raw = value;
      value = (iv) => raw(iv) * sc.factor;
      itemBase = { powerReal: { itemDescription: 'RealPower', itemUnits: 'W', siScaleCode: sc.scale, powerAttributes: { hertz: 50, voltage: 230, ac: true } } };
    }
    const active = t.intervals.find((iv) => o.now >= iv.startMs && o.now < iv.startMs + iv.durMs);
    return {
      intervals: {
        interval: t.intervals.map((iv, i) => ({
          // The first interval starts with the event; the others follow, unless they carry their own start.
          ...(i > 0 && iv.startMs !== t.intervals[i - 1]!.startMs + t.intervals[i - 1]!.durMs ? { dtstart: { 'date-time': xcalDateTime(iv.startMs) } } : {}),
          duration: { duration: msToDuration(iv.durMs) },
          uid: { text: String(i) },
          payloads: [{ signalPayload: { payloadBase: { payloadFloat: { value: value(iv) } } } }],
        })),
      },
      signalName: map.signalName,
      signalType: map.signalType,
      signalID: `${s.id}-${n}`,
      ...(itemBase ? { itemBase } : {}),
      ...(status === 'active' || status === 'near' || status === 'far' ? { currentValue: { payloadFloat: { value: active && !o.cancelled ? value(active) : 0 } } } : {}),
    };
  });
  if (!signals.length) return undefined;
  const priority = typeof s.body.priority === 'number' && s.body.priority >= 0 ? Math.floor(s.body.priority) : undefined;
  const visible = s.targets.filter((x) => o.visibleTargets.includes(x));
  return {
    eventDescriptor: {
      eventID: s.id,
      modificationNumber: o.modNumber,
      ...(priority !== undefined ? { priority } : {}),
      eiMarketContext: { marketContext: o.marketContext },
      createdDateTime: xcalDateTime(s.createdMs),
      eventStatus: status,
      ...(typeof s.body.eventName === 'string' ? { vtnComment: s.body.eventName } : {}),
    },
    eiActivePeriod: {
      properties: { dtstart: { 'date-time': xcalDateTime(t.start) }, duration: { duration: msToDuration(t.end - t.start) } },
      components: '',
    },
    eiEventSignals: { eiEventSignal: signals },
    // A targeted event names this VEN and the targets through which it reaches it; an untargeted one reaches all.
    eiTarget: s.targets.length ? { groupID: visible, venID: [o.venId] } : {},
  };
}
