import { controllableRange, GfError, NATURES, type ControllableRange, type Logger, type NatureKind, type ReadingInput, type TimeSeriesStore } from '../../core/index.js';
import { decodeRegisters, encodeRegisters, REGISTER_SIZE, type RegisterType, type WordOrder } from '../../standards/modbus/registers.js';
import { DeviceErrors } from './errors.js';
import { ModbusConnection } from './modbus-client.js';
import { OpcuaConnection, type OpcuaEndpoint } from './opcua-client.js';
import { SunSpecDevice } from './sunspec.js';
import { neutralSetpoint, setpointFor, type PriceBands, type SignalType } from './signals.js';

/** A register in a device map. */
export interface RegisterSpec {
  address: number;
  kind: 'holding' | 'input';
  type: RegisterType;
  wordOrder: WordOrder;
  /** value = raw × scale (and raw = value ÷ scale when writing). */
  scale: number;
}

/** A node in an OPC UA device map: value = node value × scale (scale −1 turns "produced" into grid sign). */
export interface NodeSpec {
  nodeId: string;
  scale: number;
}

export interface DeviceDecl {
  id: string;
  nature: NatureKind;
  bridge: 'modbus' | 'opcua';
  endpoint: { transport?: 'tcp' | 'rtu'; path?: string; baudRate?: number; host: string; port: number; unitId: number; timeoutMs: number; retries: number };
  opcua?: OpcuaEndpoint;
  /** OPC UA: node ids per reading and set point (readings are also monitored for changes). */
  nodes?: { readings: Record<string, NodeSpec>; setpoints: Record<string, NodeSpec> };
  pollSeconds: number;
  /** Rated power (W): PV curtailment and battery limits are relative to it. */
  ratedW: number;
  responseTimeS?: number;
  /** Read through SunSpec models (the map is derived), or through this register map. */
  sunspec: boolean;
  map?: { readings: Record<string, RegisterSpec>; setpoints: Record<string, RegisterSpec> };
}

export interface DeviceState {
  id: string;
  nature: NatureKind;
  /** What the VPP work uses: how far it can be set, and how fast it responds. */
  range: ControllableRange | null;
  responseTimeS: number;
  connection: string;
  lastPollAt: string | null;
  lastError: string | null;
  latest: Record<string, number | null>;
  following: boolean | null;
  lastSetpoint: { name: string; value: number; at: string; readBack: number | null; following: boolean | null } | null;
  requests: number;
  failures: number;
}

function bad(field: string, message: string): GfError {
  return new GfError(DeviceErrors.GF_DEVICE_BAD_MAP, `${field}: ${message}`, { data: { field } });
}

const TYPES = Object.keys(REGISTER_SIZE);

