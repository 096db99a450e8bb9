import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './process.js';

/** Which top-level folders each folder may import from (docs/architecture.md). */
const ALLOWED: Record<string, string[]> = {
  standards: ['standards'],
  core: ['core', 'standards'],
  adapters: ['adapters', 'core', 'standards', 'contracts'],
  plugins: ['plugins', 'core', 'standards', 'contracts'],
  contracts: ['contracts'],
  conformance: ['conformance', 'standards'],
};

function* tsFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) yield* tsFiles(p);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) yield p;
  }
}

describe('architecture', () => {
  it('imports point one way: standards ← core ← adapters, plugins', () => {
    const broken: string[] = [];
    for (const [top, allowed] of Object.entries(ALLOWED)) {
      for (const file of tsFiles(path.join(ROOT, top))) {
        if (/\.(test|contract)\.ts$/.test(file) || file.includes(`${path.sep}testing${path.sep}`)) continue;
        const text = readFileSync(file, 'utf8');
        for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
          const target = path.relative(ROOT, path.resolve(path.dirname(file), m[1]!)).split(path.sep)[0]!;
          if (!allowed.includes(target)) broken.push(`${path.relative(ROOT, file)} imports ${m[1]}`);
        }
        if (top === 'plugins') {
          for (const m of text.matchAll(/from\s*'(\.\.\/(?!\.\.)[^']+)'/g)) {
            if (!/^\.\.\/[a-z0-9-]+\/api\.js$/.test(m[1]!)) broken.push(`${path.relative(ROOT, file)} reaches into another plugin: ${m[1]}`);
          }
        }
      }
    }
    assert.deepEqual(broken, []);
  });

  it('conformance/ is a black box: standards/ and the npm packages the install brings, never core/, adapters/ or plugins/', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const broken: string[] = [];
    for (const file of tsFiles(path.join(ROOT, 'conformance'))) {
      // Its tests start our own servers to run the suites against; the runner itself may not.
      if (file.endsWith('.test.ts')) continue;
      const rel = path.relative(ROOT, file);
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
        const spec = m[1]!;
        if (spec.startsWith('.')) continue; // relative: the first test holds them to conformance/ and standards/
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        if (!spec.startsWith('node:') && !(name in pkg.dependencies)) broken.push(`${rel} imports '${spec}', not a runtime dependency`);
      }
      // No way round the rule by computed paths (new URL('../core/…'), import(variable)).
      for (const m of text.matchAll(/['`](?:\.\.\/)+(core|adapters|plugins)\//g)) broken.push(`${rel} names ${m[1]}/ in a string`);
      if (/\bimport\(\s*[^'\s)]/.test(text)) broken.push(`${rel} imports a computed module path`);
    }
    assert.deepEqual(broken, []);
  });

  it('the kernel reaches conformance/ only through the CLI, by module path', () => {
    const users: string[] = [];
    for (const file of tsFiles(path.join(ROOT, 'core'))) {
      if (/\.test\.ts$/.test(file)) continue;
      if (/['`](?:\.\.\/)+conformance\//.test(readFileSync(file, 'utf8'))) users.push(path.relative(ROOT, file));
    }
    assert.deepEqual(users, [path.join('core', 'cli', 'main.ts')]);
  });
});
