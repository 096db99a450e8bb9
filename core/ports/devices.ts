import type { Quantity } from '../domain/quantities.js';

/**
 * Device natures: what a device is to gridflex, whatever its protocol. Units and signs are written once here:
 * power in W and energy in Wh, and **power is seen from the grid connection: positive = import** (a load or a
 * charging battery), negative = export (a producing PV inverter, a discharging battery, a generator).
 * Each nature names the readings it gives (stored in the time-series store under the device id), the set
 * points it takes, how fast it typically responds, and what its controllable range is — what the VPP work
 * uses to qualify devices for reserve products.
 */
export type NatureKind = 'ElectricityMeter' | 'PvInverter' | 'Battery' | 'FlexibleLoad' | 'EvCharger' | 'Generator';

export interface NatureReading {
  name: string;
  quantity: Quantity;
}

export interface NatureSetpoint {
  name: string;
  unit: 'W' | '%' | 'A' | 'bool';
  description: string;
}

export interface NatureSpec {
  kind: NatureKind;
  readings: NatureReading[];
  setpoints: NatureSetpoint[];
  /** Typical time from a set point to its effect (s); a device may declare its own. */
  responseTimeS: number;
  description: string;
}

export const NATURES: Readonly<Record<NatureKind, NatureSpec>> = {
  ElectricityMeter: {
    kind: 'ElectricityMeter',
    readings: [
      { name: 'activePower', quantity: 'activePower' },
      { name: 'energyImport', quantity: 'energyImport' },
      { name: 'energyExport', quantity: 'energyExport' },
      { name: 'voltage', quantity: 'voltage' },
    ],
    setpoints: [],
    responseTimeS: 0,
    description: 'a grid connection meter: net power (import positive), counters, voltage',
  },
  PvInverter: {
    kind: 'PvInverter',
    readings: [
      { name: 'activePower', quantity: 'activePower' },
      { name: 'energyExport', quantity: 'energyExport' },
    ],
    setpoints: [{ name: 'curtailmentPct', unit: '%', description: 'output limit as a share of the rated power (100 = no curtailment)' }],
    responseTimeS: 5,
    description: 'a PV inverter: output (negative), energy produced, curtailment limit',
  },
  Battery: {
    kind: 'Battery',
    readings: [
      { name: 'activePower', quantity: 'activePower' },
      { name: 'soc', quantity: 'soc' },
    ],
    setpoints: [{ name: 'powerW', unit: 'W', description: 'charge (positive) or discharge (negative) power' }],
    responseTimeS: 2,
    description: 'a battery: power (charging positive), state of charge, charge/discharge set point within its limits',
  },
  FlexibleLoad: {
    kind: 'FlexibleLoad',
    readings: [{ name: 'activePower', quantity: 'activePower' }],
    setpoints: [
      { name: 'on', unit: 'bool', description: 'switch the load on (1) or off (0)' },
      { name: 'limitW', unit: 'W', description: 'a power limit' },
    ],
    responseTimeS: 10,
    description: 'a controllable load: power, on/off or a power limit',
  },
  EvCharger: {
    kind: 'EvCharger',
    readings: [
      { name: 'activePower', quantity: 'activePower' },
      { name: 'current', quantity: 'current' },
    ],
    setpoints: [{ name: 'currentLimitA', unit: 'A', description: 'charging current limit per phase (0 pauses the session)' }],
    responseTimeS: 10,
    description: 'an EV charger: power, current, session current limit',
  },
  Generator: {
    kind: 'Generator',
    readings: [{ name: 'activePower', quantity: 'activePower' }],
    setpoints: [{ name: 'powerW', unit: 'W', description: 'output set point (negative: export), within its minimum and maximum and ramp' }],
    responseTimeS: 60,
    description: 'a dispatchable generator: output, set point with ramp, start-up time, minimum and maximum',
  },
};

/** The controllable range of a device in W (grid view): the lowest and highest power it can be set to. */
export interface ControllableRange {
  minW: number;
  maxW: number;
}

/** The range a nature gives a device of this rating (a meter has none). */
export function controllableRange(kind: NatureKind, ratedW: number): ControllableRange | null {
  switch (kind) {
    case 'PvInverter':
    case 'Generator':
      return { minW: -ratedW, maxW: 0 };
    case 'Battery':
      return { minW: -ratedW, maxW: ratedW };
    case 'FlexibleLoad':
    case 'EvCharger':
      return { minW: 0, maxW: ratedW };
    case 'ElectricityMeter':
      return null;
  }
}