/** Checks a declaration, naming the first offending field. */
export function checkDecl(d: DeviceDecl): void {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(d.id ?? '')) throw bad('id', 'letters, digits, _ and - (1 to 64)');
  const nature = NATURES[d.nature];
  if (!nature) throw bad('nature', `one of ${Object.keys(NATURES).join(', ')}`);
  if (d.bridge !== 'modbus' && d.bridge !== 'opcua') throw bad('bridge', 'modbus or opcua');
  if (!(d.pollSeconds > 0)) throw bad('pollSeconds', 'above zero');
  if (!(d.ratedW > 0)) throw bad('ratedW', 'above zero');
  if (d.bridge === 'opcua') {
    if (!/^opc\.tcp:\/\/[^/]+/.test(d.opcua?.endpointUrl ?? '')) throw bad('opcua.endpointUrl', 'opc.tcp://host:port');
    if (!['None', 'Sign', 'SignAndEncrypt'].includes(d.opcua!.securityMode)) throw bad('opcua.securityMode', 'None, Sign or SignAndEncrypt');
    if (!['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss'].includes(d.opcua!.securityPolicy)) throw bad('opcua.securityPolicy', 'None, Basic256Sha256, Aes128_Sha256_RsaOaep or Aes256_Sha256_RsaPss');
    if ((d.opcua!.securityMode === 'None') !== (d.opcua!.securityPolicy === 'None')) throw bad('opcua.securityPolicy', 'None exactly when securityMode is None');
    if (!d.nodes) throw bad('nodes', 'node ids per reading and set point');
    for (const [group, allowed] of [['readings', nature.readings.map((r) => r.name)], ['setpoints', nature.setpoints.map((x) => x.name)]] as const) {
      for (const [name, n] of Object.entries(d.nodes[group] ?? {})) {
        const f = `nodes.${group}.${name}`;
        if (!allowed.includes(name)) throw bad(f, `${d.nature} has no ${group.slice(0, -1)} '${name}' (${allowed.join(', ') || 'none'})`);
        if (!/^(ns=\d+;)?[isgb]=.+$/.test(n.nodeId ?? '')) throw bad(`${f}.nodeId`, "an OPC UA node id such as ns=1;s=pv.ActivePower");
        if (!(typeof n.scale === 'number' && n.scale !== 0 && Number.isFinite(n.scale))) throw bad(`${f}.scale`, 'a non-zero number');
      }
    }
    return;
  }
  if (d.endpoint?.transport === 'rtu') {
    if (!/^\/dev\/|^[A-Za-z]:|^\//.test(d.endpoint.path ?? '')) throw bad('endpoint.path', 'the serial device, e.g. /dev/ttyUSB0');
    if (d.endpoint.baudRate !== undefined && ![1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200].includes(d.endpoint.baudRate)) throw bad('endpoint.baudRate', '1200 to 115200 baud');
  } else if (!(Number.isInteger(d.endpoint?.port) && d.endpoint.port > 0 && d.endpoint.port < 65536)) throw bad('endpoint.port', 'a TCP port');
  if (!(Number.isInteger(d.endpoint.unitId) && d.endpoint.unitId >= 0 && d.endpoint.unitId <= 255)) throw bad('endpoint.unitId', '0 to 255');
  if (d.sunspec) {
    if (!['PvInverter', 'Battery', 'ElectricityMeter'].includes(d.nature)) throw bad('sunspec', `SunSpec is read for PvInverter, Battery and ElectricityMeter, not ${d.nature}`);
    return;
  }
  if (!d.map) throw bad('map', 'a register map is needed without sunspec');
  for (const [group, allowed] of [['readings', nature.readings.map((r) => r.name)], ['setpoints', nature.setpoints.map((s) => s.name)]] as const) {
    for (const [name, r] of Object.entries(d.map[group] ?? {})) {
      const f = `map.${group}.${name}`;
      if (!allowed.includes(name)) throw bad(f, `${d.nature} has no ${group.slice(0, -1)} '${name}' (${allowed.join(', ') || 'none'})`);
      if (!(Number.isInteger(r.address) && r.address >= 0 && r.address <= 65535)) throw bad(`${f}.address`, '0 to 65535');
      if (r.kind !== 'holding' && r.kind !== 'input') throw bad(`${f}.kind`, 'holding or input');
      if (group === 'setpoints' && r.kind !== 'holding') throw bad(`${f}.kind`, 'set points are holding registers');
      if (!TYPES.includes(r.type)) throw bad(`${f}.type`, `one of ${TYPES.join(', ')}`);
      if (r.wordOrder !== 'big' && r.wordOrder !== 'little') throw bad(`${f}.wordOrder`, 'big or little');
      if (!(typeof r.scale === 'number' && r.scale !== 0 && Number.isFinite(r.scale))) throw bad(`${f}.scale`, 'a non-zero number');
    }
  }
}

class Device {
  readonly conn: ModbusConnection | OpcuaConnection;
  readonly sunspec: SunSpecDevice | undefined;
  #scanned = false;
  #timer: NodeJS.Timeout | undefined;
  state: DeviceState;

  constructor(
    readonly decl: DeviceDecl,
    pkiDir: string,
  ) {
    this.conn = decl.bridge === 'opcua' ? new OpcuaConnection(decl.opcua!, pkiDir) : new ModbusConnection(decl.endpoint);
    this.sunspec = decl.sunspec && this.conn instanceof ModbusConnection ? new SunSpecDevice(this.conn) : undefined;
    this.state = {
      id: decl.id,
      nature: decl.nature,
      range: controllableRange(decl.nature, decl.ratedW),
      responseTimeS: decl.responseTimeS ?? NATURES[decl.nature].responseTimeS,
      connection: 'disconnected', lastPollAt: null, lastError: null, latest: {}, following: null, lastSetpoint: null, requests: 0, failures: 0 };
  }

