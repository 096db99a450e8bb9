import assert from 'node:assert/strict';
import { exited, gridflex } from '../../test/process.js';
import { ModbusConnection } from './modbus-client.js';
import { SunSpecSimulator } from './simulators/sunspec-server.js';
import { SunSpecDevice } from './sunspec.js';

describe('gridflex simulate', function () {
  this.timeout(120_000);
  it('runs the simulated devices until stopped and prints their declarations', async () => {
    const mb = await SunSpecSimulator.freePort();
    const ua = await SunSpecSimulator.freePort();
    const p = gridflex(['simulate', '--modbus-port', String(mb), '--opcua-port', String(ua)]);
    let out = '';
    p.stdout!.on('data', (c) => (out += c));
    for (let i = 0; i < 300 && out.trim().split('\n').length < 4; i++) await new Promise((r) => setTimeout(r, 100));
    try {
      const decls = out.trim().split('\n').map((l) => JSON.parse(l) as { id: string });
      assert.deepEqual(decls.map((d) => d.id), ['sim-pv', 'sim-battery', 'sim-meter', 'sim-pv-ua']);
      const c = new ModbusConnection({ host: '127.0.0.1', port: mb + 2, unitId: 1, timeoutMs: 2000, retries: 1 });
      const dev = new SunSpecDevice(c);
      assert.deepEqual((await dev.scan()).map((m) => m.id), [1, 203]);
      c.close();
    } finally {
      p.kill('SIGTERM');
    }
    assert.equal((await exited(p)).code, 0);
    const bad = gridflex(['simulate', '--modbus-port', 'x']);
    assert.equal((await exited(bad)).code, 2);
  });
});
