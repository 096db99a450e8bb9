import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { access, definePlugin, Router } from '../index.js';
import { loadConfigOrThrow } from '../config/config.js';
import { startTestHost, type TestHost } from '../testing/host.js';
import { sleep } from '../testing/wait.js';

/** A raw TCP connection to the server: what it received and when it was closed (ms after open). */
function connect(url: string) {
  const u = new URL(url);
  const socket = net.connect(Number(u.port), u.hostname);
  const t0 = Date.now();
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (received += d));
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - t0)));
  return { socket, t0, closed, received: () => received, opened: new Promise<void>((r) => socket.on('connect', () => r())) };
}

const slow = definePlugin({
  manifest: { id: 'slow', version: '1.0.0' },
  async start(ctx) {
    const r = new Router();
    r.post('/upload', access.public('a timeouts test'), (c) => {
      c.body = { bytes: String(c.request.rawBody ?? '').length };
    });
    r.get('/think', access.public('a timeouts test'), async (c) => {
      await sleep(1_500);
      c.body = { thought: true };
    });
    ctx.mount('/api/slow', r);
  },
});

describe('HTTP timeouts on real sockets (issue 25 #8)', function () {
  this.timeout(60_000);
  let host: TestHost;
  before(async () => {
    host = await startTestHost({
      extraPlugins: [slow],
      root: (c) => {
        c.server.headersTimeoutMs = 500;
        c.server.requestTimeoutMs = 1_000;
        c.server.keepAliveTimeoutMs = 1_000;
      },
    });
  });
  after(() => host?.close());

  it('closes a connection whose headers trickle in, with 408, near headersTimeoutMs', async () => {
    const c = connect(host.url);
    await c.opened;
    c.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n');
    const timer = setInterval(() => c.socket.writable && c.socket.write('X-Slow: 1\r\n'), 100);
    const ms = await Promise.race([c.closed, sleep(5_000).then(() => -1)]);
    clearInterval(timer);
    assert.ok(ms > 0, 'closed at all (Node closes slow headers only after 60 s by default)');
    assert.ok(ms >= 400 && ms < 2_000, `closed after ${ms} ms`);
    assert.match(c.received(), /^HTTP\/1\.1 408/);
  });

  it('closes a connection whose body trickles in, with 408, near requestTimeoutMs', async () => {
    const c = connect(host.url);
    await c.opened;
    c.socket.write('POST /api/slow/upload HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n');
    // One byte every 50 ms would take 50 s; the default requestTimeout (300 s) let it.
    const timer = setInterval(() => c.socket.writable && c.socket.write('x'), 50);
    const ms = await Promise.race([c.closed, sleep(8_000).then(() => -1)]);
    clearInterval(timer);
    assert.ok(ms > 0, 'closed while the body was still arriving');
    assert.ok(ms >= 900 && ms < 3_000, `closed after ${ms} ms`);
    assert.match(c.received(), /^HTTP\/1\.1 408/);
  });

  it('does not cut off a route that takes longer than requestTimeoutMs to answer, nor a prompt body', async () => {
    const res = await fetch(`${host.url}/api/slow/think`);
    assert.equal(res.status, 200);
    const up = await fetch(`${host.url}/api/slow/upload`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'y'.repeat(100_000) });
    assert.deepEqual(await up.json(), { bytes: 100_000 });
  });

  it('announces the keep-alive time, keeps an idle connection that long, and closes it a second later', async () => {
    const c = connect(host.url);
    await c.opened;
    c.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    while (!c.received().includes('"status":"ok"')) await sleep(10);
    assert.match(c.received(), /\r\nKeep-Alive: timeout=1\r\n/i);
    await sleep(700);
    c.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    while (c.received().split('"status":"ok"').length < 3) await sleep(10);
    const again = Date.now();
    const closedAfter = c.t0 + (await c.closed) - again;
    assert.ok(closedAfter >= 900 && closedAfter < 3_000, `idle connection closed ${closedAfter} ms after the last answer`);
  });

  it('does not apply headersTimeoutMs to an idle keep-alive connection (measured from the first byte of each request)', async () => {
    const c = connect(host.url);
    await c.opened;
    c.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    while (!c.received().includes('"status":"ok"')) await sleep(10);
    await sleep(1_500); // idle three times headersTimeoutMs, within the keep-alive time (closed after 2 s)
    c.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    while (c.received().split('"status":"ok"').length < 3 && !c.socket.destroyed) await sleep(10);
    assert.equal(c.received().split('"status":"ok"').length, 3, c.received());
    assert.doesNotMatch(c.received(), / 408 /);
    c.socket.destroy();
  });

  it('refuses a requestTimeoutMs shorter than headersTimeoutMs', () => {
    assert.throws(
      () => loadConfigOrThrow({ env: { GRIDFLEX__server__headersTimeoutMs: '5000', GRIDFLEX__server__requestTimeoutMs: '1000' }, overrides: { dataDir: '/tmp/unused' } }),
      /server\.requestTimeoutMs must be at least server\.headersTimeoutMs/,
    );
  });

  it('a keep-alive client that honours the announcement never reuses a socket the server is closing', async () => {
    // Announced 2 s: Node's agent drops an idle socket after 1 s (the announcement less its 1 s margin), the
    // server closes it after 3 s. Requests at idle gaps around both edges all succeed, on reused sockets where allowed.
    const ka = await startTestHost({ root: (c) => void (c.server.keepAliveTimeoutMs = 2_000) });
    const agent = new http.Agent({ keepAlive: true, timeout: 60_000, maxSockets: 2 });
    const u = new URL(ka.url);
    let reused = 0;
    const get = () =>
      new Promise<void>((resolve, reject) => {
        const req = http.get({ host: u.hostname, port: u.port, path: '/health', agent }, (res) => {
          if (req.reusedSocket) reused++;
          res.resume();
          res.on('end', () => resolve());
        });
        req.on('error', reject);
      });
    try {
      for (const gap of [0, 950, 1_050, 2_900, 3_100]) {
        await get();
        await sleep(gap);
        await Promise.all([get(), get()]);
      }
      assert.ok(reused >= 3, `sockets were reused (${reused})`);
    } finally {
      agent.destroy();
      await ka.close();
    }
  });
});
