/**
 * Device benchmarks (issue 5, Modbus part): 100 simulated SunSpec devices polled every second through the
 * Modbus TCP bridge into the time-series store (PGlite), and the latency from a set-point request to its read-back.
 */
import { createLogger } from '../core/index.js';
import { DeviceManager } from '../adapters/devices/manager.js';
import { SunSpecSimulator } from '../adapters/devices/simulators/sunspec-server.js';
import { OpcuaSimulator } from '../adapters/devices/simulators/opcua-server.js';
import type { Row } from './openadr3.js';

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });

export async function benchDevices(): Promise<Row[]> {
  const { openTestLedger } = await import('../adapters/ledger/testing/harness.js'); // a PGlite storage in a temp folder
  const t = await openTestLedger();
  const sims: SunSpecSimulator[] = [];
  const rows: Row[] = [];
  let manager: DeviceManager | undefined;
  try {
    for (let i = 0; i < 100; i++) sims.push(await new SunSpecSimulator({ kind: i % 2 ? 'pv' : 'meter', irradiance: 700, ratedW: 5000 }).start());
    manager = new DeviceManager(() => t.storage.readings, createLogger({ level: 'silent' }));
    sims.forEach((s, i) =>
      manager!.add({
        id: `d${i}`,
        nature: i % 2 ? 'PvInverter' : 'ElectricityMeter',
        bridge: 'modbus',
        endpoint: { host: '127.0.0.1', port: s.port, unitId: 1, timeoutMs: 2000, retries: 1 },
        pollSeconds: 1,
        ratedW: 5000,
        responseTimeS: 0,
        sunspec: true,
      }),
    );
    const before = await t.storage.readings.count();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 10_000));
    const secs = (performance.now() - t0) / 1000;
    const stored = (await t.storage.readings.count()) - before;
    const polls = manager.states().filter((s) => s.lastPollAt).length;
    rows.push({ what: 'devices: 100 simulated SunSpec devices (PV and meters) polled every second over Modbus TCP into the embedded store, 10 s', result: `${fmt(stored / secs)} readings/s (${polls} of 100 devices polled, ${fmt(stored)} readings)`, target: '100 devices every second' });
    process.stderr.write(`bench: devices: ${fmt(stored / secs)} readings/s\n`);
    const lat: number[] = [];
    for (let k = 0; k < 20; k++) {
      const s0 = performance.now();
      await manager.setpoint('d1', 'curtailmentPct', k % 2 ? 50 : 100);
      lat.push(performance.now() - s0);
    }
    lat.sort((a, b) => a - b);
    rows.push({ what: 'devices: set point on a SunSpec PV inverter to verified effect (write, read back, poll), p50 / p95 of 20, while 100 devices poll', result: `${fmt(lat[10]!, 1)} ms / ${fmt(lat[18]!, 1)} ms` });
    process.stderr.write(`bench: set point p50 ${fmt(lat[10]!, 1)} ms\n`);
    manager.stop();
    // The same through the OPC UA bridge: 100 devices, one session each, on one simulated server.
    const uaPort = await SunSpecSimulator.freePort();
    const ua = await new OpcuaSimulator({ ratedW: 5000, irradiance: 700 }).start(uaPort);
    try {
      manager = new DeviceManager(() => t.storage.readings, createLogger({ level: 'silent' }), undefined, `${process.env.TMPDIR ?? '/tmp'}/gf-bench-pki`);
      for (let i = 0; i < 100; i++) {
        manager.add({
          id: `u${i}`,
          nature: 'PvInverter',
          bridge: 'opcua',
          endpoint: { host: '127.0.0.1', port: 1, unitId: 1, timeoutMs: 2000, retries: 0 },
          opcua: { endpointUrl: ua.endpointUrl, securityMode: 'None', securityPolicy: 'None', timeoutMs: 5000 },
          nodes: { readings: { activePower: { nodeId: 'ns=1;s=pv.ActivePower', scale: -1 }, energyExport: { nodeId: 'ns=1;s=pv.EnergyExport', scale: 1 } }, setpoints: { curtailmentPct: { nodeId: 'ns=1;s=pv.CurtailmentPct', scale: 1 } } },
          pollSeconds: 1,
          ratedW: 5000,
          responseTimeS: 0,
          sunspec: false,
        });
      }
      await new Promise((r) => setTimeout(r, 5000)); // sessions open and subscriptions start
      const b2 = await t.storage.readings.count();
      const u0 = performance.now();
      await new Promise((r) => setTimeout(r, 10_000));
      const uSecs = (performance.now() - u0) / 1000;
      const uStored = (await t.storage.readings.count()) - b2;
      rows.push({ what: 'devices: 100 OPC UA devices (one session each, readings polled every second and monitored) into the embedded store, 10 s', result: `${fmt(uStored / uSecs)} readings/s` });
      process.stderr.write(`bench: opcua devices: ${fmt(uStored / uSecs)} readings/s\n`);
      const ulat: number[] = [];
      for (let k = 0; k < 20; k++) {
        const s0 = performance.now();
        await manager.setpoint('u1', 'curtailmentPct', k % 2 ? 50 : 100);
        ulat.push(performance.now() - s0);
      }
      ulat.sort((a, b) => a - b);
      rows.push({ what: 'devices: set point on an OPC UA PV inverter to verified effect (write, read back, poll), p50 / p95 of 20, while 100 devices poll', result: `${fmt(ulat[10]!, 1)} ms / ${fmt(ulat[18]!, 1)} ms` });
    } finally {
      manager.stop();
      await ua.stop();
    }
  } finally {
    manager?.stop();
    for (const s of sims) await s.stop();
    await t.close();
  }
  return rows;
}
