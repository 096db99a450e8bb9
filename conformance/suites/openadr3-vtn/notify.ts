import mqtt from 'mqtt';
import { body, check, expectStatus, fail, list, REFUSED, skip } from '../../expect.js';
import type { Delivery } from '../../listener.js';
import { API, D, def, type Case } from './access.js';
import type { Vtn } from './context.js';

const WEBHOOKS = D('§Webhooks (Security)');
const SUBSCRIPTIONS = D('§Subscriptions ("A VTN SHALL make a request to the callback URL")');

let pathSeq = 0;
function cbPath(v: Vtn, what: string): string {
  return `/cb/${v.runId}/${what}-${++pathSeq}`;
}

function subscription(v: Vtn, callbackUrl: string, opts: { programID?: string; objects?: string[]; operations?: string[]; bearerToken?: string; targets?: string[] } = {}) {
  return {
    clientName: v.name('webhook'),
    ...(opts.programID ? { programID: opts.programID } : {}),
    ...(opts.targets ? { targets: opts.targets } : {}),
    objectOperations: [{ objects: opts.objects ?? ['EVENT'], operations: opts.operations ?? ['CREATE'], callbackUrl, ...(opts.bearerToken ? { bearerToken: opts.bearerToken } : {}) }],
  };
}

function delivered(v: Vtn, path: string, pred: (d: Delivery) => boolean = () => true): Delivery[] {
  return v.listener!.deliveries.filter((d) => d.path === path && d.answered < 300 && pred(d));
}

async function waitDelivery(v: Vtn, path: string, pred: (d: Delivery) => boolean, what: string): Promise<Delivery> {
  const ok = await v.listener!.until(() => delivered(v, path, pred).length > 0, v.options.notifyTimeoutMs);
  if (!ok) fail(`no ${what} reached the callback within ${v.options.notifyTimeoutMs} ms (${v.listener!.deliveries.filter((d) => d.path === path).length} deliveries on that path)`);
  return delivered(v, path, pred)[0]!;
}

const usable = new WeakMap<Vtn, Promise<string | undefined>>();

/**
 * Whether the VTN accepts the listener as a callback at all (a plain subscription whose challenge
 * arrives): undefined when it does, else why not. A VTN may rightly refuse plain http or a private
 * address; the webhook cases are then skipped, not failed.
 */
function listenerUsable(v: Vtn): Promise<string | undefined> {
  let p = usable.get(v);
  if (!p) {
    p = (async () => {
      const listener = v.requireListener();
      const path = `/cb/${v.runId}/probe`;
      const url = listener.url(path);
      const x = await v.call('ven', 'POST', '/subscriptions', { json: subscription(v, url) });
      v.track('ven', 'subscriptions', x);
      if (x.response && x.response.status < 300) return undefined;
      if (listener.challenges.some((c) => c.path === path)) return undefined;
      return `the VTN refused the runner's callback ${url} without calling it (${x.response?.status}); give --callback-url with an address it accepts (https, public)`;
    })();
    usable.set(v, p);
  }
  return p;
}

async function requireUsableListener(v: Vtn) {
  const listener = v.requireListener();
  const why = await listenerUsable(v);
  if (why) skip(why);
  return listener;
}

/** Makes a subscription whose callback is the listener (skipped when the VTN will not call the listener at all). */
async function subscribe(v: Vtn, who: 'ven' | 'ven2' | 'bl', path: string, opts: Parameters<typeof subscription>[2] = {}, behaviour = {}) {
  const listener = await requireUsableListener(v);
  const url = listener.url(path, behaviour);
  const x = await v.call(who, 'POST', '/subscriptions', { json: subscription(v, url, opts) });
  v.track(who, 'subscriptions', x);
  expectStatus(x, [201, 200], 'create the subscription');
  return body(x);
}

