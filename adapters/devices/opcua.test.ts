import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfigOrThrow } from '../../core/config/config.js';
import { createLogger } from '../../core/index.js';
import { startServer } from '../../core/server.js';
import { OpcuaSimulator } from './simulators/opcua-server.js';
import { SunSpecSimulator } from './simulators/sunspec-server.js';
import { OPERATOR, OPERATOR_ENV } from '../../core/testing/operator.js';

describe('devices over OPC UA (node-opcua) against the simulator on loopback', function () {
  this.timeout(180_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-opcua-'));
  let sim: OpcuaSimulator;
  let port: number;
  let server: Awaited<ReturnType<typeof startServer>>;
  const api = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(`${server.url}${p}`, { method, headers: { ...OPERATOR, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: res.status, body: (await res.json()) as any };
  };
  const ua = (extra: Record<string, unknown> = {}) => ({ endpointUrl: `opc.tcp://127.0.0.1:${port}`, username: 'operator', password: 'secret', timeoutMs: 3000, ...extra });

  before(async () => {
    port = await SunSpecSimulator.freePort();
    sim = await new OpcuaSimulator({ ratedW: 5000, irradiance: 800, capacityWh: 5, users: { operator: 'secret' }, pkiDir: path.join(dir, 'sim-pki') }).start(port);
    const config = loadConfigOrThrow({ env: { ...OPERATOR_ENV }, overrides: { port: 0, dataDir: path.join(dir, 'data') } });
    config.plugins.devices = {
      enabled: true,
      config: {
        devices: [
          {
            id: 'roof-ua',
            nature: 'PvInverter',
            ratedW: 5000,
            pollSeconds: 60,
            responseTimeS: 0.3,
            opcua: ua(),
            nodes: {
              readings: { activePower: { nodeId: 'ns=1;s=pv.ActivePower', scale: -1 }, energyExport: { nodeId: 'ns=1;s=pv.EnergyExport' } },
              setpoints: { curtailmentPct: { nodeId: 'ns=1;s=pv.CurtailmentPct' } },
            },
          },
        ],
      },
    };
    server = await startServer({ config, log: createLogger({ level: 'silent' }) });
  });
  after(async () => {
    await server?.close();
    await sim?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads mapped nodes with a user login, in the grid sign convention', async () => {
    const r = await api('POST', '/api/devices/roof-ua/poll');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.activePower, -4000);
  });

  it('connects signed and encrypted (Basic256Sha256) with certificates kept under the data folder', async () => {
    const r = await api('POST', '/api/devices', {
      id: 'roof-secure',
      nature: 'PvInverter',
      ratedW: 5000,
      pollSeconds: 60,
      opcua: ua({ securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256' }),
      nodes: { readings: { activePower: { nodeId: 'ns=1;s=pv.ActivePower', scale: -1 } } },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const p = await api('POST', '/api/devices/roof-secure/poll');
    assert.equal(p.status, 200, JSON.stringify(p.body));
    assert.equal(p.body.activePower, -4000);
    const { readdirSync } = await import('node:fs');
    assert.ok(readdirSync(path.join(dir, 'data', 'pki', 'opcua-client')).includes('own'), 'the client certificate is under the data folder');
  });

  it('follows changes through monitored items, without polling', async () => {
    sim.curtailmentPct = 30;
    for (let i = 0; i < 60; i++) {
      const s = (await api('GET', '/api/devices/roof-ua')).body;
      if (s.latest.activePower === -1500) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail('the monitored item did not report the change');
  });

  it('writes set points, reads them back and verifies them; a battery by its state of charge', async () => {
    const sp = await api('POST', '/api/devices/roof-ua/setpoints', { name: 'curtailmentPct', value: 50 });
    assert.deepEqual([sp.body.readBack, sp.body.following], [50, true], JSON.stringify(sp.body));
    assert.equal(sim.curtailmentPct, 50);
    const bat = await api('POST', '/api/devices', {
      id: 'bat-ua',
      nature: 'Battery',
      ratedW: 3000,
      pollSeconds: 60,
      responseTimeS: 1,
      opcua: ua(),
      nodes: { readings: { soc: { nodeId: 'ns=1;s=battery.Soc' } }, setpoints: { powerW: { nodeId: 'ns=1;s=battery.PowerSetpoint' } } },
    });
    assert.equal(bat.status, 201, JSON.stringify(bat.body));
    const charge = await api('POST', '/api/devices/bat-ua/setpoints', { name: 'powerW', value: 3000 });
    assert.equal(charge.body.following, true, JSON.stringify(charge.body));
  });

  it('refuses bad node ids, reports unknown nodes, wrong logins and unreachable servers with coded errors', async () => {
    const bad = await api('POST', '/api/devices', { id: 'x', nature: 'PvInverter', ratedW: 1, opcua: ua(), nodes: { readings: { activePower: { nodeId: 'pv.ActivePower' } } } });
    assert.equal(bad.body.field, 'nodes.readings.activePower.nodeId');
    const badMode = await api('POST', '/api/devices', { id: 'y', nature: 'PvInverter', ratedW: 1, opcua: ua({ securityMode: 'SignAndEncrypt' }), nodes: { readings: {} } });
    assert.equal(badMode.body.field, 'opcua.securityPolicy');
    await api('POST', '/api/devices', { id: 'ghost', nature: 'ElectricityMeter', ratedW: 1, pollSeconds: 60, opcua: ua(), nodes: { readings: { activePower: { nodeId: 'ns=1;s=nope' } } } });
    const ghost = await api('POST', '/api/devices/ghost/poll');
    assert.equal(ghost.body.code, 'GF_DEVICE_REFUSED');
    assert.match(ghost.body.detail, /ns=1;s=nope: BadNodeIdUnknown/);
    await api('POST', '/api/devices', { id: 'intruder', nature: 'ElectricityMeter', ratedW: 1, pollSeconds: 60, opcua: ua({ password: 'guess' }), nodes: { readings: { activePower: { nodeId: 'ns=1;s=pv.ActivePower' } } } });
    assert.equal((await api('POST', '/api/devices/intruder/poll')).body.code, 'GF_DEVICE_REFUSED');
    await api('POST', '/api/devices', { id: 'far', nature: 'ElectricityMeter', ratedW: 1, pollSeconds: 60, opcua: ua({ endpointUrl: 'opc.tcp://127.0.0.1:9' }), nodes: { readings: { activePower: { nodeId: 'ns=1;s=pv.ActivePower' } } } });
    assert.equal((await api('POST', '/api/devices/far/poll')).body.code, 'GF_DEVICE_UNREACHABLE');
  });

  it('reconnects after the OPC UA server restarts', async () => {
    await sim.stop();
    assert.ok([502, 503, 504].includes((await api('POST', '/api/devices/roof-ua/poll')).status));
    sim = await new OpcuaSimulator({ ratedW: 5000, irradiance: 800, users: { operator: 'secret' }, pkiDir: path.join(dir, 'sim-pki') }).start(port);
    const r = await api('POST', '/api/devices/roof-ua/poll');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.activePower, -4000);
  });
});
