import { defineErrors } from '../../core/index.js';

/** Error codes of the baseline plugin (listed in its README). */
export const BaselineErrors = defineErrors({
  GF_BASELINE_BAD_INPUT: { status: 400, title: 'Baseline input invalid' },
  GF_BASELINE_UNKNOWN_METHOD: { status: 400, title: 'Unknown baseline method' },
  GF_BASELINE_NO_HISTORY: { status: 422, title: 'Not enough history for a baseline' },
  GF_BASELINE_NO_WEATHER: { status: 422, title: 'Baseline method needs temperatures' },
});
