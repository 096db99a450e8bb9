/**
 * Modbus register values: 16-bit registers read as int16, uint16, int32, uint32 or float32 (two registers, in
 * either word order), times a scale factor. Pure; the bridges do the I/O.
 */
export type RegisterType = 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32';
export type WordOrder = 'big' | 'little';

export const REGISTER_SIZE: Record<RegisterType, number> = { int16: 1, uint16: 1, int32: 2, uint32: 2, float32: 2 };

/** Decodes `regs` (16-bit words) as one value. */
export function decodeRegisters(regs: ArrayLike<number>, type: RegisterType, order: WordOrder = 'big'): number {
  const w = (i: number) => regs[i]! & 0xffff;
  if (REGISTER_SIZE[type] === 1) return type === 'int16' ? (w(0) << 16) >> 16 : w(0);
  const [hi, lo] = order === 'big' ? [w(0), w(1)] : [w(1), w(0)];
  const buf = Buffer.alloc(4);
  buf.writeUInt16BE(hi, 0);
  buf.writeUInt16BE(lo, 2);
  if (type === 'int32') return buf.readInt32BE(0);
  if (type === 'uint32') return buf.readUInt32BE(0);
  return buf.readFloatBE(0);
}

/** Encodes one value into registers; integers must fit the type (RangeError otherwise). */
export function encodeRegisters(value: number, type: RegisterType, order: WordOrder = 'big'): number[] {
  const buf = Buffer.alloc(4);
  switch (type) {
    case 'int16':
    case 'uint16': {
      const min = type === 'int16' ? -32768 : 0;
      const max = type === 'int16' ? 32767 : 65535;
      if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`${value} does not fit ${type}`);
      return [value & 0xffff];
    }
    case 'int32':
      if (!Number.isInteger(value) || value < -(2 ** 31) || value >= 2 ** 31) throw new RangeError(`${value} does not fit int32`);
      buf.writeInt32BE(value, 0);
      break;
    case 'uint32':
      if (!Number.isInteger(value) || value < 0 || value >= 2 ** 32) throw new RangeError(`${value} does not fit uint32`);
      buf.writeUInt32BE(value, 0);
      break;
    case 'float32':
      if (!Number.isFinite(value)) throw new RangeError(`${value} is not a finite float32`);
      buf.writeFloatBE(value, 0);
      break;
  }
  const hi = buf.readUInt16BE(0);
  const lo = buf.readUInt16BE(2);
  return order === 'big' ? [hi, lo] : [lo, hi];
}
