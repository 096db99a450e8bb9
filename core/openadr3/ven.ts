import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { eventEndMs } from '../../standards/openadr3/time.js';
import type { Interval, IntervalPeriod } from '../../standards/openadr3/types.js';
import { GfError, defineErrors } from '../errors.js';

export const VenErrors = defineErrors({
  GF_VEN_VTN_ERROR: { status: 502, title: 'The VTN refused or failed a request' },
  GF_VEN_AUTH_FAILED: { status: 401, title: 'The VTN refused the client credentials' },
});

/** An event as the VEN sees it (the 3.1 `event` object, loosely typed: any VTN may add fields). */
export interface VenEvent {
  id: string;
  programID: string;
  eventName?: string | null;
  priority?: number | null;
  targets?: string[] | null;
  intervalPeriod?: IntervalPeriod;
  intervals?: Interval[];
  modificationDateTime?: string;
  [k: string]: unknown;
}

export type EventStatus = 'pending' | 'active' | 'completed' | 'cancelled';

export interface TimelineEntry {
  event: VenEvent;
  status: EventStatus;
}

export type VenChange = { kind: 'created' | 'updated' | 'cancelled'; event: VenEvent; status: EventStatus };

/** One value for a report: what a resource measured over an interval. */
export interface ReportValue {
  resourceName: string;
  start: string;
  duration: string;
  value: number;
}

/**
 * Where the VEN's measurements come from (later: device adapters). Asked when an event completes;
 * the VEN reports what it returns (nothing when it returns an empty list).
 */
export interface ReadingsSource {
  payloadType: string;
  readings(event: VenEvent): Promise<ReportValue[]>;
}

export interface VenOptions {
  /** The VTN base URL, e.g. https://vtn.example.com/openadr3/3.1.0 */
  vtnUrl: string;
  clientId: string;
  clientSecret: string;
  venName: string;
  resources?: string[];
  /** How notifications arrive: MQTT if the VTN offers it, else webhooks, else polling. */
  notify?: 'auto' | 'mqtt' | 'webhook' | 'poll';
  /** Polling period when there are no notifications, and the safety re-sync period when there are. */
  pollMs?: number;
  resyncMs?: number;
  /** Webhook mode: where this VEN listens, and the URL the VTN can reach it at. */
  webhook?: { host: string; port: number; publicUrl?: string };
  onChange?: (change: VenChange) => void;
  /** Measurements to report when an event completes. */
  readings?: ReadingsSource;
  /** Called after an automatic report was posted. */
  onReport?: (eventId: string, reportId: string) => void;
  log?: (msg: string) => void;
}

/**
 * An OpenADR 3.1 VEN client that needs nothing but the spec from its VTN: token discovery and
 * refresh (Definition §Token endpoint discovery), ven and resource registration, targets read from its
 * own ven objects, events followed by MQTT or webhook with polling as fallback, a timeline, and reports.
 */
export class Oa3Ven {
  private token: { value: string; expiresAt: number } | undefined;
  private tokenUrl = '';
  venId = '';
  private resourceIds = new Map<string, string>();
  targets: string[] = [];
  readonly timeline = new Map<string, TimelineEntry>();
  mode: 'mqtt' | 'webhook' | 'poll' = 'poll';
  private mqttClient: MqttClient | undefined;
  private webhookServer: http.Server | undefined;
  private subscriptionId: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly base: string;

  constructor(private readonly o: VenOptions) {
    this.base = o.vtnUrl.replace(/\/+$/, '');
  }

  // ---- HTTP with tokens ----

