import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Common, Transaction } from 'web3-eth-accounts';
import { privateKeyToAddress } from 'web3-eth-accounts';
import { loadConfigOrThrow } from '../../core/config/config.js';
import { createLogger, SecretBox, type Address } from '../../core/index.js';
import { startServer } from '../../core/server.js';
import { openStorage } from '../storage/index.js';
import { HttpJsonRpc, RemoteChain, type JsonRpc } from './chain.js';
import { ledgerMigrations } from './migrations.js';
import { addressOf, randomPrivateKey, TxSigner, type Hex } from './signer.js';
import { buildLedger, openTestLedger, TEST_OPERATOR_KEY, tokens, type TestLedger } from './testing/harness.js';
import { WalletStore } from './wallets.js';
import { OPERATOR, OPERATOR_ENV } from '../../core/testing/operator.js';

const bytes32 = (s: string) => `0x${Buffer.from(s).toString('hex').padEnd(64, '0')}`;

describe('ledger: transaction signing', () => {
  it('signs byte for byte as web3 does (EIP-155 legacy transactions)', async () => {
    for (let i = 0; i < 20; i++) {
      const key = randomPrivateKey();
      const tx = {
        nonce: BigInt(i * 977),
        gasPrice: i % 3 === 0 ? 0n : BigInt(i) * 10n ** 9n,
        gas: 21_000n + BigInt(i * 12345),
        to: i % 5 === 0 ? undefined : (addressOf(randomPrivateKey()) as Hex),
        value: i % 2 === 0 ? 0n : 10n ** 18n * BigInt(i),
        data: `0x${'ab'.repeat(i * 7)}` as Hex,
        chainId: i % 2 === 0 ? 1337 : 2024,
      };
      const ours = new TxSigner(key).sign(tx);
      // web3's own transaction class, given the chain explicitly (its high-level signer would ask a public node)
      const common = Common.custom({ chainId: tx.chainId, networkId: tx.chainId }, { hardfork: 'istanbul' });
      const theirs = Transaction.fromTxData({ nonce: tx.nonce, gasPrice: tx.gasPrice, gasLimit: tx.gas, to: tx.to, value: tx.value, data: tx.data }, { common }).sign(
        Buffer.from(key.slice(2), 'hex'),
      );
      assert.equal(ours.raw, `0x${Buffer.from(theirs.serialize()).toString('hex')}`, `tx ${i}`);
      assert.equal(ours.hash, `0x${Buffer.from(theirs.hash()).toString('hex')}`, `tx ${i}`);
      assert.equal(ours.from, privateKeyToAddress(key).toLowerCase());
    }
  });

  it('refuses keys that are not secp256k1 private keys', () => {
    for (const k of ['0x', '0x00', `0x${'0'.repeat(64)}`, `0x${'f'.repeat(64)}`, 'abc']) assert.throws(() => new TxSigner(k as Hex), RangeError);
  });
});

