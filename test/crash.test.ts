import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sleep } from '../core/testing/wait.js';
import { exited, ROOT, serve } from './process.js';
import { OPERATOR } from '../core/testing/operator.js';

describe('crash safety (SIGKILL during a burst of acknowledged writes)', function () {
  this.timeout(180_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-crash-'));
  const config = path.join(dir, 'gridflex.yaml');
  writeFileSync(config, `dataDir: ${path.join(dir, 'data')}\nplugins:\n  ack:\n    module: ${path.join(ROOT, 'test/fixtures/ack-plugin.ts')}\n`);
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('finds every acknowledged write after a restart on the same data folder', async () => {
    const first = await serve(['--config', config, '--port', '0']);
    const acked = new Set<number>();
    let next = 0;
    let stop = false;
    // Four writers keep requests in flight; the kill lands mid-burst.
    const writer = async () => {
      while (!stop) {
        const n = next++;
        try {
          const res = await fetch(`${first.url}/api/ack/batches/${n}`, { headers: OPERATOR, method: 'POST' });
          if (res.status === 201) acked.add(n);
        } catch {
          return; // connection died with the server
        }
      }
    };
    const writers = [writer(), writer(), writer(), writer()];
    while (acked.size < 150) await sleep(10);
    first.proc.kill('SIGKILL');
    stop = true;
    await Promise.all(writers);
    assert.equal((await exited(first.proc)).signal, 'SIGKILL');
    assert.ok(acked.size >= 150);

    const second = await serve(['--config', config, '--port', '0']);
    try {
      const body = (await (await fetch(`${second.url}/api/ack/batches`, { headers: OPERATOR })).json()) as { perMeter: number[][] };
      assert.equal(body.perMeter.length, 50);
      for (const stored of body.perMeter) {
        const have = new Set(stored);
        const lost = [...acked].filter((n) => !have.has(n));
        assert.deepEqual(lost, [], 'acknowledged batches lost after SIGKILL');
      }
      // A batch is atomic: a meter holds a batch number only if all 50 do.
      const first50 = JSON.stringify(body.perMeter[0]);
      assert.ok(body.perMeter.every((s) => JSON.stringify(s) === first50), 'no half-written batch');
    } finally {
      second.proc.kill('SIGTERM');
      const end = await exited(second.proc);
      assert.equal(end.code, 0, `graceful exit on SIGTERM: ${second.output()}`);
    }
  });

  it('finds every acknowledged ledger transaction after a restart (embedded EVM rebuilt from its journal)', async () => {
    const cfg = path.join(dir, 'ledger.yaml');
    writeFileSync(cfg, `dataDir: ${path.join(dir, 'ledger-data')}\nplugins:\n  ledgerack:\n    module: ${path.join(ROOT, 'test/fixtures/ledger-ack-plugin.ts')}\n`);
    const first = await serve(['--config', cfg, '--port', '0']);
    const acked = new Set<number>();
    let next = 0;
    let stop = false;
    const writer = async () => {
      while (!stop) {
        const n = next++;
        try {
          const res = await fetch(`${first.url}/api/ledgerack/issues/${n}`, { headers: OPERATOR, method: 'POST' });
          if (res.status === 201) acked.add(n);
        } catch {
          return;
        }
      }
    };
    const writers = [writer(), writer(), writer()];
    while (acked.size < 60) await sleep(10);
    first.proc.kill('SIGKILL');
    stop = true;
    await Promise.all(writers);
    assert.equal((await exited(first.proc)).signal, 'SIGKILL');

    const second = await serve(['--config', cfg, '--port', '0']);
    try {
      const body = (await (await fetch(`${second.url}/api/ledgerack/issues`, { headers: OPERATOR })).json()) as { refs: number[]; balance: string };
      const have = new Set(body.refs);
      assert.deepEqual([...acked].filter((n) => !have.has(n)), [], 'acknowledged ledger transactions lost after SIGKILL');
      // The balance is the sum of exactly the issues the chain holds: nothing applied twice.
      assert.equal(BigInt(body.balance), body.refs.reduce((a, n) => a + BigInt(n + 1), 0n));
    } finally {
      second.proc.kill('SIGTERM');
      const end = await exited(second.proc);
      assert.equal(end.code, 0, `graceful exit on SIGTERM: ${second.output()}`);
    }
  });
});
