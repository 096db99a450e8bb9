import { Type, type Static } from 'typebox';

/** The `p2p-market` plugin's config: one schema, its type derived from it. */
export const MarketConfig = Type.Object({
  slotMinutes: Type.Integer({ minimum: 1, maximum: 1440, default: 15, description: 'Length of a delivery slot (one session each).' }),
  gateLeadMinutes: Type.Integer({ minimum: 0, maximum: 1440, default: 5, description: 'Gate closure this long before the slot starts.' }),
  sessionsAhead: Type.Integer({ minimum: 1, maximum: 96, default: 4, description: 'Sessions kept open ahead.' }),
  priceCap: Type.Integer({ minimum: 1, default: 1000, description: 'Highest price, token base units per kWh.' }),
  shortfallPenaltyPerKwh: Type.Integer({ minimum: 0, default: 100, description: 'What a seller pays per kWh it matched but did not deliver.' }),
  greenRewardPerKwh: Type.Integer({ minimum: 0, default: 20, description: 'Reward to buyers per kWh of green energy delivered (from the reward pool).' }),
  offerTolerancePct: Type.Number({ minimum: 0, maximum: 1000, default: 10, description: 'Offers may exceed the forecast production by this much.' }),
  algorithm: Type.String({ default: 'uniform', description: 'Clearing algorithm id.' }),
  jobEvery: Type.String({ default: '1 minute', description: 'How often the market job opens, clears and settles sessions (empty: never).' }),
  paymentProviderTokens: Type.Array(Type.String({ minLength: 16 }), {
    default: [],
    description: 'Credentials of the payment provider (and operator): minting (tokens/buy, rewards) needs one of them in the X-Payment-Provider-Token header; empty: nobody can mint over HTTP.',
  }),
  settleDelayMinutes: Type.Integer({ minimum: 0, default: 30, description: 'Settle this long after a slot ends (meter data arriving).' }),
  openadr: Type.Object({
    enabled: Type.Boolean({ default: true }),
    basePath: Type.String({ default: '/openadr3/3.1.0' }),
    programName: Type.String({ minLength: 1, default: 'p2p-market-prices' }),
  }, { additionalProperties: false, default: {}, description: 'Publish each session’s price signal as an OpenADR 3.1 PRICE event on this server’s VTN.' }),
  defaultRules: Type.Object({
    maxOrderWh: Type.Integer({ minimum: 1, default: 50000 }),
    defaultBidPrice: Type.Integer({ minimum: 0, default: 300 }),
    defaultOfferPrice: Type.Integer({ minimum: 0, default: 100 }),
    autoBid: Type.Boolean({ default: false }),
    green: Type.Boolean({ default: true }),
  }, { additionalProperties: false, default: {} }),
}, { additionalProperties: false });
export type MarketConfig = Static<typeof MarketConfig>;
