import { createToken, defineExtensionPoint, definePlugin, GfError, LedgerToken, SchedulerToken, StorageToken } from '../../core/index.js';
import { ForecastToken } from '../forecasting/api.js';
import { BUILTIN_ALGORITHMS, type ClearingAlgorithm } from './clearing.js';
import { MarketErrors } from './errors.js';
import { MarketService, checkRules, type MarketSettings } from './market.js';
import { marketMigrations } from './migrations.js';
import { marketRouter } from './routes.js';
import { PricePublisher } from './openadr.js';
import { Oa3Token } from '../openadr3/api.js';

export type MarketConfig = MarketSettings & { jobEvery: string; settleDelayMinutes: number; openadr: { enabled: boolean; basePath: string; programName: string } };

/** Clearing algorithms (entry id = algorithm id); `uniform`, `k-double-0.5` and `pay-as-bid` are built in. */
export const ClearingAlgorithms = defineExtensionPoint<ClearingAlgorithm>('p2p-market.clearing', (a) => (typeof a?.clear === 'function' && typeof a?.id === 'string' ? undefined : 'an algorithm needs id and clear'));

const Holder = createToken<{ service?: MarketService; algorithms: ReadonlyMap<string, ClearingAlgorithm> }>('p2p-market.holder');

/** The peer-to-peer local energy market (HL-UC02) on the ledger's MarketSession contract. */
export const p2pMarketPlugin = definePlugin<MarketConfig>({
  manifest: {
    id: 'p2p-market',
    version: '0.1.0',
    requires: ['storage', 'scheduler', 'ledger'],
    description: 'P2P local energy market: registration, wallets and tokens, sessions, bids and offers, clearing, settlement on the ledger',
    config: {
      type: 'object',
      additionalProperties: false,
      properties: {
        slotMinutes: { type: 'integer', minimum: 1, maximum: 1440, default: 15, description: 'Length of a delivery slot (one session each).' },
        gateLeadMinutes: { type: 'integer', minimum: 0, maximum: 1440, default: 5, description: 'Gate closure this long before the slot starts.' },
        sessionsAhead: { type: 'integer', minimum: 1, maximum: 96, default: 4, description: 'Sessions kept open ahead.' },
        priceCap: { type: 'integer', minimum: 1, default: 1000, description: 'Highest price, token base units per kWh.' },
        shortfallPenaltyPerKwh: { type: 'integer', minimum: 0, default: 100, description: 'What a seller pays per kWh it matched but did not deliver.' },
        greenRewardPerKwh: { type: 'integer', minimum: 0, default: 20, description: 'Reward to buyers per kWh of green energy delivered (from the reward pool).' },
        offerTolerancePct: { type: 'number', minimum: 0, maximum: 1000, default: 10, description: 'Offers may exceed the forecast production by this much.' },
        algorithm: { type: 'string', default: 'uniform', description: 'Clearing algorithm id.' },
        jobEvery: { type: 'string', default: '1 minute', description: 'How often the market job opens, clears and settles sessions (empty: never).' },
        settleDelayMinutes: { type: 'integer', minimum: 0, default: 30, description: 'Settle this long after a slot ends (meter data arriving).' },
        openadr: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'Publish each session’s price signal as an OpenADR 3.1 PRICE event on this server’s VTN.',
          properties: {
            enabled: { type: 'boolean', default: true },
            basePath: { type: 'string', default: '/openadr3/3.1.0' },
            programName: { type: 'string', minLength: 1, default: 'p2p-market-prices' },
          },
        },
        defaultRules: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            maxOrderWh: { type: 'integer', minimum: 1, default: 50_000 },
            defaultBidPrice: { type: 'integer', minimum: 0, default: 300 },
            defaultOfferPrice: { type: 'integer', minimum: 0, default: 100 },
            autoBid: { type: 'boolean', default: false },
            green: { type: 'boolean', default: true },
          },
        },
      },
    },
  },
  register(ctx) {
    ctx.openExtensionPoint(ClearingAlgorithms);
    for (const a of BUILTIN_ALGORITHMS) ctx.contribute(ClearingAlgorithms, a.id, a);
    const holder: { service?: MarketService; algorithms: ReadonlyMap<string, ClearingAlgorithm> } = { algorithms: new Map() };
    ctx.provide(Holder, () => holder);
    ctx.mount(
      '/api/market',
      marketRouter(() => {
        if (!holder.service) throw new GfError(MarketErrors.GF_MARKET_WRONG_STATE, 'the market is not started');
        return holder.service;
      }),
    );
  },
  async start(ctx) {
    const cfg = ctx.config;
    checkRules(cfg.defaultRules, cfg.priceCap);
    const storage = ctx.resolve(StorageToken);
    await storage.migrate('p2p-market', marketMigrations);
    const holder = ctx.resolve(Holder);
    holder.algorithms = ctx.extensions(ClearingAlgorithms);
    if (!holder.algorithms.has(cfg.algorithm)) throw new GfError(MarketErrors.GF_MARKET_BAD_REQUEST, `plugins.p2p-market.config.algorithm: no algorithm '${cfg.algorithm}' (known: ${[...holder.algorithms.keys()].join(', ')})`);
    let publisher: PricePublisher | undefined;
    if (cfg.openadr.enabled) {
      try {
        publisher = new PricePublisher(ctx.resolve(Oa3Token), ctx.kernel.dataDir, cfg.openadr.basePath, cfg.openadr.programName, ctx.log);
      } catch (err) {
        ctx.log.info({ err }, 'no OpenADR 3 VTN loaded: price signals are not published as events');
        publisher = undefined;
      }
    }
    const service = new MarketService({
      storage: () => ctx.resolve(StorageToken),
      ledger: () => ctx.resolve(LedgerToken),
      forecaster: () => {
        try {
          return ctx.resolve(ForecastToken);
        } catch {
          return undefined;
        }
      },
      algorithms: () => holder.algorithms,
      settings: cfg,
      log: ctx.log,
      ...(publisher ? { publishPrice: (x: { id: number; slotStart: number; slotEnd: number; price: number }) => publisher!.publish(x) } : {}),
    });
    holder.service = service;
    const scheduler = ctx.resolve(SchedulerToken);
    scheduler.define('p2p-market.tick', async (job) => {
      await service.ensureSessions();
      await job.progress(33);
      const now = await ctx.resolve(LedgerToken).chainTime();
      const { rows } = await storage.query<{ id: string; state: string; gate_closure: string; slot_end: string }>("SELECT id, state, gate_closure, slot_end FROM mkt_sessions WHERE state <> 'settled' ORDER BY id");
      for (const s of rows) {
        if (s.state === 'open' && now >= Number(s.gate_closure)) await service.clear(Number(s.id));
        else if (s.state === 'cleared' && now >= Number(s.slot_end) + cfg.settleDelayMinutes * 60) await service.settle(Number(s.id));
      }
      await job.progress(100);
    });
    if (cfg.jobEvery) await scheduler.every(cfg.jobEvery, 'p2p-market.tick');
  },
  async stop(ctx) {
    ctx.resolve(Holder).service = undefined;
  },
});

export default p2pMarketPlugin;
