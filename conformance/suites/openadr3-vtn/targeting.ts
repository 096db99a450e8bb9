import { body, check, expectStatus, list } from '../../expect.js';
import { D, def, UG, type Case } from './access.js';

const ids = (xs: any[]) => xs.map((x) => x.id);
const TARGETING = D('§Object Privacy (program and event objects - targeting)');
const HIDING = D('§Object Privacy ("Target hiding")');

export function targetingCases(): Case[] {
  const g = 'targeting';
  return [
    def(g, 'untargeted-visible', 'required', TARGETING, 'a VEN sees untargeted programs and events without asking for targets', async (v) => {
      const w = await v.shared();
      const p = expectStatus(await v.call('ven', 'GET', '/programs'), 200);
      check(ids(list(p)).includes(w.programOpen.id), 'the untargeted program is missing', p);
      const e = expectStatus(await v.call('ven', 'GET', '/events/{eventID}', { ids: { eventID: w.eventOpen.id } }), 200);
      check(body(e).id === w.eventOpen.id, 'another event came back', e);
    }),
    def(g, 'no-request-targets', 'required', TARGETING, 'a VEN asking for no targets does not see targeted programs or events (the intersection is empty)', async (v) => {
      const w = await v.shared();
      const p = expectStatus(await v.call('ven', 'GET', '/programs'), 200);
      check(!ids(list(p)).includes(w.programA.id), 'a targeted program was listed without request targets', p);
      const e = expectStatus(await v.call('ven', 'GET', '/events', { query: { programID: w.programA.id } }), 200);
      check(!ids(list(e)).includes(w.eventA.id), 'a targeted event was listed without request targets', e);
    }),
    def(g, 'granted-and-requested', 'required', TARGETING, 'a VEN asking for a target granted through its ven sees the programs and events carrying it', async (v) => {
      const w = await v.shared();
      const p = expectStatus(await v.call('ven', 'GET', '/programs', { query: { targets: [w.targets.a] } }), 200);
      check(ids(list(p)).includes(w.programA.id), 'the program targeted at the granted target is missing', p);
      const e = expectStatus(await v.call('ven', 'GET', '/events/{eventID}', { ids: { eventID: w.eventA.id }, query: { targets: [w.targets.a] } }), 200);
      check(body(e).id === w.eventA.id, 'another event came back', e);
    }),
    def(g, 'requested-not-granted', 'required', TARGETING, "a VEN asking for a target it was not granted sees nothing carrying it, by list or by id", async (v) => {
      const w = await v.shared();
      const p = expectStatus(await v.call('ven', 'GET', '/programs', { query: { targets: [w.targets.b] } }), 200);
      check(!ids(list(p)).includes(w.programB.id), 'a program targeted at an ungranted target was listed', p);
      const one = await v.call('ven', 'GET', '/programs/{programID}', { ids: { programID: w.programB.id }, query: { targets: [w.targets.b] } });
      expectStatus(one, [403, 404], 'by id');
      const secret = expectStatus(await v.call('ven', 'GET', '/programs', { query: { targets: [w.targets.secret] } }), 200);
      check(!ids(list(secret)).includes(w.programA.id), 'asking for the secret target (not granted) showed the program', secret);
    }),
    def(g, 'via-resource', 'required', TARGETING, 'targets granted through a resource object count like those of the ven', async (v) => {
      v.requireSecondVen();
      const w = await v.shared();
      const e = expectStatus(await v.call('ven2', 'GET', '/events', { query: { targets: [w.targets.feeder] } }), 200);
      check(ids(list(e)).includes(w.eventFeeder.id), 'the event targeted at the resource grant is missing', e);
      const other = expectStatus(await v.call('ven', 'GET', '/events', { query: { targets: [w.targets.feeder] } }), 200);
      check(!ids(list(other)).includes(w.eventFeeder.id), 'a VEN without that grant saw the event', other);
    }),
    def(g, 'hiding-program', 'required', HIDING, 'a program shows a VEN only the targets it asked for and was granted', async (v) => {
      const w = await v.shared();
      const x = expectStatus(await v.call('ven', 'GET', '/programs/{programID}', { ids: { programID: w.programA.id }, query: { targets: [w.targets.a] } }), 200);
      const t = body(x).targets ?? [];
      check(!t.includes(w.targets.secret), `the secret target is shown: ${JSON.stringify(t)}`, x);
      check(t.includes(w.targets.a), `the requested target is not shown: ${JSON.stringify(t)}`, x);
    }),
    def(g, 'hiding-event-list', 'required', HIDING, 'events in a list show a VEN only the requested and granted targets', async (v) => {
      const w = await v.shared();
      const x = expectStatus(await v.call('ven', 'GET', '/events', { query: { programID: w.programA.id, targets: [w.targets.a] } }), 200);
      const ev = list(x).find((e) => e.id === w.eventA.id);
      check(ev, 'the event is missing', x);
      check(!(ev.targets ?? []).includes(w.targets.secret), `the secret target is shown: ${JSON.stringify(ev.targets)}`, x);
    }),
    def(g, 'bl-sees-all', 'required', D('§VEN created object privacy ("BL has unrestricted read access to all objects")'), 'BL sees every program with all its targets', async (v) => {
      const w = await v.shared();
      const x = expectStatus(await v.call('bl', 'GET', '/programs/{programID}', { ids: { programID: w.programA.id } }), 200);
      check(JSON.stringify([...(body(x).targets ?? [])].sort()) === JSON.stringify([w.targets.a, w.targets.secret].sort()), `targets are ${JSON.stringify(body(x).targets)}`, x);
    }),
    def(g, 'bl-filter', 'required', D('§Response Filtering ("Targeting criteria can be used to filter responses")'), 'BL filtering by a target gets only objects carrying it', async (v) => {
      const w = await v.shared();
      const x = expectStatus(await v.call('bl', 'GET', '/programs', { query: { targets: [w.targets.b] } }), 200);
      check(JSON.stringify(ids(list(x))) === JSON.stringify([w.programB.id]), `got ${ids(list(x)).join(', ') || 'nothing'}`, x);
      const vens = expectStatus(await v.call('bl', 'GET', '/vens', { query: { targets: [w.targets.a] } }), 200);
      check(JSON.stringify(ids(list(vens))) === JSON.stringify([w.venA.id]), `vens by target gave ${ids(list(vens)).join(', ') || 'nothing'}`, vens);
    }),
    def(g, 'grant-withdrawn', 'required', TARGETING, 'when BL takes a target back from a resource, the VEN no longer sees what carries it', async (v) => {
      const w = await v.shared();
      const t = v.name('temp-grant');
      const res = await v.create('bl', 'resources', { objectType: 'BL_RESOURCE_REQUEST', clientID: w.venA.clientID, venID: w.venA.id, resourceName: v.name('grant-res'), targets: [t] });
      const p = await v.create('bl', 'programs', { programName: v.name('grant-prog'), targets: [t] });
      const before = expectStatus(await v.call('ven', 'GET', '/programs', { query: { targets: [t] } }), 200);
      check(ids(list(before)).includes(p.id), 'the program is not visible while granted', before);
      expectStatus(await v.call('bl', 'PUT', '/resources/{resourceID}', { ids: { resourceID: res.id }, json: { objectType: 'BL_RESOURCE_REQUEST', clientID: w.venA.clientID, venID: w.venA.id, resourceName: res.resourceName, targets: [] } }), 200, 'BL withdraws the grant');
      const after = expectStatus(await v.call('ven', 'GET', '/programs', { query: { targets: [t] } }), 200);
      check(!ids(list(after)).includes(p.id), 'the program is still visible after the grant was withdrawn', after);
    }),
    def(g, 'multiple-targets', 'recommended', UG('§7.10 Targeting / §8.13 Dynamic Targeting'), 'requesting several targets (repeated query parameter) matches objects carrying any granted one', async (v) => {
      v.requireSecondVen();
      const w = await v.shared();
      const x = expectStatus(await v.call('ven2', 'GET', '/events', { query: { targets: [w.targets.b, w.targets.feeder] } }), 200);
      check(ids(list(x)).includes(w.eventFeeder.id), 'the event carrying the second requested target is missing', x);
    }),
  ];
}