export function webhookCases(): Case[] {
  const g = 'webhooks';
  return [
    def(g, 'echo-challenge', 'required', WEBHOOKS, "the VTN sends GET with a random 'echo' to the callback before creating the subscription, which answers 201", async (v) => {
      const path = cbPath(v, 'echo');
      const sub = await subscribe(v, 'ven', path);
      const c = v.listener!.challenges.filter((x) => x.path === path);
      check(c.length >= 1, 'no challenge reached the callback');
      check(c[0]!.echo && c[0]!.echo.length >= 8, `the echo value '${c[0]!.echo}' is missing or too short to be random`);
      check(typeof sub.id === 'string', 'the subscription has no id');
    }),
    def(g, 'echo-random', 'required', WEBHOOKS, 'two challenges carry different echo values', async (v) => {
      const a = cbPath(v, 'rand');
      const b = cbPath(v, 'rand');
      await subscribe(v, 'ven', a);
      await subscribe(v, 'ven', b);
      const [ca, cb] = [a, b].map((p) => v.listener!.challenges.find((c) => c.path === p)?.echo);
      check(ca && cb && ca !== cb, `echo values ${ca} and ${cb}`);
    }),
    def(g, 'echo-wrong-refused', 'required', WEBHOOKS, 'a callback answering the challenge wrongly gets no subscription', async (v) => {
      const listener = await requireUsableListener(v);
      const path = cbPath(v, 'wrong');
      const x = await v.call('ven', 'POST', '/subscriptions', { json: subscription(v, listener.url(path, { echo: 'wrong' })) });
      v.track('ven', 'subscriptions', x);
      expectStatus(x, REFUSED);
      check(listener.challenges.some((c) => c.path === path), 'refused without a challenge to the callback', x);
      const all = list(expectStatus(await v.call('ven', 'GET', '/subscriptions'), 200));
      check(!all.some((s) => s.objectOperations?.some((o: any) => o.callbackUrl?.endsWith(path))), 'the subscription exists anyway');
    }),
    def(g, 'echo-redirect-refused', 'recommended', D('§Webhooks, Additional guidelines ("It is recommended that a VTN does not follow redirects")'), 'a callback answering the challenge with a redirect gets no subscription', async (v) => {
      const listener = await requireUsableListener(v);
      const path = cbPath(v, 'redirect');
      const x = await v.call('ven', 'POST', '/subscriptions', { json: subscription(v, listener.url(path, { echo: 'redirect' })) });
      v.track('ven', 'subscriptions', x);
      expectStatus(x, REFUSED);
    }),
    def(g, 'https-required', 'required', WEBHOOKS, 'a plain-http callback on a public host name is refused', async (v) => {
      const x = await v.call('ven', 'POST', '/subscriptions', { json: subscription(v, 'http://callback.conformance.invalid/hook') });
      v.track('ven', 'subscriptions', x);
      expectStatus(x, REFUSED);
    }),
    def(g, 'private-address-refused', 'recommended', D('§Webhooks, Additional guidelines ("Check for private IPs and reserved IPs")'), 'an https callback on a loopback address (127.0.0.2) is refused', async (v) => {
      const x = await v.call('ven', 'POST', '/subscriptions', { json: subscription(v, 'https://127.0.0.2:9/hook') });
      v.track('ven', 'subscriptions', x);
      expectStatus(x, REFUSED);
    }),
    def(g, 'notify-create', 'required', SUBSCRIPTIONS, "creating an event in the subscribed program notifies the callback with objectType, operation and the object", async (v) => {
      const w = await v.shared();
      const path = cbPath(v, 'create');
      await subscribe(v, 'ven', path, { programID: w.programOpen.id, objects: ['EVENT'], operations: ['CREATE'] });
      const e = await v.create('bl', 'events', { programID: w.programOpen.id, eventName: v.name('notified'), intervals: [] });
      const d = await waitDelivery(v, path, (x) => (x.body as any)?.object?.id === e.id, 'notification of the new event');
      const n = d.body as any;
      check(n.objectType === 'EVENT', `objectType is ${n.objectType}`);
      check(n.operation === 'CREATE', `operation is ${n.operation}`);
      check(n.object.eventName === v.name('notified'), 'the object is not the event as created');
      if (v.spec) {
        const errors = v.spec.checkNotification(n);
        if (errors.length) fail(`the notification does not match the notification schema: ${errors.join('; ')}`);
      }
    }),
    def(g, 'notify-bearer-token', 'recommended', D('§Subscriptions (subscriptionRequest bearerToken: "callback endpoints should accept the provided bearer token")'), 'notifications carry the subscription\'s bearerToken as Authorization: Bearer', async (v) => {
      const w = await v.shared();
      const path = cbPath(v, 'bearer');
      const token = v.name('callback-token');
      await subscribe(v, 'ven', path, { programID: w.programOpen.id, bearerToken: token });
      const e = await v.create('bl', 'events', { programID: w.programOpen.id, intervals: [] });
      const d = await waitDelivery(v, path, (x) => (x.body as any)?.object?.id === e.id, 'notification');
      check(d.authorization === `Bearer ${token}`, `Authorization was '${d.authorization ?? ''}'`);
    }),
    def(g, 'notify-update-delete', 'required', SUBSCRIPTIONS, 'UPDATE and DELETE of an event are notified to a subscription for those operations', async (v) => {
      const w = await v.shared();
      const path = cbPath(v, 'ud');
      await subscribe(v, 'ven', path, { programID: w.programOpen.id, operations: ['UPDATE', 'DELETE'] });
      const e = await v.create('bl', 'events', { programID: w.programOpen.id, eventName: v.name('to-change'), intervals: [] });
      expectStatus(await v.call('bl', 'PUT', '/events/{eventID}', { ids: { eventID: e.id }, json: { programID: w.programOpen.id, eventName: v.name('changed'), intervals: [] } }), 200, 'update');
      await waitDelivery(v, path, (x) => (x.body as any)?.operation === 'UPDATE' && (x.body as any)?.object?.id === e.id, 'UPDATE notification');
      expectStatus(await v.call('bl', 'DELETE', '/events/{eventID}', { ids: { eventID: e.id } }), 200, 'delete');
      v.forget(e.id);
      await waitDelivery(v, path, (x) => (x.body as any)?.operation === 'DELETE' && (x.body as any)?.object?.id === e.id, 'DELETE notification');
      check(!delivered(v, path, (x) => (x.body as any)?.operation === 'CREATE').length, 'a CREATE was notified to a subscription for UPDATE and DELETE');
    }),
    def(g, 'notify-target-privacy', 'required', D('§Object Privacy ("When evaluating whether to send a notification … the VTN SHALL use the clientID of a subscription object")'), 'a VEN is notified of events it may read and not of events targeted at others; targets hidden', async (v) => {
      v.requireSecondVen();
      const w = await v.shared();
      const pathA = cbPath(v, 'priv-a');
      const pathB = cbPath(v, 'priv-b');
      await subscribe(v, 'ven', pathA, { programID: w.programOpen.id, targets: [w.targets.a] });
      await subscribe(v, 'ven2', pathB, { programID: w.programOpen.id, targets: [w.targets.b] });
      const targeted = await v.create('bl', 'events', { programID: w.programOpen.id, eventName: v.name('for-a-only'), targets: [w.targets.a, w.targets.secret], intervals: [] });
      const open = await v.create('bl', 'events', { programID: w.programOpen.id, eventName: v.name('for-everyone'), intervals: [] });
      const toA = await waitDelivery(v, pathA, (x) => (x.body as any)?.object?.id === targeted.id, "notification of the event targeted at VEN 1's grant");
      check(!((toA.body as any).object.targets ?? []).includes(w.targets.secret), `target hiding: VEN 1 was shown ${JSON.stringify((toA.body as any).object.targets)}`);
      await waitDelivery(v, pathB, (x) => (x.body as any)?.object?.id === open.id, 'notification of the untargeted event to VEN 2');
      // The targeted event was created first; give it the same time again to arrive, if it wrongly would.
      await new Promise((r) => setTimeout(r, Math.min(2000, v.options.notifyTimeoutMs)));
      check(!delivered(v, pathB, (x) => (x.body as any)?.object?.id === targeted.id).length, "VEN 2 was notified of an event targeted at VEN 1's grant only");
    }),
    def(g, 'retry', 'recommended', D('§Webhooks, Additional guidelines ("Error handling and backing off")'), 'a delivery the callback answers 503 is retried until it succeeds', async (v) => {
      const w = await v.shared();
      const path = cbPath(v, 'retry');
      await subscribe(v, 'ven', path, { programID: w.programOpen.id }, { failDeliveries: 1 });
      const e = await v.create('bl', 'events', { programID: w.programOpen.id, intervals: [] });
      await waitDelivery(v, path, (x) => (x.body as any)?.object?.id === e.id, 'retried notification');
      const attempts = v.listener!.deliveries.filter((d) => d.path === path && (d.body as any)?.object?.id === e.id);
      check(attempts.length >= 2 && attempts[0]!.answered === 503, `${attempts.length} attempts`);
    }),
    def(g, 'subscription-update-rechecks', 'recommended', WEBHOOKS, 'updating a subscription to a new callback URL challenges the new URL', async (v) => {
      const listener = await requireUsableListener(v);
      const first = cbPath(v, 'upd');
      const sub = await subscribe(v, 'ven', first);
      const second = cbPath(v, 'upd');
      const x = await v.call('ven', 'PUT', '/subscriptions/{subscriptionID}', { ids: { subscriptionID: sub.id }, json: subscription(v, listener.url(second)) });
      expectStatus(x, 200);
      check(listener.challenges.some((c) => c.path === second), 'the new callback URL was not challenged', x);
    }),
  ];
}

