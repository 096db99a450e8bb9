/**
 * OpenADR 3.1 payload types as OpenADR 2.0b event signals (signalName, signalType, unit), so one event
 * reaches 3.1 and 2.0b VENs alike. Types 2.0b has no name for travel as `x-<TYPE>` extension signal
 * names (EiExtensionTokenType), which the 2.0b schema admits. docs/openadr2b.md has the table.
 */
export interface SignalMapping {
  signalName: string;
  signalType: 'level' | 'price' | 'setpoint' | 'delta' | 'x-loadControlCapacity';
  /** The emix:itemBase this signal carries, if any. */
  unit?: 'currencyPerKWh' | 'powerReal';
}

const TABLE: Record<string, SignalMapping> = {
  SIMPLE: { signalName: 'simple', signalType: 'level' },
  PRICE: { signalName: 'ELECTRICITY_PRICE', signalType: 'price', unit: 'currencyPerKWh' },
  EXPORT_PRICE: { signalName: 'x-EXPORT_PRICE', signalType: 'price', unit: 'currencyPerKWh' },
  IMPORT_CAPACITY_LIMIT: { signalName: 'LOAD_DISPATCH', signalType: 'setpoint', unit: 'powerReal' },
  DISPATCH_SETPOINT: { signalName: 'LOAD_DISPATCH', signalType: 'setpoint', unit: 'powerReal' },
  DISPATCH_SETPOINT_RELATIVE: { signalName: 'LOAD_DISPATCH', signalType: 'delta', unit: 'powerReal' },
  CHARGE_STATE_SETPOINT: { signalName: 'CHARGE_STATE', signalType: 'setpoint' },
};

export function signalFor(payloadType: string): SignalMapping {
  return TABLE[payloadType] ?? { signalName: `x-${payloadType}`, signalType: 'level' };
}

/** The 3.1 payload type a 2.0b signal stands for (the reverse of `signalFor`, for VENs). */
export function payloadTypeOf(signalName: string, signalType: string): string {
  if (signalName === 'simple' || signalName === 'SIMPLE') return 'SIMPLE';
  if (signalName === 'ELECTRICITY_PRICE' || signalName === 'ENERGY_PRICE') return 'PRICE';
  if (signalName === 'LOAD_DISPATCH') return signalType === 'delta' ? 'DISPATCH_SETPOINT_RELATIVE' : 'DISPATCH_SETPOINT';
  if (signalName === 'LOAD_CONTROL') return 'IMPORT_CAPACITY_LIMIT';
  if (signalName === 'CHARGE_STATE') return 'CHARGE_STATE_SETPOINT';
  if (signalName.startsWith('x-')) return signalName.slice(2);
  return signalName;
}

/** siScaleCode for a 3.1 unit string (KW → k, W → none, MW → M). */
export function powerScale(units: string | undefined): { scale: 'none' | 'k' | 'M'; factor: number } {
  const u = (units ?? 'KW').toUpperCase();
  if (u === 'W') return { scale: 'none', factor: 1 };
  if (u === 'MW') return { scale: 'M', factor: 1 };
  return { scale: 'k', factor: 1 };
}
