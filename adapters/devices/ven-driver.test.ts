import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfigOrThrow } from '../../core/config/config.js';
import { createLogger } from '../../core/index.js';
import { startServer } from '../../core/server.js';
import { DeviceManagerToken } from './index.js';
import { SunSpecSimulator } from './simulators/sunspec-server.js';
import { activePayloads, VenDeviceDriver } from './ven-driver.js';
import { OPERATOR_ENV } from '../../core/testing/operator.js';

describe('devices: an OpenADR 3.1 event through the VEN to a device and back', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-ven-devices-'));
  let pv: SunSpecSimulator;
  let server: Awaited<ReturnType<typeof startServer>>;
  let driver: VenDeviceDriver | undefined;
  after(async () => {
    await driver?.stop();
    await server?.close();
    await pv?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('curtails the PV inverter while an export-limit event is active, then releases it', async () => {
    pv = await new SunSpecSimulator({ kind: 'pv', ratedW: 5000, irradiance: 800 }).start();
    const config = loadConfigOrThrow({ env: { ...OPERATOR_ENV }, overrides: { port: 0, dataDir: path.join(dir, 'data') } });
    config.plugins.openadr3 = {
      enabled: true,
      config: {
        clients: [
          { clientId: 'utility', clientSecret: 'utility-secret-1', role: 'bl', name: 'Utility' },
          { clientId: 'site-7', clientSecret: 'site-7-secret-1', role: 'ven', name: 'Site 7' },
        ],
      },
    };
    config.plugins.devices = { enabled: true, config: { devices: [{ id: 'roof', nature: 'PvInverter', sunspec: true, ratedW: 5000, pollSeconds: 60, responseTimeS: 0, endpoint: { port: pv.port } }] } };
    server = await startServer({ config, log: createLogger({ level: 'silent' }) });
    const base = `${server.url}/openadr3/3.1.0`;
    const manager = server.host.resolve(DeviceManagerToken);
    driver = new VenDeviceDriver({ vtnUrl: base, clientId: 'site-7', clientSecret: 'site-7-secret-1', venName: 'site-7', notify: 'poll', pollMs: 300 }, manager, createLogger({ level: 'silent' }));
    await driver.start();
    const tok = (await (await fetch(`${base}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&client_id=utility&client_secret=utility-secret-1' })).json()) as { access_token: string };
    const bl = (p: string, body: unknown) => fetch(`${base}${p}`, { method: 'POST', headers: { authorization: `Bearer ${tok.access_token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.json() as Promise<{ id: string }>);
    const program = await bl('/programs', { programName: 'feeder-7-limits' });
    const start = new Date(Date.now() + 500).toISOString();
    await bl('/events', { programID: program.id, eventName: 'export limit', intervalPeriod: { start, duration: 'PT4S' }, intervals: [{ id: 0, payloads: [{ type: 'EXPORT_CAPACITY_LIMIT', values: [1] }] }] });
    const power = async () => (await manager.poll('roof')).activePower;
    let during: number | null | undefined;
    for (let i = 0; i < 60 && during !== -1000; i++) {
      await new Promise((r) => setTimeout(r, 100));
      during = await power();
    }
    assert.equal(during, -1000, 'export held to 1 kW while the event is active');
    let after: number | null | undefined;
    for (let i = 0; i < 100 && after !== -4000; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await power();
    }
    assert.equal(after, -4000, 'released when the event completed');
    // The inverter follows the set point before the driver has verified it and recorded the release.
    for (let i = 0; i < 50 && driver.applied.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(driver.applied.map((a) => a.type), ['EXPORT_CAPACITY_LIMIT', 'release']);
  });

  it('runs from config: a VEN in the devices plugin follows another server\'s VTN', async () => {
    const vtnConfig = loadConfigOrThrow({ env: { ...OPERATOR_ENV }, overrides: { port: 0, dataDir: path.join(dir, 'vtn') } });
    vtnConfig.plugins.openadr3 = { enabled: true, config: { clients: [{ clientId: 'utility', clientSecret: 'utility-secret-1', role: 'bl', name: 'Utility' }, { clientId: 'site-9', clientSecret: 'site-9-secret-1', role: 'ven', name: 'Site 9' }] } };
    const vtn = await startServer({ config: vtnConfig, log: createLogger({ level: 'silent' }) });
    const pv2 = await new SunSpecSimulator({ kind: 'pv', ratedW: 5000, irradiance: 800 }).start();
    const siteConfig = loadConfigOrThrow({ env: { ...OPERATOR_ENV }, overrides: { port: 0, dataDir: path.join(dir, 'site') } });
    siteConfig.plugins.devices = {
      enabled: true,
      config: {
        devices: [{ id: 'roof2', nature: 'PvInverter', sunspec: true, ratedW: 5000, pollSeconds: 60, responseTimeS: 0, endpoint: { port: pv2.port } }],
        ven: { vtnUrl: `${vtn.url}/openadr3/3.1.0`, clientId: 'site-9', clientSecret: 'site-9-secret-1', venName: 'site-9', notify: 'poll', pollMs: 300 },
      },
    };
    const site = await startServer({ config: siteConfig, log: createLogger({ level: 'silent' }) });
    try {
      const base = `${vtn.url}/openadr3/3.1.0`;
      const tok = (await (await fetch(`${base}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&client_id=utility&client_secret=utility-secret-1' })).json()) as { access_token: string };
      const bl = (p: string, body: unknown) => fetch(`${base}${p}`, { method: 'POST', headers: { authorization: `Bearer ${tok.access_token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.json() as Promise<{ id: string }>);
      const program = await bl('/programs', { programName: 'p9' });
      await bl('/events', { programID: program.id, intervalPeriod: { start: new Date(Date.now() + 500).toISOString(), duration: 'PT30S' }, intervals: [{ id: 0, payloads: [{ type: 'EXPORT_CAPACITY_LIMIT', values: [2] }] }] });
      const manager = site.host.resolve(DeviceManagerToken);
      let w: number | null | undefined;
      for (let i = 0; i < 100 && w !== -2000; i++) {
        await new Promise((r) => setTimeout(r, 100));
        w = (await manager.poll('roof2')).activePower;
      }
      assert.equal(w, -2000);
    } finally {
      await site.close();
      await vtn.close();
      await pv2.stop();
    }
  });

  it('finds the interval in force', () => {
    const e = { id: 'e', programID: 'p', intervalPeriod: { start: '2026-01-01T00:00:00Z', duration: 'PT1H' }, intervals: [{ id: 0, payloads: [{ type: 'PRICE', values: [0.1] }] }, { id: 1, payloads: [{ type: 'PRICE', values: [0.4] }] }] };
    assert.deepEqual(activePayloads(e as never, Date.parse('2026-01-01T01:30:00Z')), [{ type: 'PRICE', value: 0.4 }]);
    assert.deepEqual(activePayloads(e as never, Date.parse('2026-01-01T03:00:00Z')), []);
  });
});