// ---------------------------------------------------------------------------------------------
// mqtt: the MQTT notifier binding, when the VTN offers it
// ---------------------------------------------------------------------------------------------

const MQTT = D('§Notifications via Additional Protocols');

function mqttBinding(v: Vtn): { uri: string; auth: any } {
  const m = v.notifiers?.MQTT;
  if (!m) skip('the VTN offers no MQTT notifier (GET /notifiers)');
  const uri = (m.URIS ?? []).find((u: string) => /^mqtts?:\/\//.test(u));
  if (!uri) skip('no mqtt:// or mqtts:// URI in the MQTT binding');
  if (m.authentication?.method === 'CERTIFICATE') skip('the broker wants client certificates (not supported by the runner)');
  return { uri, auth: m.authentication };
}

async function connect(v: Vtn, who: 'bl' | 'ven' | 'ven2'): Promise<mqtt.MqttClient> {
  const { uri, auth } = mqttBinding(v);
  const clientId = who === 'bl' ? v.options.credentials?.bl?.clientId : await v.clientIdOf(who);
  const creds = auth?.method === 'OAUTH2_BEARER_TOKEN' ? { username: auth.username === '{clientID}' ? (clientId ?? '') : String(auth.username ?? ''), password: v.tokens[who] } : {};
  try {
    return await mqtt.connectAsync(uri, { ...creds, reconnectPeriod: 0, connectTimeout: v.options.timeoutMs, clientId: `${v.prefix}-${who}-${++pathSeq}`, rejectUnauthorized: false });
  } catch (e) {
    fail(`connecting to ${uri} as ${who} failed: ${(e as Error).message}`);
  }
}

async function topicsOf(v: Vtn, who: 'bl' | 'ven' | 'ven2', template: string, ids: Record<string, string> = {}) {
  const x = expectStatus(await v.call(who, 'GET', template, { ids }), 200, template);
  const t = body(x).topics;
  check(t && typeof t.UPDATE === 'string' && typeof t.DELETE === 'string', 'topics lack UPDATE or DELETE', x);
  return t as { CREATE?: string; UPDATE: string; DELETE: string; ALL?: string };
}

export function mqttCases(): Case[] {
  const g = 'mqtt';
  return [
    def(g, 'notifiers', 'required', API('GET /notifiers (notifiersResponse)'), 'GET /notifiers answers with WEBHOOK true and a well-formed MQTT binding if offered', async (v) => {
      const x = expectStatus(await v.call('bl', 'GET', '/notifiers'), 200);
      check(body(x).WEBHOOK === true, `WEBHOOK is ${JSON.stringify(body(x).WEBHOOK)} ("Currently MUST be true")`, x);
      if (body(x).MQTT) {
        check(Array.isArray(body(x).MQTT.URIS) && body(x).MQTT.URIS.length > 0, 'MQTT.URIS is empty', x);
        check(body(x).MQTT.serialization === 'JSON', 'MQTT.serialization is not JSON', x);
      }
    }),
    def(g, 'topics-bl', 'extension', MQTT, 'BL gets topic names for every object collection', async (v) => {
      mqttBinding(v);
      for (const p of ['programs', 'events', 'reports', 'subscriptions', 'vens', 'resources']) await topicsOf(v, 'bl', `/notifiers/mqtt/topics/${p}`);
    }),
    def(g, 'topics-ven-own', 'extension', MQTT, 'a VEN gets the topic names of its own ven', async (v) => {
      mqttBinding(v);
      const w = await v.shared();
      for (const s of ['', '/events', '/programs', '/resources']) await topicsOf(v, 'ven', `/notifiers/mqtt/topics/vens/{venID}${s}`, { venID: w.venA.id });
    }),
    def(g, 'broker-auth', 'extension', D('§MQTT ("A VTN MUST configure, and enforce, access to the MQTT broker\'s topics")'), 'the broker refuses a connection with a wrong password', async (v) => {
      const { uri, auth } = mqttBinding(v);
      if (auth?.method !== 'OAUTH2_BEARER_TOKEN') skip(`the broker's authentication is ${auth?.method}`);
      let connected: mqtt.MqttClient | undefined;
      try {
        connected = await mqtt.connectAsync(uri, { username: v.clientIds.ven ?? 'x', password: 'not-a-token', reconnectPeriod: 0, connectTimeout: v.options.timeoutMs, rejectUnauthorized: false });
      } catch {
        return;
      }
      await connected.endAsync();
      fail('the broker accepted a connection with a wrong token');
    }),
    def(g, 'deliver-bl', 'extension', MQTT, 'a new event is published on the topic BL was given for events of its program', async (v) => {
      const w = await v.shared();
      const t = await topicsOf(v, 'bl', '/notifiers/mqtt/topics/programs/{programID}/events', { programID: w.programOpen.id });
      if (!t.CREATE) skip('no CREATE topic for program events');
      const c = await connect(v, 'bl');
      try {
        const got: any[] = [];
        c.on('message', (_topic, payload) => {
          try {
            got.push(JSON.parse(payload.toString()));
          } catch {
            got.push({ unparsable: payload.toString() });
          }
        });
        await c.subscribeAsync(t.CREATE, { qos: 1 });
        const e = await v.create('bl', 'events', { programID: w.programOpen.id, eventName: v.name('mqtt'), intervals: [] });
        const deadline = Date.now() + v.options.notifyTimeoutMs;
        while (!got.some((m) => m?.object?.id === e.id) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        const m = got.find((x) => x?.object?.id === e.id);
        check(m, `no message for the new event on ${t.CREATE} within ${v.options.notifyTimeoutMs} ms`);
        if (v.spec) {
          const errors = v.spec.checkNotification(m);
          if (errors.length) fail(`the message does not match the notification schema: ${errors.join('; ')}`);
        }
      } finally {
        await c.endAsync();
      }
    }),
    def(g, 'acl-other-ven', 'extension', D('§MQTT ("A VTN MUST configure, and enforce, access to the MQTT broker\'s topics")'), "another VEN cannot subscribe to VEN 1's ven topics (or gets nothing on them)", async (v) => {
      v.requireSecondVen();
      const w = await v.shared();
      const t = await topicsOf(v, 'ven', '/notifiers/mqtt/topics/vens/{venID}/events', { venID: w.venA.id });
      const c = await connect(v, 'ven2');
      try {
        const got: unknown[] = [];
        c.on('message', (_t, p) => got.push(p.toString()));
        let refused = false;
        try {
          const granted = await c.subscribeAsync(t.CREATE ?? t.UPDATE, { qos: 1 });
          refused = granted.every((x) => x.qos === 128);
        } catch {
          refused = true;
        }
        if (refused) return;
        await v.create('bl', 'events', { programID: w.programOpen.id, eventName: v.name('acl'), intervals: [] });
        await new Promise((r) => setTimeout(r, Math.min(2000, v.options.notifyTimeoutMs)));
        check(got.length === 0, `VEN 2 received ${got.length} message(s) on VEN 1's topic`);
      } finally {
        await c.endAsync();
      }
    }),
  ];
}

export { list };
