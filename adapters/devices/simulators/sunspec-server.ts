import net from 'node:net';
import ModbusRTU from 'modbus-serial';
import { clearSkyGhi, type Site } from '../../../core/domain/solar.js';
import { END_MODEL, MODELS, offsets, SUNS_MARKER } from '../../../standards/sunspec/models.js';

/**
 * A Modbus TCP server presenting one simulated SunSpec device at base 40000, with plausible physics:
 * - `pv`: common (1), three-phase inverter (103) and immediate controls (123). Output follows the clear-sky
 *   irradiance at the site (or a fixed irradiance for tests) times its rating, limited by WMaxLimPct when
 *   WMaxLim_Ena is set; the energy counter integrates it.
 * - `battery`: common (1) and storage (124). InWRte/OutWRte (% of WChaMax) charge or discharge it; the state of
 *   charge integrates the power and stops at 0 and 100 %.
 * - `meter`: common (1) and three-phase meter (203): the site's net power (load minus PV, positive = import)
 *   and its import/export counters.
 */
export type SimKind = 'pv' | 'battery' | 'meter';

export interface SimOptions {
  kind: SimKind;
  port?: number;
  host?: string;
  unitId?: number;
  ratedW?: number;
  capacityWh?: number;
  site?: Site;
  /** Fixed irradiance (W/m²) instead of the clear sky: deterministic tests. */
  irradiance?: number;
  /** For the meter: the site's load (W) and the PV feeding it (W). */
  loadW?: () => number;
  pvW?: () => number;
  serial?: string;
  /** A faulty inverter that ignores its output limit (for tests of set-point verification). */
  ignoreLimits?: boolean;
  /** Serve Modbus RTU on this serial device (e.g. one end of a pty pair) instead of Modbus TCP. */
  serialPath?: string;
}

const BASE = 40000;

export class SunSpecSimulator {
  readonly regs = new Uint16Array(400).fill(0);
  #server: any;
  #timer: NodeJS.Timeout | undefined;
  #last = Date.now();
  #addr = new Map<number, Map<string, number>>();
  energyWh = 0;
  importWh = 0;
  exportWh = 0;
  socPct = 50;
  port = 0;

  constructor(private readonly o: SimOptions) {
    const models = o.kind === 'pv' ? [1, 103, 123] : o.kind === 'battery' ? [1, 124] : [1, 203];
    this.regs[0] = SUNS_MARKER[0];
    this.regs[1] = SUNS_MARKER[1];
    let at = 2;
    for (const id of models) {
      const def = MODELS.get(id)!;
      this.regs[at] = id;
      this.regs[at + 1] = def.length;
      const m = new Map<string, number>();
      for (const [name, { offset }] of offsets(def)) m.set(name, at + offset);
      this.#addr.set(id, m);
      // Points we do not simulate read as "not implemented".
      for (const [name, { offset, def: d }] of offsets(def)) {
        if (name === 'ID' || name === 'L') continue;
        if (d.type === 'int16' || d.type === 'sunssf') this.regs[at + offset] = 0x8000;
        else if (d.type === 'uint16' || d.type === 'enum16' || d.type === 'bitfield16') this.regs[at + offset] = 0xffff;
      }
      at += 2 + def.length;
    }
    this.regs[at] = END_MODEL;
    this.regs[at + 1] = 0;
    this.#str(1, 'Mn', 'gridflex');
    this.#str(1, 'Md', `sim-${o.kind}`);
    this.#str(1, 'SN', o.serial ?? `SIM-${o.kind.toUpperCase()}-1`);
    this.#set(1, 'DA', o.unitId ?? 1);
    if (o.kind === 'pv') {
      this.#set(103, 'W_SF', 0);
      this.#set(103, 'WH_SF', 0);
      this.#set(103, 'Hz', 5000);
      this.#set(103, 'Hz_SF', -2);
      this.#set(123, 'WMaxLimPct', 100);
      this.#set(123, 'WMaxLimPct_SF', 0);
      this.#set(123, 'WMaxLim_Ena', 0);
    } else if (o.kind === 'battery') {
      this.#set(124, 'WChaMax', o.ratedW ?? 3000);
      this.#set(124, 'WChaMax_SF', 0);
      this.#set(124, 'ChaState_SF', 0);
      this.#set(124, 'InOutWRte_SF', 0);
      this.#set(124, 'InWRte', 0);
      this.#set(124, 'OutWRte', 0);
    } else {
      this.#set(203, 'W_SF', 0);
      this.#set(203, 'TotWh_SF', 0);
      this.#set(203, 'Hz', 5000);
      this.#set(203, 'Hz_SF', -2);
    }
    this.#step();
  }

  #set(model: number, point: string, v: number): void {
    this.regs[this.#addr.get(model)!.get(point)!] = v & 0xffff;
  }

  #get(model: number, point: string, signed = false): number {
    const v = this.regs[this.#addr.get(model)!.get(point)!]!;
    return signed ? (v << 16) >> 16 : v;
  }

