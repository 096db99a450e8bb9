import { body, check, expectStatus, list, REFUSED } from '../../expect.js';
import { API, D, def, UG, type Case } from './access.js';
import type { Vtn } from './context.js';

const ids = (xs: any[]) => xs.map((x) => x.id);
const PAGING = D('§Response Filtering ("VTN SHALL support limit and skip query params")');

/** A program of its own with `n` events, made once per run for the paging cases. */
const pagedProgram = new WeakMap<Vtn, Promise<{ program: any; events: string[] }>>();
function paged(v: Vtn, n = 7): Promise<{ program: any; events: string[] }> {
  let p = pagedProgram.get(v);
  if (!p) {
    p = (async () => {
      const program = await v.create('bl', 'programs', { programName: v.name('paging') });
      const events: string[] = [];
      for (let i = 0; i < n; i++) events.push((await v.create('bl', 'events', { programID: program.id, eventName: v.name(`page-${i}`), intervals: [] })).id);
      return { program, events };
    })();
    pagedProgram.set(v, p);
  }
  return p;
}

export function pagingCases(): Case[] {
  const g = 'paging';
  return [
    def(g, 'limit', 'required', PAGING, 'limit=N returns at most N objects', async (v) => {
      const { program } = await paged(v);
      const x = expectStatus(await v.call('bl', 'GET', '/events', { query: { programID: program.id, limit: 3 } }), 200);
      check(list(x).length === 3, `limit=3 returned ${list(x).length} of 7`, x);
    }),
    def(g, 'skip-limit-pages', 'required', PAGING, 'pages by skip and limit are disjoint and together return every object once', async (v) => {
      const { program, events } = await paged(v);
      const seen: string[] = [];
      for (let skip = 0; skip < events.length; skip += 3) {
        const x = expectStatus(await v.call('bl', 'GET', '/events', { query: { programID: program.id, skip, limit: 3 } }), 200);
        seen.push(...ids(list(x)));
      }
      check(new Set(seen).size === seen.length, `a page repeated objects: ${seen.join(', ')}`);
      check(JSON.stringify([...seen].sort()) === JSON.stringify([...events].sort()), `pages returned ${seen.length} distinct of ${events.length} events`);
    }),
    def(g, 'skip-past-end', 'required', PAGING, 'skip beyond the last object returns an empty list', async (v) => {
      const { program } = await paged(v);
      const x = expectStatus(await v.call('bl', 'GET', '/events', { query: { programID: program.id, skip: 1000 } }), 200);
      check(list(x).length === 0, `got ${list(x).length} objects`, x);
    }),
    def(g, 'limit-every-list', 'required', PAGING, 'every list operation honours limit=1', async (v) => {
      await v.shared();
      for (const path of ['/programs', '/events', '/vens', '/resources', '/reports']) {
        const x = expectStatus(await v.call('bl', 'GET', path, { query: { limit: 1 } }), 200, path);
        check(list(x).length <= 1, `${path}?limit=1 returned ${list(x).length}`, x);
      }
      const s = expectStatus(await v.call('ven', 'GET', '/subscriptions', { query: { limit: 1 } }), 200, '/subscriptions');
      check(list(s).length <= 1, `/subscriptions?limit=1 returned ${list(s).length}`, s);
    }),
    def(g, 'limit-max', 'required', API('GET /events (limit: maximum 50)'), 'a list never returns more than 50 objects, and limit=51 is refused or capped', async (v) => {
      const program = await v.create('bl', 'programs', { programName: v.name('max') });
      for (let i = 0; i < 51; i++) await v.create('bl', 'events', { programID: program.id, intervals: [] });
      const dflt = expectStatus(await v.call('bl', 'GET', '/events', { query: { programID: program.id } }), 200);
      check(list(dflt).length <= 50, `the default page has ${list(dflt).length} objects`, dflt);
      const over = await v.call('bl', 'GET', '/events', { query: { programID: program.id, limit: 51 } });
      if (over.response?.status === 200) check(list(over).length <= 50, `limit=51 returned ${list(over).length}`, over);
      else expectStatus(over, 400);
    }),
    def(g, 'invalid-values', 'recommended', API('GET /events (skip: minimum 0; limit: 0..50)'), 'skip=-1, limit=-1 and limit=ten are refused with 400', async (v) => {
      for (const query of [{ skip: -1 }, { limit: -1 }, { limit: 'ten' }]) {
        expectStatus(await v.call('bl', 'GET', '/events', { query }), 400, JSON.stringify(query));
      }
    }),
  ];
}

