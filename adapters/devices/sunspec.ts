import { GfError } from '../../core/index.js';
import { END_MODEL, MODELS, offsets, SUNSPEC_BASES, SUNS_MARKER, type ModelDef } from '../../standards/sunspec/models.js';
import { DeviceErrors } from './errors.js';
import type { ModbusConnection } from './modbus-client.js';

export interface FoundModel {
  id: number;
  /** Address of the model's ID register. */
  address: number;
  length: number;
  known: boolean;
}

/** Reads a SunSpec device: finds its map by the "SunS" marker, lists its models, reads and writes points with scale factors. */
export class SunSpecDevice {
  models: FoundModel[] = [];

  constructor(private readonly conn: ModbusConnection) {}

  /** Looks for "SunS" at 40000, 0 and 50000, then walks the model chain to the end marker. */
  async scan(): Promise<FoundModel[]> {
    let base: number | undefined;
    for (const b of SUNSPEC_BASES) {
      try {
        const r = await this.conn.readHolding(b, 2);
        if (r[0] === SUNS_MARKER[0] && r[1] === SUNS_MARKER[1]) {
          base = b;
          break;
        }
      } catch (e) {
        if ((e as GfError).code !== DeviceErrors.GF_DEVICE_REFUSED) throw e; // an illegal address: try the next base
      }
    }
    if (base === undefined) throw new GfError(DeviceErrors.GF_DEVICE_NOT_SUNSPEC, `no SunSpec marker at ${SUNSPEC_BASES.join(', ')}`, {});
    const found: FoundModel[] = [];
    let addr = base + 2;
    for (let guard = 0; guard < 200; guard++) {
      const [id, length] = await this.conn.readHolding(addr, 2);
      if (id === END_MODEL || id === undefined || length === undefined) break;
      found.push({ id, address: addr, length, known: MODELS.has(id) });
      addr += 2 + length;
    }
    this.models = found;
    return found;
  }

  #model(id: number): { found: FoundModel; def: ModelDef } {
    const found = this.models.find((m) => m.id === id);
    const def = MODELS.get(id);
    if (!found || !def) throw new GfError(DeviceErrors.GF_DEVICE_UNKNOWN_POINT, `model ${id} is ${found ? 'not one gridflex reads' : 'not on this device'}`, { data: { model: id } });
    return { found, def };
  }

  /** Every numeric point of a model, scaled (value × 10^sf); not-implemented points are null. */
  async read(modelId: number): Promise<Record<string, number | string | null>> {
    const { found, def } = this.#model(modelId);
    const offs = offsets(def);
    const size = Math.min(found.length + 2, [...offs.values()].reduce((a, o) => Math.max(a, o.offset + o.def.size), 0));
    const regs: number[] = [];
    for (let o = 0; o < size; o += 100) regs.push(...(await this.conn.readHolding(found.address + o, Math.min(100, size - o))));
    const raw = (name: string): number | null => {
      const o = offs.get(name)!;
      const { type, size: n } = o.def;
      const w = regs.slice(o.offset, o.offset + n);
      let v: number;
      if (n === 2) v = ((w[0]! << 16) >>> 0) + w[1]!;
      else v = w[0]!;
      if (type === 'int16' || type === 'sunssf') v = (v << 16) >> 16;
      // SunSpec's "not implemented" values.
      if ((type === 'int16' || type === 'sunssf') && v === -32768) return null;
      if ((type === 'uint16' || type === 'enum16' || type === 'bitfield16') && v === 0xffff) return null;
      if (type === 'uint32' && v === 0xffffffff) return null;
      return v;
    };
    const out: Record<string, number | string | null> = {};
    for (const [name, { offset, def: d }] of offs) {
      if (d.type === 'sunssf' || d.type === 'pad' || name === 'ID' || name === 'L') continue;
      if (d.type === 'string') {
        const w = regs.slice(offset, offset + d.size);
        out[name] = Buffer.from(w.flatMap((x) => [x >> 8, x & 0xff])).toString('latin1').replace(/\0+$/, '');
        continue;
      }
      const v = raw(name);
      const sf = d.sf ? raw(d.sf) : 0;
      out[name] = v === null || sf === null ? null : v * 10 ** sf;
    }
    return out;
  }

  /** Writes a writable point, scaling by its scale factor read from the device. */
  async write(modelId: number, point: string, value: number): Promise<void> {
    const { found, def } = this.#model(modelId);
    const offs = offsets(def);
    const o = offs.get(point);
    if (!o || !o.def.writable) throw new GfError(DeviceErrors.GF_DEVICE_UNKNOWN_POINT, `${point} is not a writable point of model ${modelId}`, { data: { model: modelId, point } });
    let sf = 0;
    if (o.def.sf) {
      const s = offs.get(o.def.sf)!;
      sf = ((await this.conn.readHolding(found.address + s.offset, 1))[0]! << 16) >> 16;
    }
    const scaled = Math.round(value / 10 ** sf);
    const signed = o.def.type === 'int16';
    if (signed ? scaled < -32767 || scaled > 32767 : scaled < 0 || scaled > 65534) {
      throw new GfError(DeviceErrors.GF_DEVICE_BAD_MAP, `${point} = ${value} does not fit ${o.def.type} at scale 10^${sf}`, { data: { model: modelId, point } });
    }
    await this.conn.writeHolding(found.address + o.offset, [scaled & 0xffff]);
  }
}
