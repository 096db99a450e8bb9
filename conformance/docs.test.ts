import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../test/process.js';
import { openadr3VtnSuite } from './suites/openadr3-vtn/index.js';

describe('conformance: docs/conformance.md stays true', () => {
  it('lists every case of openadr3-vtn with its severity, and no case that does not exist', () => {
    const doc = readFileSync(path.join(ROOT, 'docs/conformance.md'), 'utf8');
    const cases = openadr3VtnSuite.cases(undefined as never);
    const missing = cases.filter((c) => !doc.includes(`| \`${c.id}\` | ${c.severity} |`)).map((c) => `${c.id} (${c.severity})`);
    assert.deepEqual(missing, []);
    const listed = [...doc.matchAll(/^\| `([a-z0-9-]+\.[a-z0-9.-]+)` \|/gm)].map((m) => m[1]!);
    assert.deepEqual(listed.filter((id) => !cases.some((c) => c.id === id)), []);
    const count = (s: string) => cases.filter((c) => c.severity === s).length;
    for (const s of ['required', 'recommended', 'extension']) assert.match(doc, new RegExp(`\\| ${s} \\| ${count(s)} \\|`), `the results table counts ${count(s)} ${s} cases`);
  });
});
