import assert from 'node:assert/strict';
import { Type } from 'typebox';
import { createLogger, createRootContainer, createToken, defineExtensionPoint, definePlugin, GfError, optional, PluginHost, Router, type AnyPlugin, type DepMap, type Token } from '../index.js';

const log = createLogger({ level: 'silent' });
const kernel = { dataDir: '/nonexistent', databaseUrl: undefined, instanceId: 'test' };

function host(plugins: AnyPlugin[], configs: Record<string, unknown> = {}, startTimeoutMs = 2_000, kernelVersion = '0.2.0') {
  return new PluginHost({ plugins, configs, root: createRootContainer(), log, kernel, kernelVersion, startTimeoutMs });
}

/** A token per plugin id, so `traced` plugins can depend on each other by name. */
const tokens = new Map<string, Token<string>>();
const tokenOf = (id: string) => {
  if (!tokens.has(id)) tokens.set(id, createToken<string>(`test.${id}`));
  return tokens.get(id)!;
};

/** A plugin that provides its own token, depends on the others' tokens, and records its lifecycle into `trail`. */
function traced(id: string, trail: string[], opts: { needs?: string[]; start?: () => Promise<void> } = {}) {
  const deps: Record<string, Token<string>> = Object.fromEntries((opts.needs ?? []).map((n) => [n, tokenOf(n)]));
  return definePlugin({
    manifest: { id, version: '1.0.0' },
    deps: deps as DepMap,
    provides: { self: tokenOf(id) },
    register: () => void trail.push(`register:${id}`),
    async start(ctx) {
      trail.push(`start:${id}`);
      await opts.start?.();
      ctx.onStop(() => void trail.push(`stop:${id}`));
      return { self: `value of ${id}` };
    },
  });
}

async function bootFails(h: PluginHost, code: string): Promise<GfError> {
  try {
    await h.boot();
  } catch (e) {
    assert.ok(e instanceof GfError, String(e));
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`boot should fail with ${code}`);
}

