import { parseArgs } from 'node:util';
import { GfError, KernelErrors, type PluginCommand } from '../../core/index.js';
import type { DevicesConfig } from './config.js';
import { OpcuaSimulator } from './simulators/opcua-server.js';
import { SunSpecSimulator } from './simulators/sunspec-server.js';

const USAGE = `Usage: gridflex simulate [--modbus-port N] [--opcua-port N] [--latitude D --longitude D]

Starts simulated devices for demos and tests, until Ctrl-C: three Modbus TCP SunSpec devices on consecutive
ports from --modbus-port (default 15020): a 5 kW PV inverter (models 1, 103, 123), a 3 kW / 10 kWh battery
(1, 124) and a grid meter (1, 203, net of a 1.5 kW load and the PV); and an OPC UA server on --opcua-port
(default 4840) with pv.* and battery.* nodes. PV follows the clear sky at the given site (default Munich).
Prints a device declaration for each, ready for POST /api/devices.`;

function port(v: string | undefined, name: string, def: number): number {
  if (v === undefined) return def;
  if (!/^\d{1,5}$/.test(v) || Number(v) < 1 || Number(v) > 65533) throw new GfError(KernelErrors.GF_CLI_USAGE, `--${name} must be a port from 1 to 65533`);
  return Number(v);
}

/** `gridflex simulate`: the simulators as a standalone process. */
export const simulateCommand: PluginCommand<DevicesConfig> = {
  summary: 'run simulated PV, battery and meter devices (Modbus/SunSpec and OPC UA) for demos',
  usage: USAGE,
  async runStandalone(argv, io) {
    let v;
    try {
      v = parseArgs({ args: argv, options: { 'modbus-port': { type: 'string' }, 'opcua-port': { type: 'string' }, latitude: { type: 'string' }, longitude: { type: 'string' }, data: { type: 'string' }, config: { type: 'string' } }, strict: true }).values;
    } catch (e) {
      throw new GfError(KernelErrors.GF_CLI_USAGE, (e as Error).message.split('\n')[0]!);
    }
    const mb = port(v['modbus-port'], 'modbus-port', 15020);
    const up = port(v['opcua-port'], 'opcua-port', 4840);
    const lat = v.latitude === undefined ? 48.1 : Number(v.latitude);
    const lon = v.longitude === undefined ? 11.6 : Number(v.longitude);
    if (!(lat >= -90 && lat <= 90) || !(lon >= -180 && lon <= 180)) throw new GfError(KernelErrors.GF_CLI_USAGE, '--latitude is -90..90 and --longitude -180..180');
    const site = { latitude: lat, longitude: lon };
    const pv = await new SunSpecSimulator({ kind: 'pv', port: mb, ratedW: 5000, site }).start();
    const battery = await new SunSpecSimulator({ kind: 'battery', port: mb + 1, ratedW: 3000, capacityWh: 10_000 }).start();
    const meter = await new SunSpecSimulator({ kind: 'meter', port: mb + 2, loadW: () => 1500, pvW: () => pv.pvPowerW() }).start();
    const ua = await new OpcuaSimulator({ ratedW: 5000, site }).start(up);
    const decls = [
      { id: 'sim-pv', nature: 'PvInverter', ratedW: 5000, sunspec: true, endpoint: { host: '127.0.0.1', port: mb } },
      { id: 'sim-battery', nature: 'Battery', ratedW: 3000, sunspec: true, endpoint: { host: '127.0.0.1', port: mb + 1 } },
      { id: 'sim-meter', nature: 'ElectricityMeter', ratedW: 20000, sunspec: true, endpoint: { host: '127.0.0.1', port: mb + 2 } },
      {
        id: 'sim-pv-ua',
        nature: 'PvInverter',
        ratedW: 5000,
        opcua: { endpointUrl: ua.endpointUrl },
        nodes: { readings: { activePower: { nodeId: 'ns=1;s=pv.ActivePower', scale: -1 }, energyExport: { nodeId: 'ns=1;s=pv.EnergyExport' } }, setpoints: { curtailmentPct: { nodeId: 'ns=1;s=pv.CurtailmentPct' } } },
      },
    ];
    for (const d of decls) io.out(JSON.stringify(d));
    io.err(`simulating: Modbus/SunSpec on 127.0.0.1:${mb}-${mb + 2}, OPC UA at ${ua.endpointUrl}; Ctrl-C stops`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await Promise.all([pv.stop(), battery.stop(), meter.stop(), ua.stop()]);
    return 0;
  },
  async run() {
    throw new GfError(KernelErrors.GF_CLI_USAGE, 'simulate runs on its own');
  },
};
