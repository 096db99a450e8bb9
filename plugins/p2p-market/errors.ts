import { defineErrors } from '../../core/index.js';

/** Error codes of the p2p-market plugin (listed in its README). */
export const MarketErrors = defineErrors({
  GF_MARKET_BAD_REQUEST: { status: 400, title: 'Market request invalid' },
  GF_MARKET_UNKNOWN_PROSUMER: { status: 404, title: 'Unknown prosumer' },
  GF_MARKET_UNKNOWN_SESSION: { status: 404, title: 'Unknown market session' },
  GF_MARKET_DUPLICATE: { status: 409, title: 'Already registered' },
  GF_MARKET_GATE_CLOSED: { status: 409, title: 'Gate closed for this session' },
  GF_MARKET_LIMIT: { status: 422, title: 'Order outside the prosumer’s trading rules' },
  GF_MARKET_INSUFFICIENT_TOKENS: { status: 422, title: 'Not enough tokens to escrow the bid' },
  GF_MARKET_OVER_FORECAST: { status: 422, title: 'Offer above forecast production' },
  GF_MARKET_BOTH_SIDES: { status: 409, title: 'Bids and offers from one prosumer in one session' },
  GF_MARKET_WRONG_STATE: { status: 409, title: 'Session not in the state this needs' },
  GF_MARKET_CLEARING_FAILED: { status: 409, title: 'Clearing could not complete' },
  GF_MARKET_BOOK_MISMATCH: { status: 409, title: 'Order book differs from the chain' },
  GF_MARKET_UNAUTHORIZED: { status: 401, title: 'Minting needs a payment-provider credential' },
  GF_MARKET_REFERENCE_REUSED: { status: 409, title: 'Payment reference already used for another request' },
});
