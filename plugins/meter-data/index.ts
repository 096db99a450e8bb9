import { definePlugin, StorageToken } from '../../core/index.js';
import { importCommand } from './commands.js';
import { MeterDataConfig } from './config.js';
import { readingsRouter } from './routes.js';

export { MeterDataConfig } from './config.js';

/**
 * Meter data in: `gridflex import readings FILE` and `POST /api/readings` (CSV or JSON), with every
 * irregularity reported by line range, and `GET /api/readings` at 5, 10, 15, 30 or 60 minutes.
 */
export const meterDataPlugin = definePlugin({
  manifest: {
    id: 'meter-data',
    version: '0.2.0',
    kernel: '^0.2.0',
    description: 'meter-reading import (CSV, JSON) with data-quality reports, and resampled reads',
  },
  config: MeterDataConfig,
  deps: { storage: StorageToken },
  commands: { import: importCommand },
  async start(ctx) {
    const { storage } = ctx.deps;
    ctx.mount('/api/readings', readingsRouter(() => storage));
  },
});

export default meterDataPlugin;
