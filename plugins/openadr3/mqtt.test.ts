import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { loadConfigOrThrow } from '../../core/config/config.js';
import { createLogger } from '../../core/index.js';
import { startServer } from '../../core/server.js';
import { waitFor } from '../../core/testing/wait.js';
import { venTopicVenId } from './mqtt.js';

describe('MQTT topic access rule', () => {
  it('gives a VEN topic its ven id only for concrete ids under vens/', () => {
    assert.equal(venTopicVenId('vens/abc_1/events/create'), 'abc_1');
    assert.equal(venTopicVenId('vens/abc/update'), 'abc');
    assert.equal(venTopicVenId('vens/abc/#'), 'abc');
    assert.equal(venTopicVenId('vens/abc/programs/+'), 'abc');
    for (const t of ['vens/+/events/create', 'vens/#', 'events/create', '#', 'vens/abc/events/create/extra', 'vens/a b/update', 'vens/abc/secrets/create']) {
      assert.equal(venTopicVenId(t), undefined, t);
    }
  });
});

describe('MQTT publishing to an external broker', function () {
  this.timeout(60_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-oa3-mqtt-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('publishes changes to the broker at brokerUrl, and advertises it', async () => {
    // A plain MQTT broker on loopback stands in for Mosquitto or EMQX.
    const broker = await Aedes.createBroker();
    const tcp = createServer(broker.handle);
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    const url = `mqtt://127.0.0.1:${(tcp.address() as AddressInfo).port}`;
    const config = loadConfigOrThrow({ env: {}, overrides: { port: 0, dataDir: path.join(dir, 'data') } });
    config.plugins.openadr3 = { enabled: true, config: { mqtt: { brokerUrl: url }, clients: [{ clientId: 'bl', clientSecret: 'bl-secret', role: 'bl', name: 'BL' }] } };
    const server = await startServer({ config, log: createLogger({ level: 'silent' }) });
    const listener = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
    try {
      const got: string[] = [];
      listener.on('message', (topic) => got.push(topic));
      await listener.subscribeAsync('programs/#');
      const tok = await fetch(`${server.url}/openadr3/3.1.0/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&client_id=bl&client_secret=bl-secret' });
      const auth = { authorization: `Bearer ${((await tok.json()) as { access_token: string }).access_token}`, 'content-type': 'application/json' };
      const n = (await (await fetch(`${server.url}/openadr3/3.1.0/notifiers`, { headers: auth })).json()) as { MQTT: { URIS: string[] } };
      assert.deepEqual(n.MQTT.URIS, [url]);
      const res = await fetch(`${server.url}/openadr3/3.1.0/programs`, { method: 'POST', headers: auth, body: JSON.stringify({ programName: 'external' }) });
      assert.equal(res.status, 201);
      await waitFor(() => got.includes('programs/create'), 10_000, 'the message on the external broker');
    } finally {
      await listener.endAsync();
      await server.close();
      await new Promise<void>((r) => broker.close(() => r()));
      await new Promise<void>((r) => tcp.close(() => r()));
    }
  });
});
