import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exited, run, serve } from '../../test/process.js';
import { OPERATOR } from '../../core/testing/operator.js';

describe('gridflex ledger (command)', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-ledger-cli-'));
  const data = path.join(dir, 'data');
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the deployment, lists wallets and rebuilds the mirror; the same contracts as the server uses', async () => {
    const info = await run(['ledger', 'info', '--json', '--data', data]);
    assert.equal(info.code, 0, info.err);
    const i = JSON.parse(info.out) as { chainId: number; embedded: boolean; operator: string; contracts: Record<string, string> };
    assert.equal(i.chainId, 1337);
    assert.equal(i.embedded, true);
    assert.deepEqual(Object.keys(i.contracts).sort(), ['EnergyToken', 'FlexibilityContract', 'MarketSession', 'ParticipantRegistry']);
    // The operator key is sealed in the database under the KEK, whose file only its owner may read.
    assert.equal((statSync(path.join(data, 'secrets', 'kek')).mode & 0o777).toString(8), '600');
    assert.equal(existsSync(path.join(data, 'ledger', 'operator.key')), false, 'no operator key in clear');

    const rebuilt = await run(['ledger', 'rebuild-mirror', '--data', data]);
    assert.equal(rebuilt.code, 0, rebuilt.err);
    assert.match(rebuilt.out, /^\d+ events indexed/m);
    assert.match(rebuilt.err, /indexed to block \d+ of \d+/);
    const wallets = await run(['ledger', 'wallets', '--json', '--data', data]);
    assert.deepEqual(JSON.parse(wallets.out), []);
    const bad = await run(['ledger', 'mint', '--data', data]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /unknown ledger command 'mint'/);

    const s = await serve(['--port', '0', '--data', data]);
    try {
      const served = (await (await fetch(`${s.url}/api/ledger`, { headers: OPERATOR })).json()) as { operator: string; contracts: Record<string, string> };
      assert.deepEqual(served.contracts, i.contracts, 'the chain replayed from the journal, not deployed again');
      assert.equal(served.operator, i.operator);
    } finally {
      s.proc.kill('SIGTERM');
      await exited(s.proc);
    }
  });
});
