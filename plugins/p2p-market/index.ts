import { defineExtensionPoint, definePlugin, LedgerToken, optional, SchedulerToken, StorageToken } from '../../core/index.js';
import { MarketConfig } from './config.js';
import { ForecastToken } from '../forecasting/api.js';
import { BUILTIN_ALGORITHMS, type ClearingAlgorithm } from './clearing.js';
import { MarketService, rulesProblems } from './market.js';
import { marketMigrations } from './migrations.js';
import { marketRouter } from './routes.js';
import { PricePublisher } from './openadr.js';
import { Oa3Token } from '../openadr3/api.js';

export { MarketConfig } from './config.js';

/** Clearing algorithms (entry id = algorithm id); `uniform`, `k-double-0.5` and `pay-as-bid` are built in. */
export const ClearingAlgorithms = defineExtensionPoint<ClearingAlgorithm>('p2p-market.clearing', (a) => (typeof a?.clear === 'function' && typeof a?.id === 'string' ? undefined : 'an algorithm needs id and clear'));

/** The peer-to-peer local energy market (HL-UC02) on the ledger's MarketSession contract. */
export const p2pMarketPlugin = definePlugin({
  manifest: {
    id: 'p2p-market',
    version: '0.2.0',
    kernel: '^0.2.0',
    description: 'P2P local energy market: registration, wallets and tokens, sessions, bids and offers, clearing, settlement on the ledger',
  },
  config: MarketConfig,
  // Forecasts (automatic bids and offers) and the OpenADR 3 VTN (price events) are used when loaded.
  deps: { storage: StorageToken, scheduler: SchedulerToken, ledger: LedgerToken, forecaster: optional(ForecastToken), openadr3: optional(Oa3Token) },
  validate: (cfg, x) => {
    const algorithms = x.extensions(ClearingAlgorithms);
    const problems = rulesProblems(cfg.defaultRules, cfg.priceCap).map((p) => ({ ...p, path: `defaultRules.${p.path}` }));
    if (!algorithms.has(cfg.algorithm)) problems.push({ path: 'algorithm', message: `no algorithm '${cfg.algorithm}' (known: ${[...algorithms.keys()].join(', ')})` });
    return problems;
  },
  register(ctx) {
    ctx.openExtensionPoint(ClearingAlgorithms);
    for (const a of BUILTIN_ALGORITHMS) ctx.contribute(ClearingAlgorithms, a.id, a);
  },
  async start(ctx) {
    const cfg = ctx.config;
    const { storage, scheduler, ledger, forecaster, openadr3 } = ctx.deps;
    await storage.migrate('p2p-market', marketMigrations);
    const algorithms = ctx.extensions(ClearingAlgorithms);
    let publisher: PricePublisher | undefined;
    if (cfg.openadr.enabled && openadr3) publisher = new PricePublisher(openadr3, ctx.kernel.dataDir, cfg.openadr.basePath, cfg.openadr.programName, ctx.log);
    else if (cfg.openadr.enabled) ctx.log.info('no OpenADR 3 VTN loaded: price signals are not published as events');
    const service = new MarketService({
      storage: () => storage,
      ledger: () => ledger,
      forecaster: () => forecaster,
      algorithms: () => algorithms,
      settings: cfg,
      log: ctx.log,
      ...(publisher ? { publishPrice: (x: { id: number; slotStart: number; slotEnd: number; price: number }) => publisher!.publish(x) } : {}),
    });
    // Orders, cancellations and sessions the chain holds but a crash kept from the database are adopted before
    // the first request is served.
    const reconciled = await service.reconcile({ sides: true });
    if (reconciled.adopted || reconciled.cancelled) ctx.log.warn(reconciled, 'market reconciled with the chain at start');
    ctx.mount('/api/market', marketRouter(() => service, cfg.paymentProviderTokens));
    scheduler.define('p2p-market.tick', async (job) => {
      await service.ensureSessions();
      await job.progress(33);
      const now = await ledger.chainTime();
      const { rows } = await storage.query<{ id: string; state: string; gate_closure: string; slot_start: string; slot_end: string }>(
        "SELECT id, state, gate_closure, slot_start, slot_end FROM mkt_sessions WHERE state IN ('open', 'cleared') OR (state = 'voided' AND settlement IS NULL) ORDER BY id",
      );
      for (const s of rows) {
        if (s.state === 'voided') {
          // Cancelled, but a crash interrupted its refunds: finish them.
          await service.cancelSession(Number(s.id));
          continue;
        }
        if (s.state === 'open' && now >= Number(s.gate_closure)) {
          // A clearing that fails is retried on the next run; once delivery has begun without a clearing, the
          // session is cancelled so that no escrow stays locked.
          await service.clear(Number(s.id)).catch(async (err) => {
            if (now < Number(s.slot_start)) return ctx.log.warn({ err, session: Number(s.id) }, 'clearing failed; retrying on the next run');
            ctx.log.error({ err, session: Number(s.id) }, 'clearing failed and delivery has begun: cancelling the session, refunding every escrow');
            await service.cancelSession(Number(s.id));
          });
        } else if (s.state === 'cleared' && now >= Number(s.slot_end) + cfg.settleDelayMinutes * 60) await service.settle(Number(s.id));
      }
      await job.progress(100);
    });
    if (cfg.jobEvery) await scheduler.every(cfg.jobEvery, 'p2p-market.tick');
  },
});

export default p2pMarketPlugin;
