import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { encodePayload } from '../../standards/openadr2b/codec.js';
import { exited, serve } from '../../test/process.js';
import { postXml } from './http.js';

/**
 * Keep-alive resets (issue 25 #10): a client whose event loop is busy past the server's idle close writes its next
 * request on a socket the server has closed (it has not processed the FIN yet) and gets ECONNRESET. Measured against
 * `gridflex serve` in its own process (the server's timers must not share the client's blocked loop): 250 of 250
 * requests on reused sockets were reset after such a pause, with Node's agent (timeout or not) and with undici.
 */
describe('OpenADR 2.0b client transport: a socket the server closed while we were busy is not an error', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-ka-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('sends the request again on a fresh connection, once, when a reused socket was reset before any answer', async () => {
    const off = Object.fromEntries(['ledger', 'devices', 'meter-data', 'weather', 'forecasting', 'baseline', 'pv-degradation', 'p2p-market', 'hmi'].map((p) => [`GRIDFLEX__plugins__${p}__enabled`, 'false']));
    const srv = await serve(['--port', '0', '--data', path.join(dir, 'data')], { ...off, GRIDFLEX__server__keepAliveTimeoutMs: '2000' });
    // As the VEN makes it: it honours the announced time (drops idle sockets 1 s before), when its loop is free to.
    const agent = new HttpAgent({ keepAlive: true, maxSockets: 1, timeout: 60_000 });
    try {
      const url = `${srv.url}/OpenADR2/Simple/2.0b/OadrPoll`;
      const poll = encodePayload('oadrPoll', { venID: 'nobody' });
      const first = await postXml(url, poll, { agent, timeoutMs: 5_000 });
      assert.match(first.body, /eiResponse/);
      // Busy for longer than the server keeps the idle socket (2 s announced, closed after 3 s), then send at once.
      const until = Date.now() + 4_000;
      while (Date.now() < until);
      const again = await postXml(url, poll, { agent, timeoutMs: 5_000 });
      assert.match(again.body, /eiResponse/, 'answered on a fresh connection');
    } finally {
      agent.destroy();
      srv.proc.kill('SIGTERM');
      await exited(srv.proc);
    }
  });
});