  #set32(model: number, point: string, v: number): void {
    const a = this.#addr.get(model)!.get(point)!;
    const x = Math.max(0, Math.round(v)) >>> 0;
    this.regs[a] = x >>> 16;
    this.regs[a + 1] = x & 0xffff;
  }

  #str(model: number, point: string, s: string): void {
    const a = this.#addr.get(model)!.get(point)!;
    const b = Buffer.from(s, 'latin1');
    for (let i = 0; i < 8 && 2 * i < b.length; i++) this.regs[a + i] = (b[2 * i]! << 8) | (b[2 * i + 1] ?? 0);
  }

  /** Output power of a PV simulator now (W). */
  pvPowerW(): number {
    const rated = this.o.ratedW ?? 5000;
    const ghi = this.o.irradiance ?? clearSkyGhi(this.o.site ?? { latitude: 48.1, longitude: 11.6 }, Date.now());
    const limit = this.#get(123, 'WMaxLim_Ena') === 1 && !this.o.ignoreLimits ? Math.min(100, this.#get(123, 'WMaxLimPct')) / 100 : 1;
    return Math.round(Math.min(rated * (ghi / 1000), rated * limit));
  }

  /** Advances the physics to now. */
  #step(): void {
    const now = Date.now();
    const h = (now - this.#last) / 3600_000;
    this.#last = now;
    if (this.o.kind === 'pv') {
      const w = this.pvPowerW();
      this.energyWh += w * h;
      this.#set(103, 'W', w);
      this.#set32(103, 'WH', this.energyWh);
      this.#set(103, 'St', w > 0 ? 4 : 2); // MPPT or SLEEPING
    } else if (this.o.kind === 'battery') {
      const max = this.#get(124, 'WChaMax');
      const inPct = this.#get(124, 'InWRte', true);
      const outPct = this.#get(124, 'OutWRte', true);
      let w = (max * (inPct - outPct)) / 100; // positive = charging
      const cap = this.o.capacityWh ?? 10_000;
      if ((w > 0 && this.socPct >= 100) || (w < 0 && this.socPct <= 0)) w = 0;
      this.socPct = Math.max(0, Math.min(100, this.socPct + (100 * w * h) / cap));
      this.#set(124, 'ChaState', Math.round(this.socPct));
      this.#set(124, 'ChaSt', w > 0 ? 4 : w < 0 ? 3 : this.socPct >= 100 ? 5 : 6);
    } else {
      const net = (this.o.loadW?.() ?? 800) - (this.o.pvW?.() ?? 0);
      if (net > 0) this.importWh += net * h;
      else this.exportWh -= net * h;
      this.#set(203, 'W', Math.round(net));
      this.#set32(203, 'TotWhImp', this.importWh);
      this.#set32(203, 'TotWhExp', this.exportWh);
    }
  }

  /** modbus-serial reads port 0 as "default" (502): ask the OS for a free one first. */
  static freePort(host = '127.0.0.1'): Promise<number> {
    return new Promise((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, host, () => {
        const port = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
  }

  async start(): Promise<this> {
    if (this.o.serialPath) return this.#startSerial(this.o.serialPath);
    const port = this.o.port || (await SunSpecSimulator.freePort(this.o.host));
    const vector = this.#vector();
    await new Promise<void>((resolve, reject) => {
      this.#server = new (ModbusRTU as any).ServerTCP(vector, { host: this.o.host ?? '127.0.0.1', port, unitID: this.o.unitId ?? 1 });
      this.#server.on('initialized', () => resolve());
      this.#server.on('serverError', reject);
      setTimeout(resolve, 300);
    });
    this.port = port;
    this.#timer = setInterval(() => this.#step(), 1000);
    this.#timer.unref();
    return this;
  }

  #vector() {
    const get = (addr: number) => {
      const i = addr - BASE;
      if (i < 0 || i >= this.regs.length) throw Object.assign(new Error('illegal address'), { modbusErrorCode: 2 });
      if (i === 2) this.#step();
      return this.regs[i]!;
    };
    return {
      getHoldingRegister: get,
      getInputRegister: get,
      setRegister: (addr: number, value: number) => {
        const i = addr - BASE;
        if (i < 0 || i >= this.regs.length) throw Object.assign(new Error('illegal address'), { modbusErrorCode: 2 });
        this.#step();
        this.regs[i] = value & 0xffff;
        this.#step();
      },
    };
  }

  async #startSerial(path: string): Promise<this> {
    const Ctor = (ModbusRTU as any).ServerSerial;
    if (!Ctor) throw new Error('modbus-serial has no serial server here (its serialport binding is missing)');
    await new Promise<void>((resolve, reject) => {
      this.#server = new Ctor(this.#vector(), { path, baudRate: 9600, unitID: this.o.unitId ?? 1 });
      this.#server.on('initialized', () => resolve());
      this.#server.on('error', reject);
      setTimeout(resolve, 500);
    });
    this.#timer = setInterval(() => this.#step(), 1000);
    this.#timer.unref();
    return this;
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }
}
