import { definePlugin, optional, StorageToken } from '../../core/index.js';
import { BaselineMethods } from './api.js';
import { baselineCommand } from './commands.js';
import { BaselineConfig } from './config.js';
import { BUILTIN_METHODS } from './methods.js';
import { baselineRouter } from './routes.js';
import { WeatherToken } from '../weather/api.js';

export { BaselineConfig } from './config.js';

/** Customer baseline load per prosumer and portfolio, with a flexibility estimate; methods on an extension point. */
export const baselinePlugin = definePlugin({
  manifest: {
    id: 'baseline',
    version: '0.2.0',
    kernel: '^0.2.0',
    description: 'customer baseline load (10-in-10 with day-of adjustment, 10-in-10 with a learned portfolio adjustment, high 5 of 10, weather regression) and flexibility estimates',
  },
  config: BaselineConfig,
  // Weather is optional: the weather-regression method uses it when the weather plugin is loaded.
  deps: { storage: StorageToken, weather: optional(WeatherToken) },
  validate: (cfg, x) => {
    const methods = x.extensions(BaselineMethods);
    return methods.has(cfg.defaultMethod) ? [] : [{ path: 'defaultMethod', message: `no method '${cfg.defaultMethod}' (known: ${[...methods.keys()].join(', ')})` }];
  },
  commands: { baseline: baselineCommand },
  register(ctx) {
    ctx.openExtensionPoint(BaselineMethods);
    for (const m of BUILTIN_METHODS) ctx.contribute(BaselineMethods, m.id, m);
  },
  async start(ctx) {
    const { storage, weather } = ctx.deps;
    const methods = ctx.extensions(BaselineMethods);
    ctx.mount(
      '/api/baselines',
      baselineRouter({
        store: () => storage.readings,
        methods: () => methods,
        groups: ctx.config.groups,
        holidays: new Set(ctx.config.holidays.map((d) => Date.parse(`${d}T00:00:00Z`))),
        defaultMethod: ctx.config.defaultMethod,
        assets: ctx.config.assets,
        weather: () => weather,
      }),
    );
  },
});

export default baselinePlugin;