  async #ensureScan(): Promise<void> {
    if (this.sunspec && !this.#scanned) {
      await this.sunspec.scan();
      this.#scanned = true;
    }
  }

  /** Reads the nature's readings, in canonical units and the grid sign convention. */
  async read(): Promise<Record<string, number | null>> {
    if (this.conn instanceof OpcuaConnection) {
      const entries = Object.entries(this.decl.nodes!.readings);
      const values = await this.conn.read(entries.map(([, n]) => n.nodeId));
      return Object.fromEntries(entries.map(([name, n], i) => [name, values[i]! * n.scale]));
    }
    await this.#ensureScan();
    const out: Record<string, number | null> = {};
    if (this.sunspec) {
      const has = (id: number) => this.sunspec!.models.some((m) => m.id === id);
      if (this.decl.nature === 'PvInverter') {
        const inv = await this.sunspec.read([101, 102, 103].find(has) ?? 103);
        out.activePower = inv.W === null ? null : -(inv.W as number); // production is export
        out.energyExport = inv.WH as number | null;
      } else if (this.decl.nature === 'Battery') {
        // Model 124 carries no measured power: a battery's effect is seen in its state of charge.
        const st = await this.sunspec.read(124);
        out.soc = st.ChaState as number | null;
      } else {
        const m = await this.sunspec.read([201, 202, 203, 204].find(has) ?? 203);
        out.activePower = m.W as number | null;
        out.energyImport = m.TotWhImp as number | null;
        out.energyExport = m.TotWhExp as number | null;
        out.voltage = m.PhV as number | null;
      }
      return out;
    }
    for (const [name, r] of Object.entries(this.decl.map!.readings)) out[name] = await this.#readRegister(r);
    return out;
  }

  async #readRegister(r: RegisterSpec): Promise<number> {
    const n = REGISTER_SIZE[r.type];
    const conn = this.conn as ModbusConnection;
    const regs = r.kind === 'holding' ? await conn.readHolding(r.address, n) : await conn.readInput(r.address, n);
    return decodeRegisters(regs, r.type, r.wordOrder) * r.scale;
  }

  /** Writes a set point and reads it back. */
  async write(name: string, value: number): Promise<number | null> {
    await this.#ensureScan();
    const nature = NATURES[this.decl.nature];
    if (!nature.setpoints.some((s) => s.name === name)) throw new GfError(DeviceErrors.GF_DEVICE_UNKNOWN_POINT, `${this.decl.nature} takes no set point '${name}'`, { data: { setpoint: name } });
    if (this.conn instanceof OpcuaConnection) {
      const n = this.decl.nodes!.setpoints[name];
      if (!n) throw new GfError(DeviceErrors.GF_DEVICE_UNKNOWN_POINT, `no node for set point '${name}' in the map`, { data: { setpoint: name } });
      if (name === 'curtailmentPct' && !(value >= 0 && value <= 100)) throw bad('value', 'curtailmentPct is 0 to 100');
      await this.conn.write(n.nodeId, value / n.scale);
      return (await this.conn.read([n.nodeId]))[0]! * n.scale;
    }
    if (this.sunspec) {
      if (this.decl.nature === 'PvInverter') {
        if (!(value >= 0 && value <= 100)) throw bad('value', 'curtailmentPct is 0 to 100');
        await this.sunspec.write(123, 'WMaxLimPct', value);
        await this.sunspec.write(123, 'WMaxLim_Ena', value >= 100 ? 0 : 1);
        return (await this.sunspec.read(123)).WMaxLimPct as number | null;
      }
      // Battery: positive = charge. Rates are % of WChaMax.
      const st = await this.sunspec.read(124);
      const max = (st.WChaMax as number) || this.decl.ratedW;
      if (Math.abs(value) > max) throw bad('value', `powerW is within ±${max} W`);
      const pct = Math.round((100 * Math.abs(value)) / max);
      await this.sunspec.write(124, 'InWRte', value > 0 ? pct : 0);
      await this.sunspec.write(124, 'OutWRte', value < 0 ? pct : 0);
      const back = await this.sunspec.read(124);
      return (max * (((back.InWRte as number) ?? 0) - ((back.OutWRte as number) ?? 0))) / 100;
    }
    const r = this.decl.map!.setpoints[name];
    if (!r) throw new GfError(DeviceErrors.GF_DEVICE_UNKNOWN_POINT, `no register for set point '${name}' in the map`, { data: { setpoint: name } });
    let regs: number[];
    try {
      regs = encodeRegisters(r.type === 'float32' ? value / r.scale : Math.round(value / r.scale), r.type, r.wordOrder);
    } catch (e) {
      throw bad('value', (e as Error).message);
    }
    await (this.conn as ModbusConnection).writeHolding(r.address, regs);
    return this.#readRegister(r);
  }

  start(poll: () => Promise<void>, onChange: (name: string, value: number) => void): void {
    this.#timer = setInterval(() => void poll(), this.decl.pollSeconds * 1000);
    this.#timer.unref();
    if (this.conn instanceof OpcuaConnection) {
      const byNode = new Map(Object.entries(this.decl.nodes!.readings).map(([name, n]) => [n.nodeId, { name, scale: n.scale }]));
      this.conn.subscribe([...byNode.keys()], (nodeId, v) => onChange(byNode.get(nodeId)!.name, v * byNode.get(nodeId)!.scale)).catch(() => undefined);
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    void this.conn.close();
  }
}