  private async fetchToken(): Promise<void> {
    if (!this.tokenUrl) {
      const info = await this.raw('GET', '/auth/server');
      this.tokenUrl = String((info as { tokenURL: string }).tokenURL);
    }
    const res = await fetch(this.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: this.o.clientId, client_secret: this.o.clientSecret }).toString(),
    });
    const body = (await res.json().catch(() => ({}))) as { access_token?: string; expires_in?: number; error?: string };
    if (!res.ok || !body.access_token) throw new GfError(VenErrors.GF_VEN_AUTH_FAILED, `token request failed (${res.status} ${body.error ?? ''})`.trim());
    const ttl = (body.expires_in ?? 3600) * 1000;
    // Refresh at 80 % of the lifetime, so a request never carries a token about to expire.
    this.token = { value: body.access_token, expiresAt: Date.now() + ttl * 0.8 };
  }

  private async bearer(): Promise<string> {
    if (!this.token || Date.now() >= this.token.expiresAt) await this.fetchToken();
    return this.token!.value;
  }

  private async raw(method: string, path: string, body?: unknown, token?: string): Promise<unknown> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    const json = text ? JSON.parse(text) : undefined;
    if (!res.ok) {
      const detail = (json as { detail?: string } | undefined)?.detail ?? res.statusText;
      throw Object.assign(new GfError(VenErrors.GF_VEN_VTN_ERROR, `${method} ${path}: ${res.status} ${detail}`), { httpStatus: res.status });
    }
    return json;
  }

  /** An authorised call; a 401 (token revoked or expired early) gets one retry with a new token. */
  async api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    try {
      return (await this.raw(method, path, body, await this.bearer())) as T;
    } catch (e) {
      if ((e as { httpStatus?: number }).httpStatus !== 401) throw e;
      this.token = undefined;
      return (await this.raw(method, path, body, await this.bearer())) as T;
    }
  }

  /** All pages of a list (limit 50 is the spec's maximum). */
  private async list<T>(path: string, query: URLSearchParams): Promise<T[]> {
    const out: T[] = [];
    for (let skip = 0; ; skip += 50) {
      query.set('skip', String(skip));
      query.set('limit', '50');
      const page = await this.api<T[]>('GET', `${path}?${query.toString()}`);
      out.push(...page);
      if (page.length < 50) return out;
    }
  }

  // ---- lifecycle ----

  async start(): Promise<void> {
    this.stopped = false;
    await this.fetchToken();
    await this.register();
    await this.sync();
    const want = this.o.notify ?? 'auto';
    if (want === 'mqtt' || want === 'auto') {
      const ok = await this.startMqtt().catch((e) => {
        this.o.log?.(`MQTT unavailable: ${(e as Error).message}`);
        return false;
      });
      if (ok) this.mode = 'mqtt';
      else if (want === 'mqtt') throw new GfError(VenErrors.GF_VEN_VTN_ERROR, 'the VTN offers no usable MQTT binding');
    }
    if (this.mode === 'poll' && (want === 'webhook' || (want === 'auto' && this.o.webhook))) {
      await this.startWebhook();
      this.mode = 'webhook';
    }
    const period = this.mode === 'poll' ? (this.o.pollMs ?? 30_000) : (this.o.resyncMs ?? 300_000);
    const tick = () => {
      this.timer = setTimeout(() => {
        this.sync()
          .catch((e) => this.o.log?.(`sync failed: ${(e as Error).message}`))
          .finally(() => !this.stopped && tick());
      }, period);
    };
    tick();
    // Statuses move with the clock (pending → active → completed) without any message.
    this.statusTimer = setInterval(() => this.refreshStatuses(), 1000);
    this.o.log?.(`VEN ${this.o.venName} (${this.venId}) following events by ${this.mode}`);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.statusTimer);
    await this.mqttClient?.endAsync().catch(() => undefined);
    if (this.subscriptionId) await this.api('DELETE', `/subscriptions/${this.subscriptionId}`).catch(() => undefined);
    if (this.webhookServer) await new Promise<void>((r) => this.webhookServer!.close(() => r()));
  }

  /** Finds or creates this VEN's ven object and resources, and learns the targets BL granted. */
  private async register(): Promise<void> {
    const q = new URLSearchParams({ venName: this.o.venName });
    const found = await this.list<{ id: string; targets?: string[] | null }>('/vens', q);
    const ven = found[0] ?? (await this.api<{ id: string; targets?: string[] | null }>('POST', '/vens', { objectType: 'VEN_VEN_REQUEST', venName: this.o.venName }));
    this.venId = ven.id;
    const targets = new Set(ven.targets ?? []);
    for (const name of this.o.resources ?? []) {
      const rq = new URLSearchParams({ venID: this.venId, resourceName: name });
      const existing = await this.list<{ id: string; targets?: string[] | null }>('/resources', rq);
      const res = existing[0] ?? (await this.api<{ id: string; targets?: string[] | null }>('POST', '/resources', { objectType: 'VEN_RESOURCE_REQUEST', venID: this.venId, resourceName: name }));
      this.resourceIds.set(name, res.id);
      for (const t of res.targets ?? []) targets.add(t);
    }
    this.targets = [...targets];
  }

  /** Reads every event this VEN may see and reconciles the timeline (events gone are cancelled). */
  async sync(): Promise<void> {
    const q = new URLSearchParams();
    for (const t of this.targets) q.append('targets', t);
    const events = await this.list<VenEvent>('/events', q);
    const seen = new Set<string>();
    for (const e of events) {
      seen.add(e.id);
      this.upsert(e);
    }
    for (const [id, entry] of this.timeline) if (!seen.has(id) && entry.status !== 'cancelled') this.cancel(entry.event);
  }

  private statusOf(e: VenEvent, now = Date.now()): EventStatus {
    const start = e.intervalPeriod?.start ? Date.parse(e.intervalPeriod.start) : NaN;
    const end = eventEndMs(e);
    if (end !== null && end <= now) return 'completed';
    if (Number.isFinite(start) && start > now) return 'pending';
    return 'active';
  }

  private upsert(e: VenEvent): void {
    const prev = this.timeline.get(e.id);
    const status = this.statusOf(e);
    if (prev && prev.status !== 'cancelled' && prev.event.modificationDateTime === e.modificationDateTime) return;
    this.timeline.set(e.id, { event: e, status });
    this.o.onChange?.({ kind: prev ? 'updated' : 'created', event: e, status });
  }

  private cancel(e: VenEvent): void {
    this.timeline.set(e.id, { event: e, status: 'cancelled' });
    this.o.onChange?.({ kind: 'cancelled', event: e, status: 'cancelled' });
  }

  private refreshStatuses(): void {
    for (const [id, entry] of this.timeline) {
      if (entry.status === 'cancelled') continue;
      const s = this.statusOf(entry.event);
      if (s !== entry.status) {
        this.timeline.set(id, { ...entry, status: s });
        this.o.onChange?.({ kind: 'updated', event: entry.event, status: s });
        if (s === 'completed') this.reportCompleted(entry.event);
      }
    }
  }

  /** Reports an event's measurements once, when it completes, if a readings source is set. */
  private reported = new Set<string>();
  private reportCompleted(e: VenEvent): void {
    const src = this.o.readings;
    if (!src || this.reported.has(e.id)) return;
    this.reported.add(e.id);
    src
      .readings(e)
      .then(async (values) => {
        if (values.length === 0) return;
        const r = await this.report(e.id, src.payloadType, values);
        this.o.onReport?.(e.id, r.id);
      })
      .catch((err) => {
        this.reported.delete(e.id); // try again on the next status pass
        this.o.log?.(`report for event ${e.id} failed: ${(err as Error).message}`);
      });
  }

  private onNotification(n: { objectType?: string; operation?: string; object?: VenEvent }): void {
    if (n.objectType !== 'EVENT' || !n.object?.id) return;
    if (n.operation === 'DELETE') {
      const prev = this.timeline.get(n.object.id);
      this.cancel(prev?.event ?? n.object);
    } else this.upsert(n.object);
  }

  // ---- notifications ----

  private async startMqtt(): Promise<boolean> {
    const n = await this.api<{ MQTT?: { URIS: string[]; authentication?: { method: string; username?: string } } }>('GET', '/notifiers');
    if (!n.MQTT?.URIS?.length) return false;
    const method = n.MQTT.authentication?.method ?? 'ANONYMOUS';
    if (method !== 'ANONYMOUS' && method !== 'OAUTH2_BEARER_TOKEN') return false;
    const topics = await this.api<{ topics: { ALL?: string; CREATE?: string; UPDATE: string; DELETE: string } }>('GET', `/notifiers/mqtt/topics/vens/${this.venId}/events`);
    const username = method === 'OAUTH2_BEARER_TOKEN' ? (n.MQTT.authentication?.username ?? '{clientID}').replace('{clientID}', this.o.clientId) : undefined;
    const client = await mqtt.connectAsync(n.MQTT.URIS[0]!, {
      ...(username ? { username } : {}),
      // Reconnects take a fresh token.
      ...(method === 'OAUTH2_BEARER_TOKEN' ? { password: await this.bearer() } : {}),
      reconnectPeriod: 2000,
      clientId: `${this.o.clientId}-${randomBytes(4).toString('hex')}`,
    });
    client.on('message', (_topic, payload) => {
      try {
        this.onNotification(JSON.parse(payload.toString()));
      } catch {
        this.o.log?.('ignored a malformed MQTT message');
      }
    });
    if (method === 'OAUTH2_BEARER_TOKEN') {
      client.on('close', () => {
        this.bearer().then((t) => (client.options.password = t), () => undefined);
      });
    }
    const subs = topics.topics.ALL ? [topics.topics.ALL] : [topics.topics.CREATE, topics.topics.UPDATE, topics.topics.DELETE].filter((t): t is string => !!t);
    await client.subscribeAsync(subs, { qos: 1 });
    this.mqttClient = client;
    return true;
  }

  private async startWebhook(): Promise<void> {
    const w = this.o.webhook ?? { host: '127.0.0.1', port: 0 };
    const secret = randomBytes(18).toString('base64url');
    this.webhookServer = http.createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end(u.searchParams.get('echo') ?? '');
        return;
      }
      if (req.headers.authorization !== `Bearer ${secret}`) {
        res.writeHead(401).end();
        return;
      }
      let data = '';
      req.on('data', (c) => (data += c));
      req.on('end', () => {
        try {
          this.onNotification(JSON.parse(data));
          res.writeHead(204).end();
        } catch {
          res.writeHead(400).end();
        }
      });
    });
    await new Promise<void>((r) => this.webhookServer!.listen(w.port, w.host, r));
    const port = (this.webhookServer.address() as AddressInfo).port;
    const url = w.publicUrl ?? `http://${w.host}:${port}/openadr`;
    const sub = await this.api<{ id: string }>('POST', '/subscriptions', {
      clientName: this.o.venName,
      objectOperations: [{ objects: ['EVENT'], operations: ['CREATE', 'UPDATE', 'DELETE'], callbackUrl: url, bearerToken: secret }],
      ...(this.targets.length ? { targets: this.targets } : {}),
    });
    this.subscriptionId = sub.id;
  }

  // ---- reports ----

  /** Posts a report for an event: one interval of values per resource (e.g. USAGE in kWh). */
  async report(eventId: string, payloadType: string, values: { resourceName: string; start: string; duration: string; value: number }[]): Promise<{ id: string }> {
    return this.api<{ id: string }>('POST', '/reports', {
      eventID: eventId,
      clientName: this.o.venName,
      payloadDescriptors: [{ objectType: 'REPORT_PAYLOAD_DESCRIPTOR', payloadType }],
      resources: values.map((v) => ({
        resourceName: v.resourceName,
        intervalPeriod: { start: v.start, duration: v.duration },
        intervals: [{ id: 0, payloads: [{ type: payloadType, values: [v.value] }] }],
      })),
    });
  }
}
