import { definePlugin, StorageToken } from '../../core/index.js';
import { importCommand } from './commands.js';
import { readingsRouter } from './routes.js';

export interface MeterDataConfig {
  tokens: string[];
}

/**
 * Meter data in: `gridflex import readings FILE` and `POST /api/readings` (CSV or JSON), with every
 * irregularity reported by line range, and `GET /api/readings` at 5, 10, 15, 30 or 60 minutes.
 */
export const meterDataPlugin = definePlugin<MeterDataConfig>({
  manifest: {
    id: 'meter-data',
    version: '0.1.0',
    requires: ['storage'],
    description: 'meter-reading import (CSV, JSON) with data-quality reports, and resampled reads',
    config: {
      type: 'object',
      additionalProperties: false,
      properties: {
        tokens: {
          type: 'array',
          default: [],
          items: { type: 'string', minLength: 16 },
          description: 'Bearer tokens accepted by POST /api/readings; empty: no token needed (the server listens on loopback by default).',
        },
      },
    },
  },
  commands: { import: importCommand },
  register(ctx) {
    const storage = () => ctx.resolve(StorageToken);
    ctx.mount('/api/readings', readingsRouter(storage, ctx.config.tokens));
  },
});

export default meterDataPlugin;
