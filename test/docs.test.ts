import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { AuthErrors, declaredErrorCodes, KernelErrors, LedgerErrors } from '../core/index.js';
import { Oa3Errors } from '../plugins/openadr3/errors.js';
import { MeterDataErrors } from '../plugins/meter-data/errors.js';
import { ForecastErrors } from '../plugins/forecasting/errors.js';
import { BaselineErrors } from '../plugins/baseline/errors.js';
import { PvErrors } from '../plugins/pv-degradation/errors.js';
import { WeatherErrors } from '../plugins/weather/errors.js';
import { MarketErrors } from '../plugins/p2p-market/errors.js';
import { DeviceErrors } from '../adapters/devices/errors.js';
import { Oa2Errors } from '../plugins/openadr2b/errors.js';
import { VenErrors } from '../core/openadr3/ven.js';
import '../adapters/storage/index.js';
import '../adapters/scheduler/index.js';
import { ROOT } from './process.js';

describe('docs stay true', () => {
  it('the README shows the example plugin exactly as the tests load it', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const source = readFileSync(path.join(ROOT, 'plugins/example/index.ts'), 'utf8');
    assert.ok(readme.includes(`\`\`\`ts\n${source}\`\`\``), 'README example differs from plugins/example/index.ts');
  });

  const tables: [string, Record<string, string>][] = [
    ['docs/errors.md', { ...KernelErrors, ...VenErrors, ...LedgerErrors, ...AuthErrors }],
    ['plugins/openadr3/README.md', Oa3Errors],
    ['plugins/meter-data/README.md', MeterDataErrors],
    ['plugins/forecasting/README.md', ForecastErrors],
    ['plugins/baseline/README.md', BaselineErrors],
    ['plugins/pv-degradation/README.md', PvErrors],
    ['plugins/weather/README.md', WeatherErrors],
    ['plugins/p2p-market/README.md', MarketErrors],
    ['docs/devices.md', DeviceErrors],
    ['plugins/openadr2b/README.md', Oa2Errors],
  ];
  for (const [doc, codes] of tables) {
    it(`${doc} lists each of its error codes with its HTTP status, and no stale ones`, () => {
      const table = readFileSync(path.join(ROOT, doc), 'utf8');
      const missing: string[] = [];
      for (const code of Object.keys(codes)) {
        const spec = declaredErrorCodes().get(code)!;
        if (!new RegExp(`\\| \`${code}\` \\| ${spec.status} \\|`).test(table)) missing.push(`${code} (${spec.status})`);
      }
      assert.deepEqual(missing, []);
      const documented = [...table.matchAll(/^\| `(GF_[A-Z0-9_]+)`/gm)].map((m) => m[1]!);
      assert.deepEqual(documented.filter((c) => !(c in codes)), [], 'codes documented but not declared here');
    });
  }
});
