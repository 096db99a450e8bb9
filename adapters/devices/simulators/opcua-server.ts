import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { OPCUAServer, Variant } from 'node-opcua';
import { loadOpcua } from '../opcua-loader.js';
import { clearSkyGhi, type Site } from '../../../core/domain/solar.js';

/**
 * An OPC UA server (node-opcua) with simulated devices under Objects, node ids `ns=1;s=<device>.<Variable>`:
 * `pv` (ActivePower W as produced, EnergyExport Wh, CurtailmentPct writable: output follows the clear sky or a
 * fixed irradiance, capped by the curtailment) and `battery` (Soc %, PowerSetpoint W writable: charging positive,
 * the state of charge integrates it). Certificates live in a folder of its own. Optional user/password login.
 */
export interface OpcuaSimOptions {
  port?: number;
  ratedW?: number;
  capacityWh?: number;
  irradiance?: number;
  site?: Site;
  users?: Record<string, string>;
  pkiDir?: string;
}

export class OpcuaSimulator {
  #server: OPCUAServer | undefined;
  #timer: NodeJS.Timeout | undefined;
  #last = Date.now();
  pvW = 0;
  energyWh = 0;
  curtailmentPct = 100;
  soc = 50;
  batteryW = 0;
  port = 0;

  constructor(private readonly o: OpcuaSimOptions = {}) {}

  get endpointUrl(): string {
    return `opc.tcp://127.0.0.1:${this.port}`;
  }

  #step(): void {
    const now = Date.now();
    const h = (now - this.#last) / 3600_000;
    this.#last = now;
    const rated = this.o.ratedW ?? 5000;
    const ghi = this.o.irradiance ?? clearSkyGhi(this.o.site ?? { latitude: 48.1, longitude: 11.6 }, now);
    this.pvW = Math.round(Math.min((rated * ghi) / 1000, (rated * this.curtailmentPct) / 100));
    this.energyWh += this.pvW * h;
    const cap = this.o.capacityWh ?? 10_000;
    let w = this.batteryW;
    if ((w > 0 && this.soc >= 100) || (w < 0 && this.soc <= 0)) w = 0;
    this.soc = Math.max(0, Math.min(100, this.soc + (100 * w * h) / cap));
  }

  async start(port: number): Promise<this> {
    this.port = port;
    const dir = this.o.pkiDir ?? mkdtempSync(path.join(os.tmpdir(), 'gf-opcua-sim-'));
    const users = this.o.users;
    const { DataType, OPCUACertificateManager, OPCUAServer: Server, StatusCodes, Variant: V } = await loadOpcua();
    const server = new Server({
      port,
      hostname: '127.0.0.1',
      maxConnectionsPerEndpoint: 500,
      serverCapabilities: { maxSessions: 500, maxSubscriptions: 1000, maxSubscriptionsPerSession: 10 },
      serverCertificateManager: new OPCUACertificateManager({ rootFolder: path.join(dir, 'server'), automaticallyAcceptUnknownCertificate: true }),
      userCertificateManager: new OPCUACertificateManager({ rootFolder: path.join(dir, 'user'), automaticallyAcceptUnknownCertificate: true }),
      ...(users ? { userManager: { isValidUser: (u: string, p: string) => users[u] === p }, allowAnonymous: false } : {}),
    } as never);
    await server.initialize();
    const as = server.engine.addressSpace!;
    const ns = as.getOwnNamespace();
    const num = (get: () => number, set?: (v: number) => void) => ({
      get: () => {
        this.#step();
        return new V({ dataType: DataType.Double, value: get() });
      },
      ...(set
        ? {
            set: (v: Variant) => {
              this.#step();
              set(Number(v.value));
              this.#step();
              return StatusCodes.Good;
            },
          }
        : {}),
    });
    const pv = ns.addObject({ organizedBy: as.rootFolder.objects, browseName: 'pv' });
    ns.addVariable({ componentOf: pv, browseName: 'ActivePower', nodeId: 's=pv.ActivePower', dataType: 'Double', minimumSamplingInterval: 250, value: num(() => this.pvW) });
    ns.addVariable({ componentOf: pv, browseName: 'EnergyExport', nodeId: 's=pv.EnergyExport', dataType: 'Double', minimumSamplingInterval: 250, value: num(() => Math.round(this.energyWh)) });
    ns.addVariable({ componentOf: pv, browseName: 'CurtailmentPct', nodeId: 's=pv.CurtailmentPct', dataType: 'Double', minimumSamplingInterval: 250, accessLevel: 'CurrentRead | CurrentWrite', userAccessLevel: 'CurrentRead | CurrentWrite', value: num(() => this.curtailmentPct, (v) => (this.curtailmentPct = Math.max(0, Math.min(100, v)))) } as never);
    const bat = ns.addObject({ organizedBy: as.rootFolder.objects, browseName: 'battery' });
    ns.addVariable({ componentOf: bat, browseName: 'Soc', nodeId: 's=battery.Soc', dataType: 'Double', minimumSamplingInterval: 250, value: num(() => Math.round(this.soc * 100) / 100) });
    ns.addVariable({ componentOf: bat, browseName: 'PowerSetpoint', nodeId: 's=battery.PowerSetpoint', dataType: 'Double', minimumSamplingInterval: 250, accessLevel: 'CurrentRead | CurrentWrite', userAccessLevel: 'CurrentRead | CurrentWrite', value: num(() => this.batteryW, (v) => (this.batteryW = v)) } as never);
    await server.start();
    this.#server = server;
    this.#timer = setInterval(() => this.#step(), 500);
    this.#timer.unref();
    return this;
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#server?.shutdown(0);
    this.#server = undefined;
  }
}
