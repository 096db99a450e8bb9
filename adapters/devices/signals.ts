import type { NatureKind } from '../../core/index.js';

/**
 * From OpenADR event signals to device set points (docs/devices.md has the table). One rule per payload
 * type and nature; a signal a nature has nothing to do with gives no set point. Capacity limits are in W here
 * (3.1 payloads in kW are converted by the caller), prices in the program's currency per kWh.
 */
export type SignalType = 'IMPORT_CAPACITY_LIMIT' | 'EXPORT_CAPACITY_LIMIT' | 'SIMPLE' | 'PRICE';

export interface PriceBands {
  /** At or below: charge batteries, run flexible loads. */
  cheap: number;
  /** At or above: discharge batteries, shed flexible loads. */
  dear: number;
}

export interface DeviceFacts {
  nature: NatureKind;
  ratedW: number;
}

/** OpenADR 2.0b signal names mapped onto the 3.1 payload types they mean. */
export const OADR2B_SIGNALS: Readonly<Record<string, SignalType>> = {
  simple: 'SIMPLE',
  ELECTRICITY_PRICE: 'PRICE',
  ENERGY_PRICE: 'PRICE',
  LOAD_DISPATCH: 'IMPORT_CAPACITY_LIMIT',
  LOAD_CONTROL: 'IMPORT_CAPACITY_LIMIT',
};

export function setpointFor(signal: SignalType, value: number, d: DeviceFacts, bands: PriceBands = { cheap: 0.1, dear: 0.3 }): { name: string; value: number } | undefined {
  const r = d.ratedW;
  switch (d.nature) {
    case 'PvInverter':
      if (signal === 'EXPORT_CAPACITY_LIMIT') return { name: 'curtailmentPct', value: Math.max(0, Math.min(100, Math.round((100 * value) / r))) };
      if (signal === 'PRICE' && value < 0) return { name: 'curtailmentPct', value: 0 }; // paid to export: stop
      return undefined;
    case 'Battery':
      if (signal === 'IMPORT_CAPACITY_LIMIT') return { name: 'powerW', value: -r }; // cover the site's import
      if (signal === 'EXPORT_CAPACITY_LIMIT') return { name: 'powerW', value: r }; // absorb surplus
      if (signal === 'SIMPLE') return { name: 'powerW', value: -Math.round((r * Math.max(0, Math.min(3, value))) / 3) };
      if (signal === 'PRICE') return { name: 'powerW', value: value <= bands.cheap ? r : value >= bands.dear ? -r : 0 };
      return undefined;
    case 'FlexibleLoad':
      if (signal === 'IMPORT_CAPACITY_LIMIT') return { name: 'limitW', value: Math.max(0, Math.min(r, value)) };
      if (signal === 'SIMPLE') return { name: 'on', value: value >= 2 ? 0 : 1 };
      if (signal === 'PRICE') return { name: 'on', value: value >= bands.dear ? 0 : 1 };
      return undefined;
    case 'EvCharger': {
      // 230 V, three phases: A per phase for a power.
      const amps = (w: number) => Math.max(0, Math.floor(w / (3 * 230)));
      if (signal === 'IMPORT_CAPACITY_LIMIT') return { name: 'currentLimitA', value: amps(value) };
      if (signal === 'SIMPLE') return { name: 'currentLimitA', value: value >= 2 ? 0 : amps((r * (3 - value)) / 3) };
      if (signal === 'PRICE') return { name: 'currentLimitA', value: value >= bands.dear ? 0 : amps(r) };
      return undefined;
    }
    case 'Generator':
      if (signal === 'IMPORT_CAPACITY_LIMIT' || (signal === 'SIMPLE' && value >= 1)) return { name: 'powerW', value: -r };
      if (signal === 'PRICE') return { name: 'powerW', value: value >= bands.dear ? -r : 0 };
      return undefined;
    case 'ElectricityMeter':
      return undefined;
  }
}

/** The set point that undoes any event: PV uncurtailed, batteries idle, loads on, chargers free, generators off. */
export function neutralSetpoint(d: DeviceFacts): { name: string; value: number } | undefined {
  switch (d.nature) {
    case 'PvInverter':
      return { name: 'curtailmentPct', value: 100 };
    case 'Battery':
    case 'Generator':
      return { name: 'powerW', value: 0 };
    case 'FlexibleLoad':
      return { name: 'on', value: 1 };
    case 'EvCharger':
      return { name: 'currentLimitA', value: Math.floor(d.ratedW / (3 * 230)) };
    case 'ElectricityMeter':
      return undefined;
  }
}