describe('ledger adapter on the embedded EVM', function () {
  this.timeout(120_000);
  let t: TestLedger;
  before(async () => {
    t = await openTestLedger();
  });
  after(async () => t?.close());

  it('maps unknown contracts, methods, bad arguments and unknown senders to coded errors', async () => {
    const L = t.ledger;
    await assert.rejects(L.send('Nope', 'x', []), { code: 'GF_LEDGER_UNKNOWN_CONTRACT' });
    await assert.rejects(L.send('EnergyToken', 'mintEverything', []), { code: 'GF_LEDGER_UNKNOWN_CONTRACT' });
    await assert.rejects(L.send('EnergyToken', 'transfer', [L.operator]), { code: 'GF_LEDGER_BAD_ARGUMENT' });
    await assert.rejects(L.send('EnergyToken', 'transfer', ['not-an-address', 1]), { code: 'GF_LEDGER_BAD_ARGUMENT' });
    await assert.rejects(L.send('EnergyToken', 'transfer', [L.operator, 1], { from: addressOf(randomPrivateKey()) }), { code: 'GF_LEDGER_UNKNOWN_WALLET' });
    await assert.rejects(L.advanceTime(-1), { code: 'GF_LEDGER_UNSUPPORTED' });
  });

  it('concurrent sends from several accounts neither collide nor double-apply', async () => {
    const L = t.ledger;
    const wallets = await Promise.all([0, 1, 2].map((i) => L.createWallet(`w${i}`)));
    await L.send('EnergyToken', 'issueBatch', [wallets, wallets.map(() => tokens(100)), bytes32('seed')]);
    const sink = await L.createWallet('sink');
    const startNonces = await Promise.all([L.operator, ...wallets].map((a) => L.rpc.request({ method: 'eth_getTransactionCount', params: [a, 'latest'] })));
    const jobs: Promise<unknown>[] = [];
    for (let i = 0; i < 30; i++) {
      jobs.push(L.send('EnergyToken', 'issue', [sink, 1, bytes32(`op${i}`)]));
      for (const w of wallets) jobs.push(L.send('EnergyToken', 'transfer', [sink, 2], { from: w }));
    }
    jobs.push(L.sendMany(Array.from({ length: 10 }, (_, i) => ({ contract: 'EnergyToken', method: 'issue', args: [sink, 1000, bytes32(`many${i}`)] }))));
    await Promise.all(jobs);
    assert.equal(await L.call('EnergyToken', 'balanceOf', [sink]), 30n + 30n * 2n * 3n + 10n * 1000n);
    const endNonces = await Promise.all([L.operator, ...wallets].map((a) => L.rpc.request({ method: 'eth_getTransactionCount', params: [a, 'latest'] })));
    assert.deepEqual(endNonces.map((n, i) => Number(n) - Number(startNonces[i])), [40, 30, 30, 30]);
  });

  it('a transaction using most of maxGas does not raise the base fee: free transactions keep going', async () => {
    const L = t.ledger;
    // More than half of the old 30M block gas limit: with that limit the base fee would have risen to 1 wei.
    const many = Array.from({ length: 400 }, () => addressOf(randomPrivateKey()));
    const zero = `0x${'0'.repeat(40)}`;
    const big = await L.send('ParticipantRegistry', 'registerBatch', [many, many.map(() => 1), many.map(() => bytes32('m')), many.map(() => zero)]);
    assert.ok(big.gasUsed > 15_000_000n, `used ${big.gasUsed}`);
    const block = (await L.rpc.request({ method: 'eth_getBlockByNumber', params: ['latest', false] })) as { baseFeePerGas: string };
    assert.equal(BigInt(block.baseFeePerGas), 0n);
    await L.send('EnergyToken', 'issue', [many[0], 1, bytes32('after')]);
  });

  it('a revert is reported with the Solidity error before anything is sent', async () => {
    const L = t.ledger;
    const head = await L.rpc.request({ method: 'eth_blockNumber' });
    const poor = await L.createWallet('poor');
    await assert.rejects(L.send('EnergyToken', 'transfer', [L.operator, 5], { from: poor }), (e: { code: string; data: Record<string, unknown>; status: number }) => {
      assert.equal(e.code, 'GF_LEDGER_REVERTED');
      assert.equal(e.status, 409);
      assert.equal(e.data.revert, 'ERC20InsufficientBalance');
      assert.deepEqual(e.data.args, { sender: poor, balance: '0', needed: '5' });
      return true;
    });
    assert.equal(await L.rpc.request({ method: 'eth_blockNumber' }), head);
  });

  it('mirrors events into storage, filters them, and rebuilds the mirror from the chain', async () => {
    const L = t.ledger;
    const w = await L.createWallet('mirror');
    await L.send('EnergyToken', 'issue', [w, 42, bytes32('mirror-pay')]);
    const issued = await L.events({ contract: 'EnergyToken', event: 'Issued', where: { to: w } });
    assert.equal(issued.length, 1);
    assert.deepEqual(issued[0]!.args, { to: w, amount: '42', paymentRef: bytes32('mirror-pay') });
    assert.ok(issued[0]!.blockTime > 1.7e9);
    const all = await L.events({ limit: 10000 });
    const rebuilt = await L.rebuildMirror();
    assert.equal(rebuilt, all.length);
    const again = await L.events({ limit: 10000 });
    assert.deepEqual(again.map(({ id: _id, ...e }) => e), all.map(({ id: _id, ...e }) => e));
    const page = await L.events({ afterId: again[4]!.id, limit: 3 });
    assert.deepEqual(page.map((e) => e.id), again.slice(5, 8).map((e) => e.id));
  });

  it('the chain clock moves while no block is mined, and the next block carries at least what it read', async () => {
    // Market gates read chainTime: a clock stuck at the last block (minutes behind on an idle chain) would keep
    // gates open and clearings waiting until some unrelated transaction happened to mine a block.
    const L = t.ledger;
    await L.send('EnergyToken', 'issue', [L.operator, 1, bytes32('clock-0')]);
    const t0 = await L.chainTime();
    await new Promise((r) => setTimeout(r, 2200));
    const t1 = await L.chainTime();
    assert.ok(t1 >= t0 + 2, `chainTime moved ${t1 - t0} s in 2.2 s of idle chain`);
    const r = await L.send('EnergyToken', 'issue', [L.operator, 1, bytes32('clock-1')]);
    const block = (await L.rpc.request({ method: 'eth_getBlockByNumber', params: [`0x${r.blockNumber.toString(16)}`, false] })) as { timestamp: string };
    assert.ok(Number(BigInt(block.timestamp)) >= t1, 'the next block is not older than the clock gates read');
    assert.ok((await L.chainTime()) >= Number(BigInt(block.timestamp)), 'and the clock never goes back behind a block');
  });

  it('keeps custodial keys sealed; another key-encryption key cannot use them', async () => {
    const L = t.ledger;
    const w = await L.createWallet('secret-holder');
    const { rows } = await t.storage.query<{ key_enc: string }>('SELECT key_enc FROM ledger_wallets WHERE address = $1', [w]);
    assert.ok(rows[0] && SecretBox.isSealed(rows[0].key_enc));
    const wrong = new WalletStore(t.storage, new SecretBox(Buffer.alloc(32, 9)));
    await assert.rejects(wrong.signer(w), { code: 'GF_SECRETS_WRONG_KEK' });
    assert.ok((await L.wallets()).some((x) => x.address === w && x.label === 'secret-holder'));
  });

  it('survives a restart: same contracts, balances, contract state, clock and mirror; keeps working', async () => {
    const L = t.ledger;
    const w = await L.createWallet('restart');
    await L.send('EnergyToken', 'issue', [w, tokens(7), bytes32('before-restart')]);
    await L.send('ParticipantRegistry', 'register', [w, 1, bytes32('meter-r'), '0x0000000000000000000000000000000000000000']);
    await L.advanceTime(3600);
    const before = {
      addresses: ['EnergyToken', 'ParticipantRegistry', 'FlexibilityContract', 'MarketSession'].map((n) => L.addressOf(n)),
      supply: await L.call('EnergyToken', 'totalSupply', []),
      balance: await L.call('EnergyToken', 'balanceOf', [w]),
      participant: await L.call('ParticipantRegistry', 'participant', [w]),
      head: await L.rpc.request({ method: 'eth_getBlockByNumber', params: ['latest', false] }),
      time: await L.chainTime(),
      events: (await L.events({ limit: 10000 })).length,
    };
    // As if the chain had mined a block whose journal write never happened before a crash: the mirror ran ahead.
    const headNo = Number(BigInt((before.head as { number: string }).number));
    await t.storage.query(
      `INSERT INTO ledger_events (chain_id, block_number, log_index, block_time, tx_hash, contract, event, args) VALUES (1337, $1, 0, 0, '0xdead', 'EnergyToken', 'Issued', '{}')`,
      [headNo + 1],
    );
    await t.storage.query('UPDATE ledger_mirror_state SET last_block = $1', [headNo + 1]);
    t = await t.restart();
    const R = t.ledger;
    assert.deepEqual(['EnergyToken', 'ParticipantRegistry', 'FlexibilityContract', 'MarketSession'].map((n) => R.addressOf(n)), before.addresses);
    assert.equal(await R.call('EnergyToken', 'totalSupply', []), before.supply);
    assert.equal(await R.call('EnergyToken', 'balanceOf', [w]), before.balance);
    assert.deepEqual(await R.call('ParticipantRegistry', 'participant', [w]), before.participant);
    const head = (await R.rpc.request({ method: 'eth_getBlockByNumber', params: ['latest', false] })) as { hash: string };
    assert.equal(head.hash, (before.head as { hash: string }).hash, 'the replayed chain is the same chain, block hashes included');
    const evs = await R.events({ limit: 10000 });
    assert.equal(evs.length, before.events);
    await R.send('EnergyToken', 'transfer', [R.operator, tokens(1)], { from: w });
    const after = await R.events({ afterId: 0, limit: 10000 });
    assert.ok(!after.some((e) => e.txHash === '0xdead'), 'the mirror dropped what the chain does not hold');
    assert.equal(after.at(-1)!.event, 'Transfer');
    assert.equal(after.at(-1)!.blockNumber, headNo + 1);
    assert.ok((await R.chainTime()) >= before.time, 'the clock did not go back');
    assert.equal(await R.call('EnergyToken', 'balanceOf', [w]), tokens(6));
  });

  it('refuses to start from a journal that does not replay, rather than serve a different chain', async () => {
    const dir = t.dir;
    await t.ledger.close();
    await t.storage.close();
    const storage = await openStorage({ dataDir: dir, databaseUrl: undefined });
    await storage.query('DELETE FROM ledger_journal WHERE block = (SELECT max(block) - 3 FROM ledger_journal)');
    await storage.close();
    await assert.rejects(openTestLedger(dir), { code: 'GF_LEDGER_REPLAY_MISMATCH' });
    t = await openTestLedger(); // for after()
    rmSync(dir, { recursive: true, force: true });
  });
});

