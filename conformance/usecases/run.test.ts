import assert from 'node:assert/strict';
import { main } from '../../core/cli/main.js';
import { startTestHost, type TestHost } from '../../core/testing/host.js';
import type { StepResult } from './run.js';

const TOKEN = 'usecase-operator-token-0123456789';
const PAY = 'usecase-payment-provider-0123456789';

async function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    const code = await main(['usecases', 'run', ...args], { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out, err };
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

describe('gridflex usecases run: the HL-UC02 steps against a running gridflex (real HTTP, database and EVM)', function () {
  this.timeout(180_000);
  let host: TestHost;
  before(async () => {
    host = await startTestHost({
      plugins: ['p2p-market'],
      config: { 'p2p-market': { jobEvery: '', paymentProviderTokens: [PAY] } },
      root: (c) => {
        c.server.apiTokens = [TOKEN];
      },
    });
  });
  after(async () => {
    await host?.close();
  });

  it('passes every step it can execute, says why it skips the others, and the market holds what the run made', async () => {
    const r = await run(['HL-UC02', '--target', host.url, '--token', TOKEN, '--payment-token', PAY, '--json']);
    assert.equal(r.code, 0, r.err.join('\n'));
    const { results } = JSON.parse(r.out.join('\n')) as { results: StepResult[] };
    const by = (uc: string, step: string) => results.find((x) => x.useCase === uc && x.step === step)!;
    const passed = ['register', 'wallet', 'buy-tokens', 'balance', 'sell-tokens', 'duplicate'].map((s) => by('HL-UC02-LL-UC01', s).outcome);
    assert.deepEqual(passed, ['pass', 'pass', 'pass', 'pass', 'pass', 'pass']);
    for (const s of ['open-session', 'list-sessions', 'submit-orders', 'amend', 'withdraw']) assert.equal(by('HL-UC02-LL-UC02', s).outcome, 'pass', `${s}: ${by('HL-UC02-LL-UC02', s).detail}`);
    assert.equal(by('HL-UC02-LL-UC03', 'result').outcome, 'pass');
    assert.equal(by('HL-UC02-LL-UC04', 'fund-rewards').outcome, 'pass');
    assert.equal(by('HL-UC02-LL-UC03', 'cancel').outcome, 'skip');
    assert.match(by('HL-UC02-LL-UC03', 'clear').detail!, /the gate closes at/);
    for (const x of results) {
      assert.ok(x.ms >= 0);
      if (x.outcome === 'skip') assert.ok(x.detail, `${x.useCase} ${x.step} skips without saying why`);
    }
    assert.equal(results.filter((x) => x.outcome === 'fail').length, 0);
    assert.match(r.err.at(-1)!, /^22 steps: \d+ pass, 0 fail, \d+ skip, 0 not implemented, 0 not automated$/);
    // The objects are really there: the registered buyer holds its tokens less the escrow of nothing (its bid was withdrawn).
    const buyer = /registered (\S+) and/.exec(by('HL-UC02-LL-UC01', 'register').detail!)![1]!;
    const pos = (await (await fetch(`${host.url}/api/market/prosumers/${buyer}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { balance: string; orders: unknown[] };
    assert.equal(pos.balance, '1000000');
    assert.equal(pos.orders.length, 2);
    // The run's offer was withdrawn at the end: nothing of the run is left to trade in the session.
    const session = Number(/session (\d+)/.exec(by('HL-UC02-LL-UC02', 'open-session').detail!)![1]);
    const view = (await (await fetch(`${host.url}/api/market/sessions/${session}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { book: unknown[] };
    assert.deepEqual(view.book, []);
  });

  it('without the operator token the writing steps fail with the answer that refused them (GRIDFLEX_TOKEN is read)', async () => {
    const r = await run(['HL-UC02-LL-UC01', '--target', host.url]);
    assert.equal(r.code, 1);
    assert.match(r.out.find((l) => /register/.test(l))!, /FAIL .*answered 401/);
    const ok = await run(['HL-UC02-LL-UC01', '--target', host.url], { GRIDFLEX_TOKEN: TOKEN });
    assert.equal(ok.code, 0, ok.out.join('\n'));
    assert.match(ok.out.find((l) => /buy-tokens/.test(l))!, /skip .*needs --payment-token/);
  });

  it('a target that is not there ends with one line and exit 3; bad usage exits 2', async () => {
    const r = await run(['HL-UC02', '--target', 'http://127.0.0.1:1', '--token', TOKEN]);
    assert.equal(r.code, 3);
    assert.equal(r.err.length, 1);
    assert.match(r.err[0]!, /^gridflex usecases: http:\/\/127\.0\.0\.1:1\/ cannot be reached/);
    assert.equal((await run(['HL-UC09', '--target', host.url])).code, 2);
    assert.equal((await run(['HL-UC02'])).code, 2);
  });

  it('lists the steps of a use case without executors with their status', async () => {
    const r = await run(['HL-UC01-LL-UC02', '--target', host.url, '--token', TOKEN]);
    assert.equal(r.code, 0);
    assert.match(r.out.join('\n'), /HL-UC01-LL-UC02\s+1\. propose\s+not implemented/);
    assert.match(r.err[0]!, /no step of HL-UC01-LL-UC02 has an executor yet/);
  });
});
