import assert from 'node:assert/strict';
import { durationToMs, msToDuration, parseIsoDuration, parseObjectId } from './ids.js';

describe('standards/common ids and durations', () => {
  it('accepts objectIDs per OpenADR 3.1 and refuses the rest', () => {
    assert.equal(parseObjectId('ven-1_A'), 'ven-1_A');
    assert.equal(parseObjectId('a'.repeat(128)), 'a'.repeat(128));
    for (const bad of ['', 'a'.repeat(129), 'has space', 'ü', 'a/b', 42, null]) assert.equal(parseObjectId(bad), undefined, String(bad));
  });

  it('parses ISO 8601 durations and converts the fixed-length ones', () => {
    assert.equal(durationToMs('PT1H'), 3_600_000);
    assert.equal(durationToMs('PT15M'), 900_000);
    assert.deepEqual([0, 45_000, 900_000, 3_600_000, 5_430_000].map(msToDuration), ['PT0S', 'PT45S', 'PT15M', 'PT1H', 'PT1H30M30S']);
    for (const ms of [1000, 61_000, 86_400_000]) assert.equal(durationToMs(msToDuration(ms)), ms);
    assert.equal(durationToMs('P1DT0.5S'), 86_400_500);
    assert.equal(durationToMs('P1W'), 7 * 86_400_000);
    assert.equal(durationToMs('-PT10S'), -10_000);
    assert.equal(durationToMs('P1M'), undefined, 'months are calendar-dependent');
    for (const bad of ['P', 'PT', 'P1H', '1H', 'PT1', 'P1DT', '', 'pt1h']) assert.equal(parseIsoDuration(bad), undefined, bad);
  });
});
