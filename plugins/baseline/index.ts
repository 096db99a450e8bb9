import { createToken, definePlugin, StorageToken } from '../../core/index.js';
import { BaselineMethods } from './api.js';
import { baselineCommand } from './commands.js';
import { BUILTIN_METHODS, type BaselineMethod } from './methods.js';
import { baselineRouter } from './routes.js';
import type { AssetFlex } from './flexibility.js';
import { WeatherToken } from '../weather/api.js';

export interface BaselineConfig {
  defaultMethod: string;
  groups: Record<string, string[]>;
  holidays: string[];
  assets: Record<string, AssetFlex[]>;
}

const Methods = createToken<{ current: ReadonlyMap<string, BaselineMethod> }>('baseline.methods-holder');

/** Customer baseline load per prosumer and portfolio, with a flexibility estimate; methods on an extension point. */
export const baselinePlugin = definePlugin<BaselineConfig>({
  manifest: {
    id: 'baseline',
    version: '0.1.0',
    requires: ['storage'],
    description: 'customer baseline load (10-in-10 with day-of adjustment, 10-in-10 with a learned portfolio adjustment, high 5 of 10, weather regression) and flexibility estimates',
    config: {
      type: 'object',
      additionalProperties: false,
      properties: {
        defaultMethod: { type: 'string', default: '10-in-10' },
        groups: { type: 'object', default: {}, additionalProperties: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 } },
        holidays: { type: 'array', default: [], items: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' }, description: 'Public holidays (UTC dates): never weekday history.' },
        assets: {
          type: 'object',
          default: {},
          description: 'Controllable assets per meter, adding to the flexibility seen in its history.',
          additionalProperties: {
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['nature', 'downW', 'upW'],
              properties: { nature: { type: 'string' }, downW: { type: 'number', minimum: 0 }, upW: { type: 'number', minimum: 0 } },
            },
          },
        },
      },
    },
  },
  commands: { baseline: baselineCommand },
  register(ctx) {
    ctx.openExtensionPoint(BaselineMethods);
    for (const m of BUILTIN_METHODS) ctx.contribute(BaselineMethods, m.id, m);
    const holder = { current: new Map() as ReadonlyMap<string, BaselineMethod> };
    ctx.provide(Methods, () => holder);
    ctx.mount(
      '/api/baselines',
      baselineRouter({
        store: () => ctx.resolve(StorageToken).readings,
        methods: () => holder.current,
        groups: ctx.config.groups,
        holidays: new Set(ctx.config.holidays.map((d) => Date.parse(`${d}T00:00:00Z`))),
        defaultMethod: ctx.config.defaultMethod,
        assets: ctx.config.assets,
        weather: () => {
          try {
            return ctx.resolve(WeatherToken);
          } catch {
            return undefined;
          }
        },
      }),
    );
  },
  async start(ctx) {
    const holder = ctx.resolve(Methods);
    holder.current = ctx.extensions(BaselineMethods);
    if (!holder.current.has(ctx.config.defaultMethod)) throw new Error(`plugins.baseline.config.defaultMethod: no method '${ctx.config.defaultMethod}'`);
  },
});

export default baselinePlugin;