describe('plugin host', () => {
  it('starts providers before the plugins that depend on them, hands them the values, and stops in reverse', async () => {
    const trail: string[] = [];
    let seen: unknown;
    const user = definePlugin({
      manifest: { id: 'user', version: '1.0.0' },
      deps: { a: tokenOf('a'), c: tokenOf('c') },
      async start(ctx) {
        seen = { ...ctx.deps };
      },
    });
    const h = host([user, traced('c', trail, { needs: ['b'] }), traced('a', trail), traced('b', trail, { needs: ['a'] })]);
    await h.boot();
    assert.deepEqual(trail, ['register:a', 'register:b', 'register:c', 'start:a', 'start:b', 'start:c']);
    assert.deepEqual(seen, { a: 'value of a', c: 'value of c' });
    assert.deepEqual(h.status().find((s) => s.id === 'user')!.dependsOn, ['a', 'c']);
    assert.ok(h.allStarted());
    await h.stop();
    assert.deepEqual(trail.slice(6), ['stop:c', 'stop:b', 'stop:a']);
    assert.ok(h.status().every((s) => s.state === 'stopped'));
  });

  it('refuses a dependency no loaded plugin provides, naming the plugin and the service', async () => {
    const e = await bootFails(host([traced('a', [], { needs: ['ghost'] })]), 'GF_PLUGIN_MISSING_DEPENDENCY');
    assert.match(e.message, /'a' needs test.ghost \(deps.ghost\)/);
    assert.equal(e.data!.plugin, 'a');
  });

  it('refuses a plugin that reads a dependency it did not declare', async () => {
    const Ledger = createToken<string>('test.ledger-like');
    const provider = definePlugin({ manifest: { id: 'provider', version: '1.0.0' }, provides: { ledger: Ledger }, start: async () => ({ ledger: 'chain' }) });
    // Plain JavaScript (or a cast) can name anything: the host must refuse what the plugin did not declare.
    const sneaky = definePlugin({
      manifest: { id: 'sneaky', version: '1.0.0' },
      deps: { other: tokenOf('a') },
      async start(ctx) {
        void (ctx.deps as unknown as Record<string, unknown>).ledger;
      },
    });
    const e = await bootFails(host([provider, traced('a', []), sneaky]), 'GF_PLUGIN_START_FAILED');
    assert.equal(e.data!.causeCode, 'GF_PLUGIN_UNDECLARED_DEPENDENCY');
    assert.match(e.message, /'sneaky' reads deps.ledger, which it does not declare/);
    // No context offers a way around deps.
    let keys: string[] = [];
    await host([definePlugin({ manifest: { id: 'probe', version: '1.0.0' }, start: async (ctx) => void (keys = Object.keys(ctx)) })]).boot();
    assert.ok(!keys.includes('resolve') && !keys.includes('container'), `start context offers ${keys.join(', ')}`);
  });

  it('gives an optional dependency its value when loaded and undefined when not, ordering by it when present', async () => {
    const Weather = createToken<{ at(): number }>('test.weather');
    const weather = definePlugin({ manifest: { id: 'weather', version: '1.0.0' }, provides: { weather: Weather }, start: async () => ({ weather: { at: () => 21 } }) });
    const got: unknown[] = [];
    const forecast = definePlugin({
      manifest: { id: 'forecast', version: '1.0.0' },
      deps: { weather: optional(Weather) },
      async start(ctx) {
        got.push(ctx.deps.weather?.at() ?? 'no weather');
      },
    });
    const h = host([forecast, weather]);
    await h.boot();
    await host([forecast]).boot();
    assert.deepEqual(got, [21, 'no weather']);
    assert.deepEqual(h.status().map((s) => s.id), ['weather', 'forecast']);
  });

  it('refuses a cycle of dependencies, naming the cycle', async () => {
    const e = await bootFails(host([traced('x', [], { needs: ['z'] }), traced('y', [], { needs: ['x'] }), traced('z', [], { needs: ['y'] }), traced('free', [])]), 'GF_PLUGIN_DEPENDENCY_CYCLE');
    assert.match(e.message, /x -> z -> y -> x/);
  });

  it('refuses a duplicate id, and a service provided twice', async () => {
    const e = await bootFails(host([traced('twin', []), traced('twin', [])]), 'GF_PLUGIN_DUPLICATE_ID');
    assert.equal(e.data!.plugin, 'twin');
    const copy = definePlugin({ manifest: { id: 'copy', version: '1.0.0' }, provides: { again: tokenOf('orig') }, start: async () => ({ again: 'x' }) });
    const e2 = await bootFails(host([traced('orig', []), copy]), 'GF_PLUGIN_TOKEN_CONFLICT');
    assert.match(e2.message, /'copy' provides test.orig, already provided by 'orig'/);
  });

  it('refuses a plugin written for another kernel version', async () => {
    const p = (range: string) => definePlugin({ manifest: { id: 'old', version: '1.0.0', kernel: range } });
    const e = await bootFails(host([p('^0.1.0')]), 'GF_PLUGIN_KERNEL_VERSION');
    assert.match(e.message, /'old' is written for kernel \^0.1.0; this is kernel 0.2.0/);
    await bootFails(host([p('not a range')]), 'GF_PLUGIN_KERNEL_VERSION');
    await host([p('^0.2.0')]).boot();
    await host([p('>=0.2 <1')], {}, 2_000, '0.9.1').boot();
  });

  it('refuses a start that does not return exactly what the plugin provides', async () => {
    const T = createToken<number>('test.number');
    const lazy = definePlugin({ manifest: { id: 'lazy', version: '1.0.0' }, provides: { n: T }, start: async () => undefined as never });
    const e = await bootFails(host([lazy]), 'GF_PLUGIN_PROVIDES_MISMATCH');
    assert.match(e.message, /missing: n/);
    const extra = definePlugin({ manifest: { id: 'extra', version: '1.0.0' }, provides: { n: T }, start: async () => ({ n: 1, m: 2 }) as never });
    assert.match((await bootFails(host([extra]), 'GF_PLUGIN_PROVIDES_MISMATCH')).message, /not declared: m/);
    assert.throws(() => definePlugin({ manifest: { id: 'nostart', version: '1.0.0' }, provides: { n: T } }), /needs a start that returns them/);
  });

  it('validates config before register, applies defaults, and names every violated key', async () => {
    const seen: unknown[] = [];
    const p = definePlugin({
      manifest: { id: 'cfg', version: '1.0.0' },
      config: Type.Object(
        {
          size: Type.Integer({ minimum: 1, default: 4 }),
          mode: Type.Enum(['fast', 'slow'], { default: 'fast' }),
          nested: Type.Object({ on: Type.Boolean({ default: true }) }, { default: {} }),
        },
        { additionalProperties: false },
      ),
      register: (ctx) => {
        const size: number = ctx.config.size; // the type follows the schema
        seen.push({ ...ctx.config, size });
      },
    });
    await host([p]).boot();
    assert.deepEqual(seen, [{ size: 4, mode: 'fast', nested: { on: true } }]);

    const e = await bootFails(host([p], { cfg: { size: 0, mode: 'warp', colour: 'red', nested: { on: 'yes' } } }), 'GF_PLUGIN_INVALID_CONFIG');
    const paths = (e.data!.violations as { path: string }[]).map((v) => v.path).sort();
    assert.deepEqual(paths, ['plugins.cfg.config.colour', 'plugins.cfg.config.mode', 'plugins.cfg.config.nested.on', 'plugins.cfg.config.size']);
    assert.equal(seen.length, 1, 'register is not called with an invalid config');
  });

  it('runs each plugin’s validate rules against the settled extension points, before any start', async () => {
    const Models = defineExtensionPoint<{ id: string }>('fc.models');
    let started = false;
    const fc = definePlugin({
      manifest: { id: 'fc', version: '1.0.0' },
      config: Type.Object({ defaultModel: Type.String({ default: 'naive' }) }, { additionalProperties: false }),
      validate: (cfg, x) => (x.extensions(Models).has(cfg.defaultModel) ? [] : [{ path: 'defaultModel', message: `no model '${cfg.defaultModel}'` }]),
      register(ctx) {
        ctx.openExtensionPoint(Models);
        ctx.contribute(Models, 'naive', { id: 'naive' });
      },
      start: async () => void (started = true),
    });
    const acme = definePlugin({ manifest: { id: 'acme', version: '1.0.0' }, register: (ctx) => ctx.contribute(Models, 'acme-ml', { id: 'acme-ml' }) });
    await host([fc, acme], { fc: { defaultModel: 'acme-ml' } }).boot();
    started = false;
    const problems = host([fc], { fc: { defaultModel: 'nosuchmodel' } }).check();
    assert.deepEqual(problems.map((p) => [p.code, p.violations?.[0]?.path, p.violations?.[0]?.message]), [['GF_PLUGIN_INVALID_CONFIG', 'plugins.fc.config.defaultModel', "no model 'nosuchmodel'"]]);
    await bootFails(host([fc], { fc: { defaultModel: 'nosuchmodel' } }), 'GF_PLUGIN_INVALID_CONFIG');
    assert.equal(started, false, 'a config rule fails before any start');
  });

  it('throws on wiring calls made after their phase, instead of dropping them', async () => {
    const Points = defineExtensionPoint<number>('late.points');
    let later: (() => void) | undefined;
    let afterStart: (() => void) | undefined;
    const late = definePlugin({
      manifest: { id: 'late', version: '1.0.0' },
      register(ctx) {
        ctx.openExtensionPoint(Points);
        later = () => ctx.contribute(Points, 'too-late', 1);
      },
      async start(ctx) {
        afterStart = () => ctx.mount('/api/late', new Router());
      },
    });
    await host([late]).boot();
    assert.throws(later!, (e: unknown) => e instanceof GfError && e.code === 'GF_PLUGIN_LATE_CALL' && /called contribute after register returned/.test(e.message));
    assert.throws(afterStart!, (e: unknown) => e instanceof GfError && e.code === 'GF_PLUGIN_LATE_CALL' && /mount after its start resolved/.test(e.message));
  });

  it('hands start what register returned', async () => {
    let got: unknown;
    const p = definePlugin({
      manifest: { id: 'shared', version: '1.0.0' },
      register: () => ({ rates: new Map([['pv1', -0.5]]) }),
      async start(ctx) {
        got = ctx.registered.rates.get('pv1');
      },
    });
    await host([p]).boot();
    assert.equal(got, -0.5);
  });

  it('refuses a start that throws, naming the plugin, and stops the ones already started', async () => {
    const trail: string[] = [];
    const bad = traced('bad', trail, {
      needs: ['good'],
      start: async () => {
        throw new Error('cannot reach the meter head-end');
      },
    });
    const h = host([traced('good', trail), bad]);
    const e = await bootFails(h, 'GF_PLUGIN_START_FAILED');
    assert.match(e.message, /plugin 'bad' failed to start: cannot reach the meter head-end/);
    assert.ok(trail.includes('stop:good'), 'the started plugin was stopped');
    assert.equal(h.status().find((s) => s.id === 'bad')!.state, 'failed');
  });

  it('runs the stop hooks a failed start registered (half-open resources are closed)', async () => {
    const trail: string[] = [];
    const half = definePlugin({
      manifest: { id: 'half', version: '1.0.0' },
      async start(ctx) {
        ctx.onStop(() => void trail.push('closed the socket'));
        throw new Error('then the database was gone');
      },
    });
    await bootFails(host([half]), 'GF_PLUGIN_START_FAILED');
    assert.deepEqual(trail, ['closed the socket']);
  });

  it('refuses a start that does not finish in time and aborts its signal', async () => {
    let aborted = false;
    const slow = definePlugin({
      manifest: { id: 'slow', version: '1.0.0', startTimeoutMs: 150 },
      start: (ctx) =>
        new Promise<void>((resolve) => {
          ctx.signal.addEventListener('abort', () => {
            aborted = true;
            resolve();
          });
        }),
    });
    const e = await bootFails(host([slow]), 'GF_PLUGIN_START_TIMEOUT');
    assert.match(e.message, /'slow' did not start within 150 ms/);
    assert.ok(aborted);
  });

  it('logs and skips a stop hook that hangs, and still stops the rest', async () => {
    const trail: string[] = [];
    const hang = definePlugin({
      manifest: { id: 'hang', version: '1.0.0' },
      async start(ctx) {
        ctx.onStop(() => new Promise(() => undefined));
      },
    });
    const h = new PluginHost({ plugins: [traced('first', trail), hang], root: createRootContainer(), log, kernel, kernelVersion: '0.2.0', stopTimeoutMs: 100 });
    await h.boot();
    await h.stop();
    assert.deepEqual(trail.slice(-1), ['stop:first']);
    assert.ok(h.status().every((s) => s.state === 'stopped'));
  });

  it('refuses an invalid definition, and the old contract with a hint', () => {
    assert.throws(
      () => definePlugin({ manifest: { id: 'Bad Id', version: 'one' } }),
      (e: unknown) => e instanceof GfError && e.code === 'GF_PLUGIN_INVALID_DEFINITION' && /manifest.id/.test(e.message) && /version/.test(e.message),
    );
    assert.throws(
      () => definePlugin({ manifest: { id: 'old', version: '1.0.0', requires: ['storage'] } as never, stop: async () => undefined } as never),
      (e: unknown) => e instanceof GfError && /declare 'deps'/.test(e.message) && /ctx.onStop/.test(e.message),
    );
    assert.throws(() => definePlugin({ manifest: { id: 'd', version: '1.0.0' }, deps: { x: 'storage' } as never }), /deps.x must be a token/);
  });

  it('fills extension points from other plugins and refuses misuse', async () => {
    type Model = { predict(x: number): number };
    const Models = defineExtensionPoint<Model>('forecast.models', (m) => (typeof m.predict === 'function' ? undefined : 'predict must be a function'));
    const got: string[] = [];
    const forecast = definePlugin({
      manifest: { id: 'forecast', version: '1.0.0' },
      register(ctx) {
        ctx.openExtensionPoint(Models);
        ctx.contribute(Models, 'naive', { predict: (x) => x });
      },
      async start(ctx) {
        for (const [id, m] of ctx.extensions(Models)) got.push(`${id}=${m.predict(2)}`);
      },
    });
    const thirdParty = definePlugin({
      manifest: { id: 'acme', version: '1.0.0' },
      register: (ctx) => ctx.contribute(Models, 'double', { predict: (x) => 2 * x }),
    });
    await host([thirdParty, forecast]).boot(); // contributing before the opener registers is fine
    assert.deepEqual(got, ['double=4', 'naive=2'], 'entries in contribution order');

    await bootFails(host([thirdParty]), 'GF_PLUGIN_EXTENSION_POINT'); // nobody opens it
    const squatter = definePlugin({ manifest: { id: 'squat', version: '1.0.0' }, register: (ctx) => ctx.openExtensionPoint(Models) });
    const e = await bootFails(host([squatter]), 'GF_PLUGIN_EXTENSION_POINT');
    assert.match(e.message, /may only open extension points named 'squat.<name>'/);
    const broken = definePlugin({ manifest: { id: 'broken', version: '1.0.0' }, register: (ctx) => ctx.contribute(Models, 'x', {} as Model) });
    const e2 = await bootFails(host([forecast, broken]), 'GF_PLUGIN_EXTENSION_POINT');
    assert.match(e2.message, /predict must be a function/);
  });

  it('refuses two plugins mounting one prefix', async () => {
    const m = (id: string) => definePlugin({ manifest: { id, version: '1.0.0' }, start: async (ctx) => ctx.mount('/api/same/', new Router()) });
    const e = await bootFails(host([m('one'), m('two')]), 'GF_PLUGIN_START_FAILED');
    assert.equal(e.data!.causeCode, 'GF_PLUGIN_ROUTE_CONFLICT');
    assert.match(e.message, /'two' mounts '\/api\/same', already mounted by 'one'/);
  });

  it('plans without running plugin code and reports every problem at once', () => {
    const plan = PluginHost.plan(
      [
        traced('a', [], { needs: ['missing'] }),
        traced('a', []),
        definePlugin({ manifest: { id: 'c', version: '1.0.0' }, config: Type.Object({ n: Type.Optional(Type.Integer()) }) }),
        definePlugin({ manifest: { id: 'v', version: '1.0.0', kernel: '^9' } }),
      ],
      { c: { n: 'many' } },
      { kernelVersion: '0.2.0' },
    );
    assert.deepEqual(plan.problems.map((p) => p.code).sort(), ['GF_PLUGIN_DUPLICATE_ID', 'GF_PLUGIN_INVALID_CONFIG', 'GF_PLUGIN_KERNEL_VERSION', 'GF_PLUGIN_MISSING_DEPENDENCY']);
  });
});
