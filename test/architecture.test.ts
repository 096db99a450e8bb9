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
});