/** A real JSON-RPC node on loopback (Hardhat's EVM behind HTTP), standing in for Besu. */
async function jsonRpcNode(chainId: number): Promise<{ url: string; close(): Promise<void> }> {
  const require = createRequire(import.meta.url);
  const { createHardhatNetworkProvider } = require('hardhat/internal/hardhat-network/provider/provider');
  const provider: JsonRpc = await createHardhatNetworkProvider(
    {
      chainId, networkId: chainId, hardfork: 'cancun', blockGasLimit: 30_000_000, minGasPrice: 0n, initialBaseFeePerGas: 0, automine: true,
      intervalMining: 0, mempoolOrder: 'fifo', chains: new Map(), genesisAccounts: [], allowUnlimitedContractSize: false,
      throwOnTransactionFailures: false, throwOnCallFailures: true, allowBlocksWithSameTimestamp: false, enableTransientStorage: false, enableRip7212: false,
    },
    { enabled: false },
  );
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', async () => {
      const msg = JSON.parse(body) as { id: number; method: string; params: unknown[] };
      let out: unknown;
      try {
        out = { jsonrpc: '2.0', id: msg.id, result: await provider.request({ method: msg.method, params: msg.params }) };
      } catch (e) {
        const err = e as { message: string; code?: number; data?: unknown };
        out = { jsonrpc: '2.0', id: msg.id, error: { code: err.code ?? -32000, message: err.message, data: err.data } };
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v)));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(() => r())) };
}

