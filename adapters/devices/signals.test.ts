import assert from 'node:assert/strict';
import { OADR2B_SIGNALS, setpointFor } from './signals.js';

describe('devices: OpenADR signals to set points', () => {
  const pv = { nature: 'PvInverter' as const, ratedW: 5000 };
  const bat = { nature: 'Battery' as const, ratedW: 3000 };
  const load = { nature: 'FlexibleLoad' as const, ratedW: 2000 };
  const ev = { nature: 'EvCharger' as const, ratedW: 11000 };
  it('maps each payload type per nature as docs/devices.md says', () => {
    assert.deepEqual(setpointFor('EXPORT_CAPACITY_LIMIT', 1500, pv), { name: 'curtailmentPct', value: 30 });
    assert.deepEqual(setpointFor('EXPORT_CAPACITY_LIMIT', 9000, pv), { name: 'curtailmentPct', value: 100 });
    assert.equal(setpointFor('IMPORT_CAPACITY_LIMIT', 1500, pv), undefined);
    assert.deepEqual(setpointFor('PRICE', -0.05, pv), { name: 'curtailmentPct', value: 0 });
    assert.deepEqual(setpointFor('SIMPLE', 2, bat), { name: 'powerW', value: -2000 });
    assert.deepEqual(setpointFor('PRICE', 0.05, bat), { name: 'powerW', value: 3000 });
    assert.deepEqual(setpointFor('PRICE', 0.4, bat), { name: 'powerW', value: -3000 });
    assert.deepEqual(setpointFor('PRICE', 0.2, bat), { name: 'powerW', value: 0 });
    assert.deepEqual(setpointFor('SIMPLE', 3, load), { name: 'on', value: 0 });
    assert.deepEqual(setpointFor('IMPORT_CAPACITY_LIMIT', 690 * 10, ev), { name: 'currentLimitA', value: 10 });
    assert.equal(setpointFor('SIMPLE', 1, { nature: 'ElectricityMeter', ratedW: 1 }), undefined);
    assert.equal(OADR2B_SIGNALS.simple, 'SIMPLE');
  });
});
