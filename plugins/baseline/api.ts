/** What other plugins may use of baseline: the method contract, its extension point, the flexibility estimate. */
import { defineExtensionPoint } from '../../core/index.js';
import type { BaselineMethod } from './methods.js';

export const BaselineMethods = defineExtensionPoint<BaselineMethod>('baseline.methods', (m) =>
  typeof m?.compute === 'function' && typeof m?.id === 'string' && typeof m?.rule === 'string' ? undefined : 'a method needs id, rule and compute',
);
export type { BaselineMethod, BaselineContext, BaselineResult, GroupBaselineResult, Window, AdjustmentRule, LearnedAdjustmentOptions } from './methods.js';
export { xInY, highXofY, weatherRegression, learnedAdjustment, eligibleDays, dayOfAdjustment, DEFAULT_ADJUSTMENT, DEFAULT_LEARNED } from './methods.js';
export { flexibility, type FlexibilityEstimate, type AssetFlex } from './flexibility.js';
export { evaluateBaselines, type BaselineEvaluation } from './evaluate.js';
