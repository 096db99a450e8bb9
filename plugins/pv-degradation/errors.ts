import { defineErrors } from '../../core/index.js';

/** Error codes of the pv-degradation plugin (listed in its README). */
export const PvErrors = defineErrors({
  GF_PV_NO_SITE: { status: 422, title: 'No site for this PV system' },
  GF_PV_NOT_ENOUGH_HISTORY: { status: 422, title: 'Not enough production history' },
});
