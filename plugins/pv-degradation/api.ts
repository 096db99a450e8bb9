/** What other plugins may use of pv-degradation. */
export { yearOnYear, clearDays, type DailyPr, type YoyResult } from './yoy.js';
export { pvClearSkyModel } from './pv-model.js';
