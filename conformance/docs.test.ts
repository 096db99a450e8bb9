import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../test/process.js';
import { openadr3VenSuite } from './suites/openadr3-ven/index.js';
import { openadr3VtnSuite } from './suites/openadr3-vtn/index.js';

describe('conformance: docs/conformance.md stays true', () => {
  for (const [suite, tag] of [[openadr3VtnSuite, ''], [openadr3VenSuite, ' (VEN)']] as const) {
    it(`lists every case of ${suite.id} with its severity and counts, and no case that does not exist`, () => {
      const doc = readFileSync(path.join(ROOT, 'docs/conformance.md'), 'utf8');
      const cases = (suite.cases as (c: never) => { id: string; severity: string }[])(undefined as never);
      const missing = cases.filter((c) => !doc.includes(`| \`${c.id}\` | ${c.severity} |`)).map((c) => `${c.id} (${c.severity})`);
      assert.deepEqual(missing, []);
      const count = (s: string) => cases.filter((c) => c.severity === s).length;
      for (const s of ['required', 'recommended', 'extension']) {
        if (count(s) > 0) assert.match(doc, new RegExp(`\\| ${s}${tag.replace(/[()]/g, '\\$&')} \\| ${count(s)} \\|`), `the results table counts ${count(s)} ${s} cases of ${suite.id}`);
      }
    });
  }

  it('lists no case that does not exist', () => {
    const doc = readFileSync(path.join(ROOT, 'docs/conformance.md'), 'utf8');
    const all = [openadr3VtnSuite, openadr3VenSuite].flatMap((x) => (x.cases as (c: never) => { id: string }[])(undefined as never).map((c) => c.id));
    const listed = [...doc.matchAll(/^\| `([a-z0-9-]+\.[a-z0-9.-]+)` \|/gm)].map((m) => m[1]!);
    assert.deepEqual(listed.filter((id) => !all.includes(id)), []);
  });
});