// ---------------------------------------------------------------------------------------------
// time: durations and date-times, the sentinels of the User Guide, and active=
// ---------------------------------------------------------------------------------------------

async function event(v: Vtn, programID: string, name: string, intervalPeriod: Record<string, string>, extra: Record<string, unknown> = {}) {
  return v.create('bl', 'events', { programID, eventName: v.name(name), intervalPeriod, intervals: [{ id: 0, payloads: [{ type: 'SIMPLE', values: [1] }] }], ...extra });
}

/** A program of its own for the time cases (so `active` lists only what a case made). */
const timeProgram = new WeakMap<Vtn, Promise<any>>();
function tprog(v: Vtn): Promise<any> {
  let p = timeProgram.get(v);
  if (!p) {
    p = v.create('bl', 'programs', { programName: v.name('time') });
    timeProgram.set(v, p);
  }
  return p;
}

async function activeIds(v: Vtn, programID: string): Promise<string[]> {
  const x = expectStatus(await v.call('bl', 'GET', '/events', { query: { programID, active: true } }), 200, 'GET /events?active=true');
  return ids(list(x));
}

export function timeCases(): Case[] {
  const g = 'time';
  return [
    def(g, 'p9999y-kept', 'required', D('§Information Model (intervalPeriod: "A duration of P9999Y may indicate infinity")'), 'an intervalPeriod duration of P9999Y is accepted and returned unchanged', async (v) => {
      const e = await event(v, (await tprog(v)).id, 'infinite', { start: '2024-01-01T00:00:00Z', duration: 'P9999Y' });
      const x = expectStatus(await v.call('bl', 'GET', '/events/{eventID}', { ids: { eventID: e.id } }), 200);
      check(body(x).intervalPeriod?.duration === 'P9999Y', `duration came back as ${JSON.stringify(body(x).intervalPeriod?.duration)}`, x);
    }),
    def(g, 'now-sentinel-kept', 'required', D('§Information Model (intervalPeriod: "A start of 0001-01-01 … may indicate now")'), 'a start of 0001-01-01T00:00:00Z is accepted and returned as the same instant', async (v) => {
      const e = await event(v, (await tprog(v)).id, 'now', { start: '0001-01-01T00:00:00Z', duration: 'P9999Y' });
      const x = expectStatus(await v.call('bl', 'GET', '/events/{eventID}', { ids: { eventID: e.id } }), 200);
      check(Date.parse(body(x).intervalPeriod?.start) === Date.parse('0001-01-01T00:00:00Z'), `start came back as ${JSON.stringify(body(x).intervalPeriod?.start)}`, x);
    }),
    def(g, 'now-sentinel-as-written', 'recommended', UG('§7.3 intervalPeriod.start ("0001-01-01" or "0001-01-01T00:00:00")'), "the User Guide's sentinel forms 0001-01-01 and 0001-01-01T00:00:00 (not RFC 3339) are accepted", async (v) => {
      const p = (await tprog(v)).id;
      for (const start of ['0001-01-01', '0001-01-01T00:00:00']) {
        const x = await v.call('bl', 'POST', '/events', { json: { programID: p, eventName: v.name('ug-now'), intervalPeriod: { start, duration: 'P9999Y' }, intervals: [] } });
        v.track('bl', 'events', x);
        expectStatus(x, [201, 200], `start ${start}`);
      }
    }),
    def(g, 'active-do-it-now', 'required', UG("§7.3 'do it now' event"), "a 'do it now' event (start 0001-01-01, duration P9999Y) is active", async (v) => {
      const p = (await tprog(v)).id;
      const e = await event(v, p, 'do-it-now', { start: '0001-01-01T00:00:00Z', duration: 'P9999Y' });
      check((await activeIds(v, p)).includes(e.id), 'the do-it-now event is not in active=true');
    }),
    def(g, 'active-past-future', 'required', API('GET /events (active: "ignore events that have transpired")'), 'active=true leaves out an event that has ended and keeps one in the future', async (v) => {
      const p = (await tprog(v)).id;
      const past = await event(v, p, 'past', { start: '2020-01-01T00:00:00Z', duration: 'PT1H' });
      const future = await event(v, p, 'future', { start: '2099-01-01T00:00:00Z', duration: 'PT1H' });
      const got = await activeIds(v, p);
      check(!got.includes(past.id), 'an event of 2020 is listed as active');
      check(got.includes(future.id), 'an event of 2099 is not listed as active');
      const all = ids(list(expectStatus(await v.call('bl', 'GET', '/events', { query: { programID: p, active: false } }), 200)));
      check(all.includes(past.id), 'active=false leaves out the past event');
    }),
    def(g, 'active-calendar-duration', 'required', API('GET /events (active: "ignore events that have transpired")'), 'an event of one year (P1Y) in 2000 has transpired; one running until 2099 (P100Y) has not', async (v) => {
      const p = (await tprog(v)).id;
      const year = await event(v, p, 'year-2000', { start: '2000-01-01T00:00:00Z', duration: 'P1Y' });
      const century = await event(v, p, 'century', { start: '2000-01-01T00:00:00Z', duration: 'P100Y' });
      const got = await activeIds(v, p);
      check(!got.includes(year.id), 'the P1Y event of 2000 is listed as active');
      check(got.includes(century.id), 'the P100Y event from 2000 is not listed as active');
    }),
    def(g, 'active-cancel-idiom', 'recommended', UG('§7.9 Event Cancellation ("0001-01-01" and "PT0S")'), 'an event set to start 0001-01-01 with duration PT0S (the cancellation idiom) is not active', async (v) => {
      const p = (await tprog(v)).id;
      const e = await event(v, p, 'cancelled', { start: '0001-01-01T00:00:00Z', duration: 'PT0S' });
      check(!(await activeIds(v, p)).includes(e.id), 'the cancelled event is listed as active');
    }),
    def(g, 'active-event-duration', 'recommended', UG('§7.3 event.duration'), 'event.duration bounds the event: intervals until 2099 cut to PT1H from 2020 have transpired', async (v) => {
      const p = (await tprog(v)).id;
      const e = await v.create('bl', 'events', {
        programID: p,
        eventName: v.name('cut'),
        duration: 'PT1H',
        intervalPeriod: { start: '2020-01-01T00:00:00Z', duration: 'P79Y' },
        intervals: [{ id: 0, payloads: [{ type: 'SIMPLE', values: [1] }] }],
      });
      check(!(await activeIds(v, p)).includes(e.id), 'an event cut to one hour in 2020 is listed as active');
    }),
    def(g, 'active-interval-periods', 'required', UG('§7.4 Variable duration intervals'), 'an event whose intervals carry their own periods is active while its last interval is to come', async (v) => {
      const p = (await tprog(v)).id;
      const e = await v.create('bl', 'events', {
        programID: p,
        eventName: v.name('intervals'),
        intervals: [
          { id: 0, intervalPeriod: { start: '2020-01-01T00:00:00Z', duration: 'PT1H' }, payloads: [{ type: 'SIMPLE', values: [1] }] },
          { id: 1, intervalPeriod: { start: '2099-01-01T00:00:00Z', duration: 'PT1H' }, payloads: [{ type: 'SIMPLE', values: [2] }] },
        ],
      });
      check((await activeIds(v, p)).includes(e.id), 'an event with an interval in 2099 is not active');
    }),
    def(g, 'invalid-duration', 'recommended', API('duration (pattern)'), "a duration that is not ISO 8601 ('1 hour') is refused with 400", async (v) => {
      const x = await v.call('bl', 'POST', '/events', { json: { programID: (await tprog(v)).id, intervalPeriod: { start: '2099-01-01T00:00:00Z', duration: '1 hour' }, intervals: [] } });
      v.track('bl', 'events', x);
      expectStatus(x, 400);
    }),
    def(g, 'invalid-date-time', 'recommended', API('dateTime (format: date-time)'), "a start that is not a date-time ('tomorrow') is refused with 400", async (v) => {
      const x = await v.call('bl', 'POST', '/events', { json: { programID: (await tprog(v)).id, intervalPeriod: { start: 'tomorrow', duration: 'PT1H' }, intervals: [] } });
      v.track('bl', 'events', x);
      expectStatus(x, REFUSED);
    }),
    def(g, 'modification-time', 'required', D('§Object Metadata'), 'modificationDateTime of an updated object is not before its createdDateTime and not in the future', async (v) => {
      const p = await tprog(v);
      const x = expectStatus(await v.call('bl', 'PUT', '/programs/{programID}', { ids: { programID: p.id }, json: { programName: p.programName } }), 200);
      const b = body(x);
      check(Date.parse(b.modificationDateTime) >= Date.parse(b.createdDateTime), 'modified before created', x);
      check(Date.parse(b.modificationDateTime) <= Date.now() + 5 * 60_000, 'modificationDateTime is in the future (more than 5 minutes of clock skew)', x);
    }),
  ];
}
