import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfigOrThrow } from '../../core/config/config.js';
import { createLogger } from '../../core/index.js';
import { startServer } from '../../core/server.js';
import { SunSpecSimulator } from './simulators/sunspec-server.js';
import { OPERATOR, OPERATOR_ENV } from '../../core/testing/operator.js';

describe('devices plugin: registry, polling into the time-series store, set points verified', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-devices-'));
  const sims: SunSpecSimulator[] = [];
  let server: Awaited<ReturnType<typeof startServer>>;
  let pv: SunSpecSimulator;
  let faulty: SunSpecSimulator;
  let battery: SunSpecSimulator;
  let meter: SunSpecSimulator;
  const api = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(`${server.url}${p}`, { method, headers: { ...OPERATOR, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, body: text.startsWith('{') || text.startsWith('[') ? (JSON.parse(text) as any) : text };
  };

  before(async () => {
    pv = await new SunSpecSimulator({ kind: 'pv', ratedW: 5000, irradiance: 800 }).start();
    faulty = await new SunSpecSimulator({ kind: 'pv', ratedW: 5000, irradiance: 800, ignoreLimits: true }).start();
    battery = await new SunSpecSimulator({ kind: 'battery', ratedW: 3000, capacityWh: 10 }).start();
    meter = await new SunSpecSimulator({ kind: 'meter', loadW: () => 1500, pvW: () => 500 }).start();
    sims.push(pv, faulty, battery, meter);
    const config = loadConfigOrThrow({ env: { ...OPERATOR_ENV }, overrides: { port: 0, dataDir: path.join(dir, 'data') } });
    config.plugins.devices = { enabled: true, config: { devices: [{ id: 'roof', nature: 'PvInverter', sunspec: true, ratedW: 5000, pollSeconds: 60, responseTimeS: 0, endpoint: { port: pv.port } }] } };
    server = await startServer({ config, log: createLogger({ level: 'silent' }) });
  });
  after(async () => {
    await server?.close();
    for (const s of sims) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes devices from config and the API, and refuses bad maps naming the field', async () => {
    assert.equal((await api('POST', '/api/devices', { id: 'old-pv', nature: 'PvInverter', sunspec: true, ratedW: 5000, pollSeconds: 60, responseTimeS: 0, endpoint: { port: faulty.port } })).status, 201);
    assert.equal((await api('POST', '/api/devices', { id: 'home-battery', nature: 'Battery', sunspec: true, ratedW: 3000, pollSeconds: 60, responseTimeS: 1.2, endpoint: { port: battery.port } })).status, 201);
    // A plain register map: the meter's net power is the int16 at 40088 (model 203 at 40070, W at offset 18).
    const mapped = await api('POST', '/api/devices', { id: 'grid', nature: 'ElectricityMeter', ratedW: 20000, pollSeconds: 60, endpoint: { port: meter.port }, map: { readings: { activePower: { address: 40088, type: 'int16' } } } });
    assert.equal(mapped.status, 201, JSON.stringify(mapped.body));
    const cases: [unknown, string][] = [
      [{ id: 'x1', nature: 'ElectricityMeter', ratedW: 1, endpoint: { port: meter.port }, map: { readings: { activePower: { address: 1, type: 'int8' } } } }, 'map.readings.activePower.type'],
      [{ id: 'x2', nature: 'ElectricityMeter', ratedW: 1, endpoint: { port: meter.port }, map: { readings: { temperature: { address: 1, type: 'int16' } } } }, 'map.readings.temperature'],
      [{ id: 'x3', nature: 'Toaster', ratedW: 1, endpoint: { port: 1 } }, 'nature'],
      [{ id: 'x4', nature: 'FlexibleLoad', ratedW: 1, sunspec: true, endpoint: { port: 1 } }, 'sunspec'],
      [{ id: 'roof', nature: 'PvInverter', ratedW: 1, sunspec: true, endpoint: { port: 1 } }, 'id'],
      [{ id: 'x5', nature: 'PvInverter', ratedW: 1, sunspec: true, endpoint: { port: 70000 } }, 'endpoint.port'],
    ];
    for (const [body, field] of cases) {
      const r = await api('POST', '/api/devices', body);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.code, 'GF_DEVICE_BAD_MAP');
      assert.equal(r.body.field, field);
    }
  });

  it('polls devices into the time-series store in canonical units, grid sign convention', async () => {
    const r = await api('POST', '/api/devices/roof/poll');
    assert.equal(r.body.activePower, -4000, 'production is export: negative');
    const g = await api('POST', '/api/devices/grid/poll');
    assert.equal(g.body.activePower, 1000, 'net import positive');
    const from = new Date(Date.now() - 60_000).toISOString();
    const to = new Date(Date.now() + 60_000).toISOString();
    const stored = await api('GET', `/api/readings?meter=roof&quantity=activePower&from=${from}&to=${to}`);
    assert.equal(stored.status, 200, JSON.stringify(stored.body));
    assert.equal(stored.body.series[0].values.at(-1), -4000);
  });

  it('writes set points, reads them back and flags a device that does not follow', async () => {
    const ok = await api('POST', '/api/devices/roof/setpoints', { name: 'curtailmentPct', value: 40 });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual([ok.body.readBack, ok.body.following], [40, true]);
    assert.equal((await api('POST', '/api/devices/roof/poll')).body.activePower, -2000);
    const bad = await api('POST', '/api/devices/old-pv/setpoints', { name: 'curtailmentPct', value: 40 });
    assert.deepEqual([bad.body.readBack, bad.body.following], [40, false], 'it accepted the limit but kept producing 4 kW');
    const charge = await api('POST', '/api/devices/home-battery/setpoints', { name: 'powerW', value: 3000 });
    assert.equal(charge.body.following, true, JSON.stringify(charge.body));
    assert.equal(charge.body.readBack, 3000);
    assert.equal((await api('POST', '/api/devices/roof/setpoints', { name: 'powerW', value: 1 })).body.code, 'GF_DEVICE_UNKNOWN_POINT');
    assert.equal((await api('POST', '/api/devices/roof/setpoints', { name: 'curtailmentPct', value: 140 })).body.field, 'value');
    const states = (await api('GET', '/api/devices')).body as any[];
    assert.equal(states.find((s) => s.id === 'old-pv').following, false);
    assert.deepEqual(states.find((s) => s.id === 'home-battery').range, { minW: -3000, maxW: 3000 });
    assert.deepEqual(states.find((s) => s.id === 'roof').range, { minW: -5000, maxW: 0 });
    assert.equal(states.find((s) => s.id === 'home-battery').responseTimeS, 1.2);
    const metrics = (await api('GET', '/metrics')).body as string;
    assert.match(metrics, /gridflex_device_connected\{device="roof"\} 1/);
    assert.match(metrics, /gridflex_device_following\{device="old-pv"\} 0/);
  });

  it('turns an event signal into set points on the devices it concerns, each verified', async () => {
    const r = await api('POST', '/api/devices/signals', { type: 'EXPORT_CAPACITY_LIMIT', value: 1000, devices: ['roof', 'home-battery', 'grid'] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.map((x: any) => [x.device, x.setpoint ?? null, x.value ?? null]), [['grid', null, null], ['home-battery', 'powerW', 3000], ['roof', 'curtailmentPct', 20]]);
    assert.equal(r.body.find((x: any) => x.device === 'roof').following, true);
    assert.equal((await api('POST', '/api/devices/roof/poll')).body.activePower, -1000, 'export held to the 1 kW limit');
    assert.equal((await api('POST', '/api/devices/signals', { type: 'FREQUENCY', value: 1 })).body.field, 'type');
  });

  it('reports an unreachable device in its state and metrics', async () => {
    assert.equal((await api('POST', '/api/devices', { id: 'gone', nature: 'ElectricityMeter', ratedW: 1, pollSeconds: 60, sunspec: true, endpoint: { port: 9, retries: 0, timeoutMs: 500 } })).status, 201);
    const r = await api('POST', '/api/devices/gone/poll');
    assert.equal(r.status, 503);
    assert.equal(r.body.code, 'GF_DEVICE_UNREACHABLE');
    const s = (await api('GET', '/api/devices/gone')).body;
    assert.equal(s.connection, 'disconnected');
    assert.match(s.lastError, /unreachable/);
    assert.match((await api('GET', '/metrics')).body as string, /gridflex_device_connected\{device="gone"\} 0/);
  });
});
