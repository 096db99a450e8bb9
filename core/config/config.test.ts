import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GfError } from '../errors.js';
import { checkConfig } from '../cli/main.js';
import { loadConfig, loadConfigOrThrow } from './config.js';

describe('config loading', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-config-'));
  const file = (name: string, text: string) => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('applies defaults with no file', () => {
    const c = loadConfigOrThrow({ env: {}, cwd: dir });
    assert.equal(c.server.port, 8080);
    assert.equal(c.server.host, '127.0.0.1');
    assert.equal(c.dataDir, path.join(dir, 'data'));
    assert.equal(c.database.url, '');
    assert.deepEqual(c.plugins, {});
  });

  it('reads YAML and JSON, resolving relative paths against the file', () => {
    const y = loadConfigOrThrow({ file: file('a.yaml', 'server:\n  port: 9000\ndataDir: ./state\nplugins:\n  example:\n    config: { greeting: Hoi }\n'), env: {} });
    assert.equal(y.server.port, 9000);
    assert.equal(y.dataDir, path.join(dir, 'state'));
    assert.deepEqual(y.plugins.example, { enabled: true, config: { greeting: 'Hoi' } });
    const j = loadConfigOrThrow({ file: file('b.json', '{"log":{"level":"warn"}}'), env: {} });
    assert.equal(j.log.level, 'warn');
  });

  it('lets the environment override the file, and flags override both', () => {
    const f = file('c.yaml', 'server: { port: 9000 }\n');
    const c = loadConfigOrThrow({
      file: f,
      cwd: '/srv',
      env: { PORT: '9100', DATABASE_URL: 'postgres://db/x', GRIDFLEX__plugins__example__config__greeting: 'Moin', GRIDFLEX__server__bodyLimitBytes: '4096' },
    });
    assert.equal(c.server.port, 9100);
    assert.equal(c.database.url, 'postgres://db/x');
    assert.equal(c.server.bodyLimitBytes, 4096, 'JSON-parsed values');
    assert.equal(c.plugins.example!.config.greeting, 'Moin');
    const d = loadConfigOrThrow({ file: f, cwd: '/srv', env: { PORT: '9100' }, overrides: { port: 1234, dataDir: 'here' } });
    assert.equal(d.server.port, 1234);
    assert.equal(d.dataDir, '/srv/here', 'a flag path is relative to where the command runs');
  });

  it('reports every violation at once, each naming its key', () => {
    const r = loadConfig({ file: file('d.yaml', 'server: { port: 70000, colour: red }\nlog: { level: loud }\nsurprise: 1\n'), env: { PORT: 'eighty' } });
    const paths = r.violations.map((v) => v.path).sort();
    assert.deepEqual(paths, ['env.PORT', 'log.level', 'server.colour', 'server.port', 'surprise']);
    assert.throws(() => loadConfigOrThrow({ file: path.join(dir, 'd.yaml'), env: {} }), (e: unknown) => e instanceof GfError && e.code === 'GF_CONFIG_INVALID');
  });

  it('refuses an unreadable or unparsable file with a coded error', () => {
    assert.throws(() => loadConfig({ file: path.join(dir, 'missing.yaml'), env: {} }), (e: unknown) => e instanceof GfError && e.code === 'GF_CONFIG_UNREADABLE');
    assert.throws(() => loadConfig({ file: file('e.json', '{nope'), env: {} }), (e: unknown) => e instanceof GfError && e.code === 'GF_CONFIG_UNREADABLE');
    assert.throws(() => loadConfig({ file: file('f.yaml', '- a list\n'), env: {} }), /must hold an object/);
  });

  it('config check finds unknown plugins, bad plugin config and kernel misuse together', async () => {
    const f = file(
      'g.yaml',
      'plugins:\n  example:\n    config: { greeting: "", extra: 1 }\n  nosuch: {}\n  scheduler:\n    enabled: false\n    config: { processEveryMs: 1 }\n',
    );
    const r = await checkConfig(f);
    const got = r.errors.map((e) => `${e.code} ${e.path}`).sort();
    assert.deepEqual(got, [
      'GF_CONFIG_INVALID plugins.scheduler',
      'GF_PLUGIN_INVALID_CONFIG plugins.example.config.extra',
      'GF_PLUGIN_INVALID_CONFIG plugins.example.config.greeting',
      'GF_PLUGIN_INVALID_CONFIG plugins.scheduler.config.processEveryMs',
      'GF_PLUGIN_UNKNOWN plugins.nosuch',
    ]);
  });
});
