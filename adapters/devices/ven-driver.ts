import { durationToMs } from '../../standards/common/ids.js';
import { Oa3Ven, type VenChange, type VenEvent, type VenOptions } from '../../core/openadr3/ven.js';
import type { Logger } from '../../core/index.js';
import type { DeviceManager } from './manager.js';
import type { SignalType } from './signals.js';

const HANDLED: readonly string[] = ['IMPORT_CAPACITY_LIMIT', 'EXPORT_CAPACITY_LIMIT', 'SIMPLE', 'PRICE'];

/** The payloads of the interval in force at `now` (each interval's own period, else the event's, back to back). */
export function activePayloads(e: VenEvent, now = Date.now()): { type: string; value: number }[] {
  const base = e.intervalPeriod;
  let cursor = base?.start ? Date.parse(base.start) : NaN;
  for (const iv of e.intervals ?? []) {
    const start = iv.intervalPeriod?.start ? Date.parse(iv.intervalPeriod.start) : cursor;
    const d = iv.intervalPeriod?.duration ?? base?.duration;
    const dur = d ? (durationToMs(d) ?? 0) : 0;
    if (Number.isFinite(start) && now >= start && (dur === 0 || now < start + dur)) {
      return (iv.payloads ?? []).flatMap((pl) => (typeof pl.values?.[0] === 'number' ? [{ type: String(pl.type), value: pl.values[0] as number }] : []));
    }
    cursor = start + dur;
  }
  return [];
}

/**
 * The control loop's VEN side: an OpenADR 3.1 VEN whose active events become set points on the local devices
 * (capacity limits in kW become W), applied when an event turns active and each minute while it is, and
 * released (PV uncurtailed, batteries idle, loads on) when it completes or is cancelled.
 */
export class VenDeviceDriver {
  readonly ven: Oa3Ven;
  readonly applied: { eventId: string; type: string; value: number; results: unknown }[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(
    opts: Omit<VenOptions, 'onChange'>,
    private readonly devices: DeviceManager,
    private readonly log: Logger,
    private readonly ids?: string[],
  ) {
    this.ven = new Oa3Ven({ ...opts, onChange: (c) => void this.#changed(c) });
  }

  async start(): Promise<void> {
    await this.ven.start();
    this.#timer = setInterval(() => void this.#reapply(), 60_000);
    this.#timer.unref();
  }

  async #apply(e: VenEvent): Promise<void> {
    for (const p of activePayloads(e)) {
      if (!HANDLED.includes(p.type)) continue;
      const value = p.type.endsWith('CAPACITY_LIMIT') ? p.value * 1000 : p.value;
      const results = await this.devices.applySignal(p.type as SignalType, value, this.ids);
      this.applied.push({ eventId: e.id, type: p.type, value, results });
      this.log.info({ event: e.id, type: p.type, value, results }, 'event signal applied to devices');
    }
  }

  async #release(e: VenEvent): Promise<void> {
    // Back to normal: PV uncurtailed, batteries idle, loads on.
    const results = await this.devices.applySignal('NEUTRAL', 0, this.ids);
    this.applied.push({ eventId: e.id, type: 'release', value: 0, results });
  }

  async #changed(c: VenChange): Promise<void> {
    try {
      if (c.status === 'active') await this.#apply(c.event);
      else if ((c.status === 'completed' || c.status === 'cancelled') && this.applied.some((a) => a.eventId === c.event.id && a.type !== 'release')) await this.#release(c.event);
    } catch (err) {
      this.log.warn({ err, event: c.event.id }, 'applying an event to devices failed');
    }
  }

  async #reapply(): Promise<void> {
    for (const entry of this.ven.timeline.values()) if (entry.status === 'active') await this.#apply(entry.event).catch(() => undefined);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.ven.stop();
  }
}
