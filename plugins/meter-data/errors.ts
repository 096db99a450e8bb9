import { defineErrors } from '../../core/index.js';

/** Error codes of meter-data import (listed in this plugin's README). */
export const MeterDataErrors = defineErrors({
  GF_IMPORT_INVALID: { status: 400, title: 'Readings refused' },
  GF_IMPORT_BAD_OPTION: { status: 400, title: 'Import option invalid' },
  GF_IMPORT_UNAUTHORIZED: { status: 401, title: 'Import token missing or wrong' },
});
