/** What other plugins may use of the market: the clearing engine and its extension point. */
export { ClearingAlgorithms } from './index.js';
export { uniformPrice, kDoubleAuction, payAsBid, curves, type Order, type Trade, type ClearingAlgorithm, type ClearingResult } from './clearing.js';
