import assert from 'node:assert/strict';
import { createLogger, createRootContainer, createToken, defineExtensionPoint, definePlugin, GfError, PluginHost, Router, type PluginDefinition } from '../index.js';

const log = createLogger({ level: 'silent' });
const kernel = { dataDir: '/nonexistent', databaseUrl: undefined, instanceId: 'test' };

function host(plugins: PluginDefinition<any>[], configs: Record<string, unknown> = {}, startTimeoutMs = 2_000) {
  return new PluginHost({ plugins, configs, root: createRootContainer(), log, kernel, startTimeoutMs });
}

/** A plugin that records its lifecycle into `trail`. */
function traced(id: string, trail: string[], extra: Partial<PluginDefinition<any>> & { requires?: string[] } = {}) {
  const { requires, ...rest } = extra;
  return definePlugin({
    manifest: { id, version: '1.0.0', ...(requires ? { requires } : {}) },
    register: () => void trail.push(`register:${id}`),
    start: async () => void trail.push(`start:${id}`),
    stop: async () => void trail.push(`stop:${id}`),
    ...rest,
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
  it('registers and starts in dependency order, and stops in reverse', async () => {
    const trail: string[] = [];
    const h = host([traced('c', trail, { requires: ['b'] }), traced('a', trail), traced('b', trail, { requires: ['a'] })]);
    await h.boot();
    assert.deepEqual(trail, ['register:a', 'register:b', 'register:c', 'start:a', 'start:b', 'start:c']);
    assert.ok(h.allStarted());
    await h.stop();
    assert.deepEqual(trail.slice(6), ['stop:c', 'stop:b', 'stop:a']);
    assert.deepEqual(h.status().map((s) => s.state), ['stopped', 'stopped', 'stopped']);
  });

  it('refuses a missing require, naming both plugins', async () => {
    const e = await bootFails(host([traced('a', [], { requires: ['ghost'] })]), 'GF_PLUGIN_MISSING_REQUIRE');
    assert.match(e.message, /'a' requires 'ghost'/);
    assert.equal(e.data!.plugin, 'a');
  });

  it('refuses a cycle of requires, naming the cycle', async () => {
    const e = await bootFails(host([traced('x', [], { requires: ['z'] }), traced('y', [], { requires: ['x'] }), traced('z', [], { requires: ['y'] }), traced('free', [])]), 'GF_PLUGIN_REQUIRE_CYCLE');
    assert.match(e.message, /x -> z -> y -> x/);
  });

  it('refuses a duplicate id', async () => {
    const e = await bootFails(host([traced('twin', []), traced('twin', [])]), 'GF_PLUGIN_DUPLICATE_ID');
    assert.equal(e.data!.plugin, 'twin');
  });

  it('validates config before register, applies defaults, and names every violated key', async () => {
    const seen: unknown[] = [];
    const p = definePlugin<{ size: number; mode: string; nested: { on: boolean } }>({
      manifest: {
        id: 'cfg',
        version: '1.0.0',
        config: {
          type: 'object',
          additionalProperties: false,
          properties: {
            size: { type: 'integer', minimum: 1, default: 4 },
            mode: { enum: ['fast', 'slow'], default: 'fast' },
            nested: { type: 'object', default: {}, properties: { on: { type: 'boolean', default: true } } },
          },
        },
      },
      register: (ctx) => void seen.push(ctx.config),
    });
    await host([p]).boot();
    assert.deepEqual(seen, [{ size: 4, mode: 'fast', nested: { on: true } }]);

    const e = await bootFails(host([p], { cfg: { size: 0, mode: 'warp', colour: 'red', nested: { on: 'yes' } } }), 'GF_PLUGIN_INVALID_CONFIG');
    const paths = (e.data!.violations as { path: string }[]).map((v) => v.path).sort();
    assert.deepEqual(paths, ['plugins.cfg.config.colour', 'plugins.cfg.config.mode', 'plugins.cfg.config.nested.on', 'plugins.cfg.config.size']);
    assert.equal(seen.length, 1, 'register is not called with an invalid config');
  });

  it('refuses a start that throws, naming the plugin, and stops the ones already started', async () => {
    const trail: string[] = [];
    const bad = traced('bad', trail, {
      requires: ['good'],
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

  it('refuses a start that does not finish in time and aborts its signal', async () => {
    let aborted = false;
    const slow = definePlugin({
      manifest: { id: 'slow', version: '1.0.0', startTimeoutMs: 150 },
      register: () => undefined,
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

  it('refuses an invalid definition', () => {
    assert.throws(
      () => definePlugin({ manifest: { id: 'Bad Id', version: 'one' }, register: () => undefined }),
      (e: unknown) => e instanceof GfError && e.code === 'GF_PLUGIN_INVALID_DEFINITION' && /manifest.id/.test(e.message) && /version/.test(e.message),
    );
  });

  it('keeps provided tokens private to the plugin and shares exposed ones', async () => {
    const Secret = createToken<string>('test.secret');
    const Shared = createToken<{ hello(): string }>('test.shared');
    const results: Record<string, unknown> = {};
    const owner = definePlugin({
      manifest: { id: 'owner', version: '1.0.0' },
      register(ctx) {
        ctx.provide(Secret, () => 'only mine');
        ctx.expose(Shared, (resolve) => ({ hello: () => `hello from ${resolve(Secret)}` }));
      },
    });
    const user = definePlugin({
      manifest: { id: 'user', version: '1.0.0', requires: ['owner'] },
      register: () => undefined,
      async start(ctx) {
        results.shared = ctx.resolve(Shared).hello();
        try {
          ctx.resolve(Secret);
        } catch (e) {
          results.secret = (e as Error).message;
        }
      },
    });
    await host([owner, user]).boot();
    assert.equal(results.shared, 'hello from only mine');
    assert.match(String(results.secret), /no provider for token test.secret/);

    const twice = definePlugin({ manifest: { id: 'twice', version: '1.0.0' }, register: (ctx) => ctx.expose(Shared, () => ({ hello: () => '' })) });
    await bootFails(host([owner, twice]), 'GF_PLUGIN_TOKEN_CONFLICT');
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
    const m = (id: string) => definePlugin({ manifest: { id, version: '1.0.0' }, register: (ctx) => ctx.mount('/api/same/', new Router()) });
    const e = await bootFails(host([m('one'), m('two')]), 'GF_PLUGIN_ROUTE_CONFLICT');
    assert.match(e.message, /'two' mounts '\/api\/same', already mounted by 'one'/);
  });

  it('plans without running plugin code and reports every problem at once', () => {
    const plan = PluginHost.plan(
      [
        traced('a', [], { requires: ['missing'] }),
        traced('a', []),
        definePlugin({ manifest: { id: 'c', version: '1.0.0', config: { type: 'object', properties: { n: { type: 'integer' } } } }, register: () => undefined }),
      ],
      { c: { n: 'many' } },
    );
    assert.deepEqual(plan.problems.map((p) => p.code).sort(), ['GF_PLUGIN_DUPLICATE_ID', 'GF_PLUGIN_INVALID_CONFIG', 'GF_PLUGIN_MISSING_REQUIRE']);
  });
});
