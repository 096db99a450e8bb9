import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { declaredErrorCodes } from '../core/index.js';
import '../adapters/storage/index.js';
import '../adapters/scheduler/index.js';
import { ROOT } from './process.js';

describe('docs stay true', () => {
  it('the README shows the example plugin exactly as the tests load it', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const source = readFileSync(path.join(ROOT, 'plugins/example/index.ts'), 'utf8');
    assert.ok(readme.includes(`\`\`\`ts\n${source}\`\`\``), 'README example differs from plugins/example/index.ts');
  });

  it('docs/errors.md lists every declared kernel error code with its HTTP status', () => {
    const table = readFileSync(path.join(ROOT, 'docs/errors.md'), 'utf8');
    const missing: string[] = [];
    for (const [code, spec] of declaredErrorCodes()) {
      if (!code.startsWith('GF_')) continue;
      if (!new RegExp(`\\| \`${code}\` \\| ${spec.status} \\|`).test(table)) missing.push(`${code} (${spec.status})`);
    }
    assert.deepEqual(missing, []);
    const documented = [...table.matchAll(/^\| `(GF_[A-Z0-9_]+)`/gm)].map((m) => m[1]!);
    const stale = documented.filter((c) => !declaredErrorCodes().has(c));
    assert.deepEqual(stale, [], 'codes documented but no longer declared');
  });
});