describe('ledger adapter on a remote JSON-RPC node', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-ledger-remote-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('deploys, sends and maps reverts over HTTP; refuses a wrong chain id and reports an unreachable node', async () => {
    const node = await jsonRpcNode(4242);
    const storage = await openStorage({ dataDir: dir, databaseUrl: undefined });
    try {
      await storage.migrate('ledger', ledgerMigrations);
      await assert.rejects(buildLedger(storage, new RemoteChain(new HttpJsonRpc(node.url, 5000)), 1337), { code: 'GF_LEDGER_CONFIG' });
      const L = await buildLedger(storage, new RemoteChain(new HttpJsonRpc(node.url, 5000)), 4242);
      const w = await L.createWallet('remote');
      await L.send('EnergyToken', 'issue', [w, 500, bytes32('r')]);
      await Promise.all(Array.from({ length: 10 }, () => L.send('EnergyToken', 'transfer', [L.operator, 10], { from: w })));
      assert.equal(await L.call('EnergyToken', 'balanceOf', [w]), 400n);
      await assert.rejects(L.send('EnergyToken', 'transfer', [L.operator, 1000], { from: w }), { code: 'GF_LEDGER_REVERTED' });
      await assert.rejects(L.advanceTime(10), { code: 'GF_LEDGER_UNSUPPORTED' });
      assert.equal((await L.events({ contract: 'EnergyToken', event: 'Transfer', where: { from: w } })).length, 10);
      // A second start finds its deployments instead of deploying again.
      const again = await buildLedger(storage, new RemoteChain(new HttpJsonRpc(node.url, 5000)), 4242);
      assert.equal(again.addressOf('EnergyToken'), L.addressOf('EnergyToken'));
      await L.close();
      await again.close();
      const gone = new HttpJsonRpc('http://127.0.0.1:9', 2000);
      await assert.rejects(gone.request({ method: 'eth_chainId' }), { code: 'GF_LEDGER_UNAVAILABLE' });
    } finally {
      await storage.close();
      await node.close();
    }
  });
});