/**
 * The device registry: declared devices (config or API), each polled at its rate into the time-series store
 * (meter id = device id, instantaneous samples), set points written, read back and checked for effect after the
 * device's response time (a device that does not follow is flagged).
 */
export class DeviceManager {
  readonly #devices = new Map<string, Device>();

  constructor(
    private readonly store: () => TimeSeriesStore,
    private readonly log: Logger,
    private readonly onState?: (s: DeviceState) => void,
    private readonly pkiDir = 'pki',
  ) {}

  add(decl: DeviceDecl, start = true): DeviceState {
    checkDecl(decl);
    if (this.#devices.has(decl.id)) throw new GfError(DeviceErrors.GF_DEVICE_BAD_MAP, `id: a device '${decl.id}' exists`, { data: { field: 'id' } });
    const d = new Device(decl, this.pkiDir);
    this.#devices.set(decl.id, d);
    if (start) {
      d.start(
        () => this.poll(decl.id).then(() => undefined, () => undefined),
        (name, value) => void this.#changed(d, name, value),
      );
    }
    return d.state;
  }

  /** A monitored item changed (OPC UA): the new value is stored at once. */
  async #changed(d: Device, name: string, value: number): Promise<void> {
    const r = NATURES[d.decl.nature].readings.find((x) => x.name === name);
    if (!r || !Number.isFinite(value)) return;
    d.state.latest = { ...d.state.latest, [name]: value };
    await this.store()
      .write([{ meterId: d.decl.id, quantity: r.quantity, unit: unitOf(r.quantity), ts: Date.now(), value, resolutionS: 0 }], { onConflict: 'replace' })
      .catch((err) => this.log.warn({ err, device: d.decl.id }, 'storing a monitored value failed'));
  }

  get(id: string): Device {
    const d = this.#devices.get(id);
    if (!d) throw new GfError(DeviceErrors.GF_DEVICE_UNKNOWN_POINT, `no device '${id}'`, { data: { device: id } });
    return d;
  }

  states(): DeviceState[] {
    return [...this.#devices.values()].map((d) => this.#refresh(d));
  }

  #refresh(d: Device): DeviceState {
    d.state.connection = d.conn.state;
    d.state.requests = d.conn.requests;
    d.state.failures = d.conn.failures;
    this.onState?.(d.state);
    return d.state;
  }

  /** Reads a device once and stores its readings. */
  async poll(id: string): Promise<Record<string, number | null>> {
    const d = this.get(id);
    try {
      const values = await d.read();
      const now = Date.now();
      const nature = NATURES[d.decl.nature];
      const readings: ReadingInput[] = [];
      for (const r of nature.readings) {
        const v = values[r.name];
        if (typeof v !== 'number' || !Number.isFinite(v)) continue;
        readings.push({ meterId: d.decl.id, quantity: r.quantity, unit: unitOf(r.quantity), ts: now, value: v, resolutionS: 0 });
      }
      if (readings.length) await this.store().write(readings, { onConflict: 'replace' });
      d.state.latest = values;
      d.state.lastPollAt = new Date(now).toISOString();
      d.state.lastError = null;
      return values;
    } catch (e) {
      d.state.lastError = (e as Error).message;
      throw e;
    } finally {
      this.#refresh(d);
    }
  }

