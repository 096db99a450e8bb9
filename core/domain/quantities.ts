/**
 * Quantities of readings, each with its one canonical unit (domain.md: power in W, energy in Wh,
 * positive power = import from the grid). Conversions happen at the edges (import, device maps);
 * the store refuses a reading whose unit is not its quantity's unit.
 */
export const QUANTITIES = {
  activePower: 'W',
  reactivePower: 'var',
  apparentPower: 'VA',
  energyImport: 'Wh',
  energyExport: 'Wh',
  energyNet: 'Wh',
  soc: '%',
  voltage: 'V',
  current: 'A',
  frequency: 'Hz',
  temperature: 'Cel',
  irradiance: 'W/m2',
  setpoint: 'W',
  curtailment: '%',
} as const;

export type Quantity = keyof typeof QUANTITIES;
export type Unit = (typeof QUANTITIES)[Quantity];

export function isQuantity(q: unknown): q is Quantity {
  return typeof q === 'string' && Object.prototype.hasOwnProperty.call(QUANTITIES, q);
}

/** Quality of a reading; stored as a small integer. */
export const QUALITIES = ['measured', 'estimated', 'interpolated', 'substituted', 'suspect', 'missing'] as const;
export type Quality = (typeof QUALITIES)[number];

export function qualityCode(q: Quality): number {
  return QUALITIES.indexOf(q);
}

export function qualityOf(code: number): Quality {
  return QUALITIES[code] ?? 'suspect';
}
