import assert from 'node:assert/strict';
import { eventEndMs } from './time.js';

const at = (iso: string) => Date.parse(iso);

describe('standards/openadr3 event end times', () => {
  it('ends events of calendar durations (years, months) on the calendar', () => {
    assert.equal(eventEndMs({ intervalPeriod: { start: '2000-01-01T00:00:00Z', duration: 'P1Y' } }), at('2001-01-01T00:00:00Z'));
    assert.equal(eventEndMs({ intervalPeriod: { start: '2024-01-31T00:00:00Z', duration: 'P1M' } }), at('2024-02-29T00:00:00Z'), 'a month from the 31st clamps to the month end');
    assert.equal(eventEndMs({ intervalPeriod: { start: '2020-02-29T12:00:00Z', duration: 'P1Y2M3DT4H' } }), at('2021-05-02T16:00:00Z'));
    // Three consecutive monthly intervals from the event's start.
    assert.equal(eventEndMs({ intervalPeriod: { start: '2024-01-01T00:00:00Z', duration: 'P1M' }, intervals: [{}, {}, {}] }), at('2024-04-01T00:00:00Z'));
    assert.equal(eventEndMs({ duration: 'P1Y', intervalPeriod: { start: '2019-06-01T00:00:00Z', duration: 'PT1H' } }), at('2020-06-01T00:00:00Z'));
  });

  it("takes the User Guide's 0001-01-01 start literally: with P9999Y the event runs into the future, with PT0S it is over", () => {
    const doItNow = eventEndMs({ intervalPeriod: { start: '0001-01-01T00:00:00Z', duration: 'P9999Y' } });
    assert.equal(doItNow, at('+010000-01-01T00:00:00Z'));
    assert.ok(doItNow! > Date.now());
    const cancelled = eventEndMs({ intervalPeriod: { start: '0001-01-01T00:00:00Z', duration: 'PT0S' } });
    assert.equal(cancelled, at('0001-01-01T00:00:00Z'));
    assert.ok(cancelled! < Date.now());
  });

  it('has no end without a start or a duration', () => {
    assert.equal(eventEndMs({}), null);
    assert.equal(eventEndMs({ intervalPeriod: { start: '2020-01-01T00:00:00Z' } }), null);
    assert.equal(eventEndMs({ intervalPeriod: { duration: 'PT1H' } }), null);
    assert.equal(eventEndMs({ intervalPeriod: { start: '2020-01-01T00:00:00Z', duration: 'P0.5Y' } }), null, 'a fractional year has no calendar meaning');
  });

  it('ends at the last interval when intervals carry their own periods', () => {
    const end = eventEndMs({
      intervals: [
        { intervalPeriod: { start: '2020-01-01T00:00:00Z', duration: 'PT1H' } },
        { intervalPeriod: { start: '2099-01-01T00:00:00Z', duration: 'PT1H' } },
      ],
    });
    assert.equal(end, at('2099-01-01T01:00:00Z'));
  });
});