  /** Writes a set point, reads it back, waits the response time and checks the device followed. */
  async setpoint(id: string, name: string, value: number): Promise<DeviceState['lastSetpoint']> {
    const d = this.get(id);
    if (typeof value !== 'number' || !Number.isFinite(value)) throw bad('value', 'a number');
    const before = name === 'powerW' && d.decl.nature === 'Battery' ? (await this.poll(id)).soc : undefined;
    const readBack = await d.write(name, value);
    const sp: NonNullable<DeviceState['lastSetpoint']> = { name, value, at: new Date().toISOString(), readBack, following: null };
    d.state.lastSetpoint = sp;
    const wait = (d.decl.responseTimeS ?? NATURES[d.decl.nature].responseTimeS) * 1000;
    await new Promise((r) => setTimeout(r, wait));
    const now = await this.poll(id);
    sp.following = before !== undefined ? batteryFollows(value, before, now.soc) : follows(d.decl, name, value, now);
    d.state.following = sp.following;
    if (!sp.following) this.log.warn({ device: id, setpoint: name, value, readings: now }, 'device did not follow its set point');
    this.#refresh(d);
    return sp;
  }

  /**
   * The control loop's last step: an event signal becomes a set point on every device (or the given ones) whose
   * nature has something to do with it; each is written, read back and verified.
   */
  async applySignal(signal: SignalType | 'NEUTRAL', value: number, ids?: readonly string[], bands?: PriceBands): Promise<{ device: string; setpoint?: string; value?: number; following?: boolean | null; error?: string }[]> {
    const out: { device: string; setpoint?: string; value?: number; following?: boolean | null; error?: string }[] = [];
    const targets = ids ? ids.map((id) => this.get(id)) : [...this.#devices.values()];
    await Promise.all(
      targets.map(async (d) => {
        const facts = { nature: d.decl.nature, ratedW: d.decl.ratedW };
        const sp = signal === 'NEUTRAL' ? neutralSetpoint(facts) : setpointFor(signal, value, facts, bands);
        if (!sp) {
          out.push({ device: d.decl.id });
          return;
        }
        try {
          const r = await this.setpoint(d.decl.id, sp.name, sp.value);
          out.push({ device: d.decl.id, setpoint: sp.name, value: sp.value, following: r?.following ?? null });
        } catch (e) {
          out.push({ device: d.decl.id, setpoint: sp.name, value: sp.value, error: (e as Error).message });
        }
      }),
    );
    return out.sort((a, b) => a.device.localeCompare(b.device));
  }

  stop(): void {
    for (const d of this.#devices.values()) d.stop();
  }
}

function unitOf(q: string): string {
  return ({ activePower: 'W', energyImport: 'Wh', energyExport: 'Wh', voltage: 'V', soc: '%', current: 'A' } as Record<string, string>)[q] ?? '';
}

/** A battery followed when its state of charge moved the way it was told (or held still at zero power). */
function batteryFollows(value: number, before: number | null | undefined, after: number | null | undefined): boolean {
  if (typeof before !== 'number' || typeof after !== 'number') return false;
  if (value > 0) return after > before || after >= 100;
  if (value < 0) return after < before || after <= 0;
  return Math.abs(after - before) < 1;
}

/** Did the device do what it was told? 5 % of its rating is the tolerance. */
function follows(decl: DeviceDecl, name: string, value: number, now: Record<string, number | null>): boolean {
  const tol = 0.05 * decl.ratedW;
  const p = now.activePower;
  if (typeof p !== 'number') return false;
  if (name === 'curtailmentPct') return -p <= (decl.ratedW * value) / 100 + tol; // output (export) within the limit
  if (name === 'powerW' || name === 'limitW') return name === 'limitW' ? p <= value + tol : Math.abs(p - value) <= tol;
  if (name === 'on') return value ? p > tol : p <= tol;
  return true;
}
