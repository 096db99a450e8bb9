import { body, check, expectStatus, fail, list, REFUSED } from '../../expect.js';
import { API, D, def, type Case } from './access.js';
import { reportBody, type Vtn } from './context.js';

const ids = (xs: any[]) => xs.map((x) => x.id);

function metadata(v: Vtn, obj: any, objectType: string, x: Parameters<typeof check>[2]): void {
  check(typeof obj.id === 'string' && /^[a-zA-Z0-9_-]{1,128}$/.test(obj.id), `id '${obj.id}' is not an objectID`, x);
  check(obj.objectType === objectType, `objectType is '${obj.objectType}', expected ${objectType}`, x);
  for (const k of ['createdDateTime', 'modificationDateTime']) check(typeof obj[k] === 'string' && !Number.isNaN(Date.parse(obj[k])), `${k} '${obj[k]}' is not a date-time`, x);
  void v;
}

export function objectCases(): Case[] {
  const g = 'objects';
  return [
    def(g, 'program-create', 'required', D('§Object Metadata'), 'BL creates a program; the VTN fills id, createdDateTime, modificationDateTime and objectType', async (v) => {
      const x = await v.call('bl', 'POST', '/programs', { json: { programName: v.name('create'), programDescriptions: [{ URL: 'https://example.com/program' }] } });
      v.track('bl', 'programs', x);
      expectStatus(x, 201);
      metadata(v, body(x), 'PROGRAM', x);
      check(body(x).programName === v.name('create'), 'programName not kept', x);
    }),
    def(g, 'metadata-ignored', 'required', D('§POST and PUT'), 'id, createdDateTime, modificationDateTime and objectType in a POST body are ignored', async (v) => {
      const x = await v.call('bl', 'POST', '/programs', { json: { programName: v.name('meta'), id: 'chosen-by-client', objectType: 'EVENT', createdDateTime: '2001-01-01T00:00:00Z', modificationDateTime: '2001-01-01T00:00:00Z' } });
      v.track('bl', 'programs', x);
      expectStatus(x, 201);
      const b = body(x);
      check(b.id !== 'chosen-by-client', 'the client chose the id', x);
      check(b.objectType === 'PROGRAM', `objectType is '${b.objectType}'`, x);
      check(!String(b.createdDateTime).startsWith('2001'), 'createdDateTime came from the request', x);
    }),
    def(g, 'program-read', 'required', API('GET /programs/{programID}'), 'a program reads back by id as it was created', async (v) => {
      const w = await v.shared();
      const x = expectStatus(await v.call('bl', 'GET', '/programs/{programID}', { ids: { programID: w.programA.id } }), 200);
      check(body(x).id === w.programA.id && body(x).programName === w.programA.programName, 'a different program came back', x);
      check(body(x).createdDateTime === w.programA.createdDateTime, 'createdDateTime changed between reads', x);
    }),
    def(g, 'program-update', 'required', D('§POST and PUT'), 'PUT updates a program: same id and createdDateTime, later modificationDateTime, new values', async (v) => {
      const made = await v.create('bl', 'programs', { programName: v.name('upd') });
      await new Promise((r) => setTimeout(r, 5));
      const x = expectStatus(await v.call('bl', 'PUT', '/programs/{programID}', { ids: { programID: made.id }, json: { programName: v.name('upd-2'), id: 'ignored', objectType: 'EVENT' } }), 200);
      const b = body(x);
      check(b.id === made.id, 'the id changed', x);
      check(b.objectType === 'PROGRAM', `objectType is '${b.objectType}'`, x);
      check(b.programName === v.name('upd-2'), 'programName not updated', x);
      check(b.createdDateTime === made.createdDateTime, 'createdDateTime changed', x);
      check(Date.parse(b.modificationDateTime) >= Date.parse(made.modificationDateTime), 'modificationDateTime went back', x);
    }),
    def(g, 'program-name-unique', 'required', D('§Object names ("programName - must be unique to a VTN instance")'), 'a second program with a taken programName is refused with 409', async (v) => {
      const w = await v.shared();
      const x = await v.call('bl', 'POST', '/programs', { json: { programName: w.programOpen.programName } });
      v.track('bl', 'programs', x);
      expectStatus(x, 409);
    }),
    def(g, 'program-missing-name', 'required', D('§Required and optional properties'), 'a program without programName is refused with 400 and nothing is created', async (v) => {
      const x = await v.call('bl', 'POST', '/programs', { json: { programDescriptions: [] } });
      v.track('bl', 'programs', x);
      expectStatus(x, 400);
    }),
    def(g, 'unknown-properties', 'recommended', D('§Required and optional properties ("a VTN may create a corresponding resource without the additional property")'), 'a property no schema defines does not make a valid program fail', async (v) => {
      const x = await v.call('bl', 'POST', '/programs', { json: { programName: v.name('extra'), conformanceExtra: 42 } });
      v.track('bl', 'programs', x);
      expectStatus(x, 201);
    }),
    def(g, 'program-not-found', 'required', D('§Response Codes and Errors'), 'GET, PUT and DELETE of a program that does not exist answer 404', async (v) => {
      const id = v.name('nothing');
      expectStatus(await v.call('bl', 'GET', '/programs/{programID}', { ids: { programID: id } }), 404, 'GET');
      expectStatus(await v.call('bl', 'PUT', '/programs/{programID}', { ids: { programID: id }, json: { programName: v.name('nothing') } }), 404, 'PUT');
      expectStatus(await v.call('bl', 'DELETE', '/programs/{programID}', { ids: { programID: id } }), 404, 'DELETE');
    }),
    def(g, 'program-delete', 'required', API('DELETE /programs/{programID}'), 'DELETE answers 200 with the program, which is then gone', async (v) => {
      const made = await v.create('bl', 'programs', { programName: v.name('del') });
      const x = expectStatus(await v.call('bl', 'DELETE', '/programs/{programID}', { ids: { programID: made.id } }), 200);
      check(body(x).id === made.id, 'the answer is not the deleted program', x);
      v.forget(made.id);
      expectStatus(await v.call('bl', 'GET', '/programs/{programID}', { ids: { programID: made.id } }), 404, 'GET after DELETE');
    }),
    def(g, 'event-create', 'required', D('§Object Metadata'), 'BL creates an event in a program; metadata filled, programID kept', async (v) => {
      const w = await v.shared();
      const x = await v.call('bl', 'POST', '/events', { json: { programID: w.programOpen.id, eventName: v.name('ev'), priority: 1, intervals: [{ id: 0, payloads: [{ type: 'PRICE', values: [0.25] }] }] } });
      v.track('bl', 'events', x);
      expectStatus(x, 201);
      metadata(v, body(x), 'EVENT', x);
      check(body(x).programID === w.programOpen.id, 'programID not kept', x);
      check(body(x).intervals?.[0]?.payloads?.[0]?.values?.[0] === 0.25, 'payload values not kept', x);
    }),
    def(g, 'event-missing-program', 'required', D('§Required and optional properties'), 'an event without programID is refused with 400', async (v) => {
      const x = await v.call('bl', 'POST', '/events', { json: { eventName: v.name('orphan'), intervals: [] } });
      v.track('bl', 'events', x);
      expectStatus(x, 400);
    }),
    def(g, 'event-unknown-program', 'required', API('POST /events (400, 404)'), 'an event naming a program that does not exist is refused', async (v) => {
      const x = await v.call('bl', 'POST', '/events', { json: { programID: v.name('no-such-program'), intervals: [] } });
      v.track('bl', 'events', x);
      expectStatus(x, [400, 404, 409]);
    }),
    def(g, 'event-update-delete', 'required', API('PUT, DELETE /events/{eventID}'), 'PUT replaces an event\'s values and DELETE removes it', async (v) => {
      const w = await v.shared();
      const made = await v.create('bl', 'events', { programID: w.programOpen.id, eventName: v.name('ud'), intervals: [{ id: 0, payloads: [{ type: 'SIMPLE', values: [1] }] }] });
      const x = expectStatus(await v.call('bl', 'PUT', '/events/{eventID}', { ids: { eventID: made.id }, json: { programID: w.programOpen.id, eventName: v.name('ud-2'), intervals: [{ id: 0, payloads: [{ type: 'SIMPLE', values: [2] }] }] } }), 200);
      check(body(x).intervals?.[0]?.payloads?.[0]?.values?.[0] === 2 && body(x).eventName === v.name('ud-2'), 'the update is not in the answer', x);
      const r = expectStatus(await v.call('bl', 'GET', '/events/{eventID}', { ids: { eventID: made.id } }), 200);
      check(body(r).intervals?.[0]?.payloads?.[0]?.values?.[0] === 2, 'the update did not stick', r);
      expectStatus(await v.call('bl', 'DELETE', '/events/{eventID}', { ids: { eventID: made.id } }), 200, 'DELETE');
      v.forget(made.id);
      expectStatus(await v.call('bl', 'GET', '/events/{eventID}', { ids: { eventID: made.id } }), 404, 'GET after DELETE');
    }),
    def(g, 'event-filter-program', 'required', D('§Response Filtering'), 'GET /events?programID= returns only that program\'s events', async (v) => {
      const w = await v.shared();
      const x = expectStatus(await v.call('bl', 'GET', '/events', { query: { programID: w.programA.id } }), 200);
      const got = list(x);
      check(got.length > 0 && got.every((e) => e.programID === w.programA.id), `events of other programs came back: ${got.map((e) => e.programID).join(', ')}`, x);
      check(ids(got).includes(w.eventA.id), 'the program\'s event is missing', x);
    }),
    def(g, 'ven-bl-create', 'required', D('§BL created object privacy (ven objects)'), 'BL creates a ven for a VEN client, with clientID and targets', async (v) => {
      const w = await v.shared();
      const x = expectStatus(await v.call('bl', 'GET', '/vens/{venID}', { ids: { venID: w.venA.id } }), 200);
      metadata(v, body(x), 'VEN', x);
      check(body(x).clientID === w.venA.clientID, 'clientID not kept', x);
      check(JSON.stringify(body(x).targets) === JSON.stringify([w.targets.a]), `targets are ${JSON.stringify(body(x).targets)}`, x);
    }),
    def(g, 'ven-ven-create', 'required', D('§VEN created object privacy ("the VTN SHALL … write the identifier into the object.clientID field")'), 'a VEN creates its own ven; the VTN writes the clientID of its token', async (v) => {
      const x = await v.call('ven', 'POST', '/vens', { json: { objectType: 'VEN_VEN_REQUEST', venName: v.name('own-ven') } });
      v.track('ven', 'vens', x);
      expectStatus(x, 201);
      metadata(v, body(x), 'VEN', x);
      const clientId = await v.clientIdOf('ven');
      check(body(x).clientID === clientId, `clientID is '${body(x).clientID}', expected '${clientId}'`, x);
    }),
    def(g, 'ven-cannot-grant-targets', 'required', D('§BL created object privacy ("Only BL clients may write targets to ven and resource objects")'), 'a VEN writing targets on its ven does not get them', async (v) => {
      const w = await v.shared();
      const x = await v.call('ven', 'PUT', '/vens/{venID}', { ids: { venID: w.venA.id }, json: { objectType: 'BL_VEN_REQUEST', clientID: w.venA.clientID, venName: w.venA.venName, targets: [w.targets.a, w.targets.b] } });
      if (x.response && x.response.status >= 400 && x.response.status < 500) return;
      expectStatus(x, 200);
      const r = expectStatus(await v.call('bl', 'GET', '/vens/{venID}', { ids: { venID: w.venA.id } }), 200);
      check(!(body(r).targets ?? []).includes(w.targets.b), `the VEN granted itself ${w.targets.b}`, x);
    }),
    def(g, 'ven-privacy-list', 'required', D('§VEN created object privacy ("return the list of objects with matching clientID")'), 'GET /vens shows a VEN only the vens with its clientID', async (v) => {
      v.requireSecondVen();
      const w = await v.shared();
      const x = expectStatus(await v.call('ven2', 'GET', '/vens'), 200);
      const got = list(x);
      check(!ids(got).includes(w.venA.id), "another VEN's ven was listed", x);
      check(ids(got).includes(w.venB!.id), 'its own ven is missing', x);
      check(got.every((o) => o.clientID === w.venB!.clientID), 'a ven with another clientID was listed', x);
    }),
    def(g, 'ven-filter-name', 'required', D('§Response Filtering'), 'GET /vens?venName= returns that ven only', async (v) => {
      const w = await v.shared();
      const x = expectStatus(await v.call('bl', 'GET', '/vens', { query: { venName: w.venA.venName } }), 200);
      check(JSON.stringify(ids(list(x))) === JSON.stringify([w.venA.id]), `got ${ids(list(x)).join(', ') || 'nothing'}`, x);
    }),
    def(g, 'ven-name-unique', 'required', D('§Object names ("ven.venName - must be unique within the scope of a VTN instance")'), 'a second ven with a taken venName is refused', async (v) => {
      const w = await v.shared();
      const x = await v.call('bl', 'POST', '/vens', { json: { objectType: 'BL_VEN_REQUEST', clientID: w.venA.clientID, venName: w.venA.venName } });
      v.track('bl', 'vens', x);
      expectStatus(x, REFUSED);
    }),
    def(g, 'ven-name-unique-409', 'recommended', D('§Response Codes and Errors ("409 - Conflict (item already exists)")'), 'a taken venName is answered 409 (the OpenAPI lists no 409 for POST /vens)', async (v) => {
      const w = await v.shared();
      const x = await v.call('bl', 'POST', '/vens', { json: { objectType: 'BL_VEN_REQUEST', clientID: w.venA.clientID, venName: w.venA.venName } });
      v.track('bl', 'vens', x);
      expectStatus(x, 409);
    }),
    def(g, 'ven-missing-name', 'required', D('§Required and optional properties'), 'a ven without venName is refused with 400', async (v) => {
      const x = await v.call('ven', 'POST', '/vens', { json: { objectType: 'VEN_VEN_REQUEST' } });
      v.track('ven', 'vens', x);
      expectStatus(x, 400);
    }),
    def(g, 'resource-ven-create', 'required', D('§VEN created object privacy'), 'a VEN creates a resource on its own ven; clientID is its own', async (v) => {
      const w = await v.shared();
      const x = await v.call('ven', 'POST', '/resources', { json: { objectType: 'VEN_RESOURCE_REQUEST', venID: w.venA.id, resourceName: v.name('heat-pump') } });
      v.track('ven', 'resources', x);
      expectStatus(x, 201);
      metadata(v, body(x), 'RESOURCE', x);
      check(body(x).venID === w.venA.id, 'venID not kept', x);
      check(body(x).clientID === w.venA.clientID, `clientID is '${body(x).clientID}'`, x);
    }),
    def(g, 'resource-foreign-ven', 'required', D('§VEN created object privacy'), "a VEN cannot create a resource on another VEN's ven", async (v) => {
      v.requireSecondVen();
      const w = await v.shared();
      const x = await v.call('ven2', 'POST', '/resources', { json: { objectType: 'VEN_RESOURCE_REQUEST', venID: w.venA.id, resourceName: v.name('intruder') } });
      v.track('ven2', 'resources', x);
      expectStatus(x, REFUSED);
    }),
    def(g, 'resource-name-unique', 'required', D('§Object names ("ven.resource.resourceName - must be unique to its associated ven")'), 'a taken resourceName on the same ven is refused; on another ven it is allowed', async (v) => {
      v.requireSecondVen();
      const w = await v.shared();
      const dup = await v.call('bl', 'POST', '/resources', { json: { objectType: 'BL_RESOURCE_REQUEST', clientID: w.venA.clientID, venID: w.venA.id, resourceName: w.resA.resourceName } });
      v.track('bl', 'resources', dup);
      expectStatus(dup, REFUSED, 'same name on the same ven');
      const other = await v.call('bl', 'POST', '/resources', { json: { objectType: 'BL_RESOURCE_REQUEST', clientID: w.venB!.clientID, venID: w.venB!.id, resourceName: w.resA.resourceName } });
      v.track('bl', 'resources', other);
      expectStatus(other, [201, 200], 'same name on another ven');
    }),
    def(g, 'resource-filters', 'required', D('§Response Filtering ("results must match every filter term")'), 'GET /resources filters by venID and resourceName, additively', async (v) => {
      const w = await v.shared();
      const byVen = expectStatus(await v.call('bl', 'GET', '/resources', { query: { venID: w.venA.id } }), 200);
      check(list(byVen).every((r) => r.venID === w.venA.id) && ids(list(byVen)).includes(w.resA.id), 'venID filter', byVen);
      const both = expectStatus(await v.call('bl', 'GET', '/resources', { query: { venID: w.venA.id, resourceName: w.resA.resourceName } }), 200);
      check(JSON.stringify(ids(list(both))) === JSON.stringify([w.resA.id]), `venID+resourceName gave ${ids(list(both)).join(', ') || 'nothing'}`, both);
      if (w.venB) {
        const none = expectStatus(await v.call('bl', 'GET', '/resources', { query: { venID: w.venB.id, resourceName: w.resA.resourceName } }), 200);
        check(!ids(list(none)).includes(w.resA.id), 'the filters are not additive', none);
      }
    }),
    def(g, 'resource-privacy', 'required', D('§VEN created object privacy'), "another VEN neither lists nor reads VEN 1's resources", async (v) => {
      v.requireSecondVen();
      const w = await v.shared();
      const x = expectStatus(await v.call('ven2', 'GET', '/resources'), 200);
      check(!ids(list(x)).includes(w.resA.id), "VEN 1's resource was listed", x);
      check(ids(list(x)).includes(w.resB!.id), 'its own resource is missing', x);
    }),
    def(g, 'ven-delete-with-resources', 'recommended', API('DELETE /vens/{venID}'), 'a ven with its resources is deleted cleanly or refused; never half-done (its resources stay readable or go with it)', async (v) => {
      const ven = await v.create('bl', 'vens', { objectType: 'BL_VEN_REQUEST', clientID: (await v.shared()).venA.clientID, venName: v.name('deletable') });
      const res = await v.create('bl', 'resources', { objectType: 'BL_RESOURCE_REQUEST', clientID: ven.clientID, venID: ven.id, resourceName: v.name('dep') });
      const x = await v.call('bl', 'DELETE', '/vens/{venID}', { ids: { venID: ven.id } });
      const r = await v.call('bl', 'GET', '/resources/{resourceID}', { ids: { resourceID: res.id } });
      if (x.response?.status === 200) check(r.response?.status === 404, 'the ven is gone but its resource remains', r);
      else {
        expectStatus(x, REFUSED);
        expectStatus(r, 200, 'the refused delete removed the resource');
      }
    }),
    def(g, 'report-create', 'required', D('§VEN created object privacy'), 'a VEN creates a report on an event it can see; clientID is its own', async (v) => {
      const w = await v.shared();
      const x = expectStatus(await v.call('ven', 'GET', '/reports/{reportID}', { ids: { reportID: w.reportA.id } }), 200);
      metadata(v, body(x), 'REPORT', x);
      check(body(x).clientID === w.venA.clientID, `clientID is '${body(x).clientID}'`, x);
      check(body(x).eventID === w.eventOpen.id, 'eventID not kept', x);
    }),
    def(g, 'report-missing-fields', 'required', D('§Required and optional properties'), 'a report without eventID, clientName or resources is refused with 400', async (v) => {
      const w = await v.shared();
      for (const drop of ['eventID', 'clientName', 'resources']) {
        const b: Record<string, unknown> = reportBody(w.eventOpen.id, 'x');
        delete b[drop];
        const x = await v.call('ven', 'POST', '/reports', { json: b });
        v.track('ven', 'reports', x);
        expectStatus(x, 400, `without ${drop}`);
      }
    }),
    def(g, 'report-privacy', 'required', D('§VEN created object privacy'), "another VEN neither lists nor reads VEN 1's report; BL reads it", async (v) => {
      v.requireSecondVen();
      const w = await v.shared();
      const x = expectStatus(await v.call('ven2', 'GET', '/reports'), 200);
      check(!ids(list(x)).includes(w.reportA.id), "VEN 1's report was listed to another VEN", x);
      const bl = expectStatus(await v.call('bl', 'GET', '/reports', { query: { eventID: w.eventOpen.id } }), 200);
      check(ids(list(bl)).includes(w.reportA.id), 'BL does not see the report', bl);
    }),
    def(g, 'report-filters', 'required', D('§Response Filtering'), 'GET /reports filters by programID, eventID and clientName, additively', async (v) => {
      const w = await v.shared();
      const q = async (query: Record<string, string>) => ids(list(expectStatus(await v.call('bl', 'GET', '/reports', { query }), 200)));
      check((await q({ eventID: w.eventOpen.id })).includes(w.reportA.id), 'eventID filter misses the report');
      check((await q({ programID: w.programOpen.id })).includes(w.reportA.id), 'programID filter misses the report');
      check((await q({ programID: w.programOpen.id, clientName: w.reportA.clientName })).includes(w.reportA.id), 'programID+clientName misses the report');
      check(!(await q({ programID: w.programA.id })).includes(w.reportA.id), 'programID filter returned a report of another program');
      check(!(await q({ eventID: w.eventOpen.id, clientName: v.name('nobody') })).includes(w.reportA.id), 'the filters are not additive');
    }),
    def(g, 'report-unseen-event', 'required', D('§Object Privacy (program and event objects - targeting)'), 'a VEN cannot report on an event targeted at targets it was not granted', async (v) => {
      const w = await v.shared();
      const x = await v.call('ven', 'POST', '/reports', { json: reportBody(w.eventFeeder.id, 'x') });
      v.track('ven', 'reports', x);
      expectStatus(x, REFUSED);
    }),
    def(g, 'report-update-delete', 'required', API('PUT, DELETE /reports/{reportID}'), 'the VEN that wrote a report updates and deletes it', async (v) => {
      const w = await v.shared();
      const made = await v.create('ven', 'reports', reportBody(w.eventOpen.id, 'x', v.name('r1')));
      const x = expectStatus(await v.call('ven', 'PUT', '/reports/{reportID}', { ids: { reportID: made.id }, json: reportBody(w.eventOpen.id, 'x', v.name('r2')) }), 200);
      check(body(x).reportName === v.name('r2'), 'the update is not in the answer', x);
      expectStatus(await v.call('ven', 'DELETE', '/reports/{reportID}', { ids: { reportID: made.id } }), 200, 'DELETE');
      v.forget(made.id);
      expectStatus(await v.call('ven', 'GET', '/reports/{reportID}', { ids: { reportID: made.id } }), 404, 'GET after DELETE');
    }),
    def(g, 'subscription-privacy', 'required', D('§VEN created object privacy'), "a subscription carries its VEN's clientID; another VEN does not see it", async (v) => {
      const w = await v.shared();
      const sub = await v.sharedSubscription();
      check(sub.clientID === w.venA.clientID, `clientID is '${sub.clientID}'`);
      if (!v.tokens.ven2) return;
      const x = expectStatus(await v.call('ven2', 'GET', '/subscriptions'), 200);
      check(!ids(list(x)).includes(sub.id), "VEN 1's subscription was listed to another VEN", x);
    }),
    def(g, 'subscription-filters', 'required', D('§Response Filtering'), 'GET /subscriptions filters by programID, clientName and objects', async (v) => {
      const sub = await v.sharedSubscription();
      const w = await v.shared();
      const q = async (query: Record<string, string>) => ids(list(expectStatus(await v.call('bl', 'GET', '/subscriptions', { query }), 200)));
      check((await q({ programID: w.programOpen.id })).includes(sub.id), 'programID filter misses it');
      check((await q({ clientName: sub.clientName })).includes(sub.id), 'clientName filter misses it');
      check((await q({ objects: 'EVENT' })).includes(sub.id), 'objects=EVENT misses it');
      check(!(await q({ objects: 'REPORT' })).includes(sub.id), 'objects=REPORT returned an EVENT subscription');
      check(!(await q({ programID: w.programA.id })).includes(sub.id), 'programID filter returned a subscription of another program');
    }),
    def(g, 'not-found-problem', 'required', D('§Problem ("On 40x and 500 responses, a VTN SHALL respond with a problem object")'), 'a 404 carries a problem body with the status', async (v) => {
      const x = expectStatus(await v.call('bl', 'GET', '/events/{eventID}', { ids: { eventID: v.name('none') } }), 404);
      const b = body(x);
      check(typeof b === 'object' && b !== null && !Array.isArray(b), 'not an object', x);
      if (b.status !== undefined) check(b.status === 404, `status in the body is ${b.status}`, x);
      if (v.spec) {
        const errors = v.spec.checkSchema('problem', b);
        if (errors.length) fail(`not a problem object: ${errors.join('; ')}`, x);
      }
    }),
  ];
}