describe('ledger HTTP API', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-ledger-http-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('serves addresses, the event mirror and a read-only JSON-RPC relay; refuses what it must', async () => {
    const config = loadConfigOrThrow({ env: { ...OPERATOR_ENV }, overrides: { port: 0, dataDir: path.join(dir, 'data') } });
    const server = await startServer({ config, log: createLogger({ level: 'silent' }) });
    try {
      const info = (await (await fetch(`${server.url}/api/ledger`, { headers: OPERATOR })).json()) as { chainId: number; contracts: Record<string, Address>; evmVersion: string };
      assert.equal(info.chainId, 1337);
      assert.equal(info.evmVersion, 'cancun');
      assert.match(info.contracts.MarketSession!, /^0x[0-9a-f]{40}$/);
      const events = (await (await fetch(`${server.url}/api/ledger/events?contract=EnergyToken&event=RoleGranted`, { headers: OPERATOR })).json()) as unknown[];
      assert.equal(events.length, 2);
      const bad = await fetch(`${server.url}/api/ledger/events?limit=0`, { headers: OPERATOR });
      assert.equal(bad.status, 400);
      assert.equal(((await bad.json()) as { code: string }).code, 'GF_VALIDATION_FAILED');
      assert.equal((await fetch(`${server.url}/api/ledger/events?contract=Nope`, { headers: OPERATOR })).status, 400);
      assert.equal((await fetch(`${server.url}/api/ledger/events?colour=red`, { headers: OPERATOR })).status, 400);
      const rpc = (body: unknown) =>
        fetch(`${server.url}/api/ledger/rpc`, { method: 'POST', headers: { ...OPERATOR,  'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.json() as Promise<Record<string, unknown>>);
      assert.equal((await rpc({ jsonrpc: '2.0', id: 1, method: 'eth_chainId' })).result, '0x539');
      const code = await rpc({ jsonrpc: '2.0', id: 2, method: 'eth_getCode', params: [info.contracts.EnergyToken, 'latest'] });
      assert.ok(String(code.result).length > 100);
      assert.equal(((await rpc({ jsonrpc: '2.0', id: 3, method: 'eth_sendRawTransaction', params: ['0x00'] })).error as { code: number }).code, -32601);
      assert.equal(((await rpc({ jsonrpc: '2.0', id: 4, method: 'hardhat_setBalance', params: [] })).error as { code: number }).code, -32601);
      assert.equal(((await rpc({ id: 5, method: 'eth_chainId' })).error as { code: number }).code, -32600);
      assert.equal(((await rpc({ jsonrpc: '2.0', id: 6, method: 'eth_chainId', params: {} })).error as { code: number }).code, -32602);
    } finally {
      await server.close();
    }
  });

  it('refuses to start on a remote node without an operator key, naming the setting', async () => {
    const config = loadConfigOrThrow({ env: { ...OPERATOR_ENV, LEDGER_RPC_URL: 'http://127.0.0.1:9' }, overrides: { port: 0, dataDir: path.join(dir, 'data2') } });
    await assert.rejects(startServer({ config, log: createLogger({ level: 'silent' }) }), (e: Error) => /operatorKey/.test(e.message));
  });

  it('uses the configured operator key', async () => {
    const config = loadConfigOrThrow({ env: { ...OPERATOR_ENV, LEDGER_OPERATOR_KEY: TEST_OPERATOR_KEY }, overrides: { port: 0, dataDir: path.join(dir, 'data3') } });
    const server = await startServer({ config, log: createLogger({ level: 'silent' }) });
    try {
      const info = (await (await fetch(`${server.url}/api/ledger`, { headers: OPERATOR })).json()) as { operator: string };
      assert.equal(info.operator, addressOf(TEST_OPERATOR_KEY));
    } finally {
      await server.close();
    }
  });
});
