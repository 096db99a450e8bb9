import { randomBytes, createPrivateKey, X509Certificate } from 'node:crypto';
import { Agent as HttpAgent, createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, createServer as createHttpsServer } from 'node:https';
import { durationToMs, msToDuration } from '../../standards/common/ids.js';
import { decodePayload, encodePayload, parseXcalDateTime, xcalDateTime, type Body } from '../../standards/openadr2b/codec.js';
import { SERVICE_OF, type MessageName, type Service } from '../../standards/openadr2b/schema.js';
import { certFingerprint, NonceCache, signPayload, verifyPayload, type SigningIdentity } from '../../standards/openadr2b/signature.js';
import { payloadTypeOf } from '../../standards/openadr2b/signals.js';
import { postXml } from './http.js';

/** One event as the VEN holds it. */
export interface VenEvent {
  eventID: string;
  modificationNumber: number;
  status: string;
  marketContext: string;
  startMs: number;
  durationMs: number;
  priority?: number;
  signals: Array<{ signalName: string; signalType: string; payloadType: string; currentValue?: number; intervals: Array<{ startMs: number; durationMs: number; value: number }> }>;
  targets: Body;
  /** The VEN's answer. */
  optType?: 'optIn' | 'optOut';
}

/** A report the VEN offers (registered as METADATA_<reportName>). */
export interface VenReportSource {
  reportSpecifierID: string;
  reportName: 'TELEMETRY_USAGE' | 'TELEMETRY_STATUS' | 'HISTORY_USAGE';
  /** Shortest sampling period offered (granularity the VTN may ask for). */
  minPeriod: string;
  points: Array<{ rID: string; reportType: string; readingType: string; resourceID?: string; unit?: 'powerReal' | 'energyReal' }>;
  /** A current reading: a number, or a resource status for TELEMETRY_STATUS. */
  read(rID: string): number | { online: boolean; manualOverride: boolean; loadControl?: { capacity?: number; levelOffset?: number; percentOffset?: number; setPoint?: number } };
  /** Past readings for HISTORY_USAGE: one value per granularity step over [startMs, endMs). */
  history?(rID: string, startMs: number, endMs: number, granularityMs: number): number[];
}

export interface Oadr2bVenOptions {
  /** The VTN's service base, e.g. https://vtn.example:8443/OpenADR2/Simple/2.0b */
  vtnUrl: string;
  venName: string;
  /**
   * Its registration secret, for a VTN that authenticates VENs on plain HTTP by one (gridflex does): sent as HTTP
   * Basic credentials `venName:secret` with every message. Over mutual TLS the certificate is the credential.
   */
  secret?: string;
  /** Mutual TLS: the VEN's certificate and key, and the CA the VTN's certificate chains to. */
  tls?: { certPem: string; keyPem: string; caPem: string };
  /** Sign every message (XML signature with the TLS key) and say so at registration. */
  sign?: boolean;
  /** Push instead of pull: the VEN listens here (its own TLS identity if `tls` is given). */
  push?: { host: string; port: number };
  /** Poll period; the VTN's oadrRequestedOadrPollFreq when unset. */
  pollMs?: number;
  maxBackoffMs?: number;
  timeoutMs?: number;
  /** Decides optIn/optOut for new and modified events (default optIn). */
  onEvent?: (e: VenEvent) => 'optIn' | 'optOut' | Promise<'optIn' | 'optOut'>;
  onCancel?: (e: VenEvent) => void;
  reports?: VenReportSource[];
  log?: (msg: string, data?: Record<string, unknown>) => void;
  /** Sees every document sent and received (tests check them against the XSD). */
  tap?: (direction: 'out' | 'in', xml: string) => void;
}

interface ActiveRequest {
  id: string;
  source: VenReportSource;
  granularityMs: number;
  backMs: number;
  rIDs: string[];
  samples: Array<{ t: number; values: Map<string, ReturnType<VenReportSource['read']>> }>;
  timers: NodeJS.Timeout[];
}

const newId = (): string => randomBytes(8).toString('hex');

/**
 * An OpenADR 2.0b VEN (profile B, simple HTTP, pull or push): registration and re-registration, events
 * with optIn/optOut from a handler (modifications, cancellations, implied cancellations), opts,
 * METADATA report registration both ways and periodic telemetry from data sources, and polling that
 * backs off while the VTN is down. Speaks only what the 2.0b schemas define, so any VTN will do.
 */
export class Oadr2bVen {
  venID: string | undefined;
  registrationID: string | undefined;
  readonly events = new Map<string, VenEvent>();
  readonly requests = new Map<string, ActiveRequest>();
  pollFreqMs = 10_000;
  /** Consecutive failed polls (for backoff), and the last error. */
  failures = 0;
  lastError: string | undefined;
  private readonly agent: HttpAgent | HttpsAgent;
  private readonly identity: SigningIdentity | undefined;
  private readonly nonces = new NonceCache();
  private readonly headers: Record<string, string>;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private server: Server | undefined;
  pushPort: number | undefined;

  constructor(readonly opts: Oadr2bVenOptions) {
    const https = opts.vtnUrl.startsWith('https:');
    // With a timeout set, Node's agent honours the VTN's Keep-Alive: timeout (dropping an idle socket a second
    // before it); without one it keeps sockets until it sees the server close them, and can write on one first.
    this.agent = https ? new HttpsAgent({ keepAlive: true, maxSockets: 4, timeout: 60_000, ...(opts.tls ? { cert: opts.tls.certPem, key: opts.tls.keyPem, ca: opts.tls.caPem } : {}), minVersion: 'TLSv1.2' }) : new HttpAgent({ keepAlive: true, maxSockets: 4, timeout: 60_000 });
    this.identity = opts.tls ? { key: createPrivateKey(opts.tls.keyPem), cert: new X509Certificate(opts.tls.certPem) } : undefined;
    if (opts.sign && !this.identity) throw new Error('signing needs the VEN certificate and key (tls)');
    if (opts.secret !== undefined && opts.venName.includes(':')) throw new Error('a VEN name with a colon cannot carry HTTP Basic credentials');
    this.headers = opts.secret !== undefined ? { authorization: `Basic ${Buffer.from(`${opts.venName}:${opts.secret}`).toString('base64')}` } : {};
  }

  get fingerprint(): string | undefined {
    return this.identity ? certFingerprint(this.identity.cert) : undefined;
  }

  private log(msg: string, data?: Record<string, unknown>): void {
    this.opts.log?.(msg, data);
  }

  // ------------------------------------------------------------------ transport

  /** Sends one message to the VTN and returns its decoded answer (signature verified when signed). */
  async send(name: MessageName, body: Body): Promise<{ name: MessageName; body: Body }> {
    const service = SERVICE_OF[name] ?? 'EiEvent';
    const xml = this.opts.sign && this.identity ? signPayload(name, body, this.identity) : encodePayload(name, body);
    this.opts.tap?.('out', xml);
    const res = await this.post(`${this.opts.vtnUrl.replace(/\/+$/, '')}/${service}`, xml);
    if (res.body.trim()) this.opts.tap?.('in', res.body);
    if (!res.body.trim()) throw new Error(`the VTN answered ${name} with HTTP ${res.status} and no body`);
    const d = decodePayload(res.body);
    if (d.signature) verifyPayload(d, { nonces: this.nonces, ...(res.fingerprint ? { expectedFingerprint: res.fingerprint } : {}) });
    return { name: d.name, body: d.body };
  }

  private post(url: string, xml: string): Promise<{ status: number; body: string; fingerprint?: string }> {
    return postXml(url, xml, { agent: this.agent, timeoutMs: this.opts.timeoutMs ?? 10_000, headers: this.headers });
  }

  private check(answer: { name: MessageName; body: Body }, expected: MessageName): Body {
    const r = (answer.body.eiResponse ?? (answer.body.eiCreatedEvent as Body | undefined)?.eiResponse) as Body | undefined;
    if (answer.name !== expected && answer.name !== 'oadrResponse') throw new Error(`expected ${expected}, the VTN sent ${answer.name}`);
    if (r && r.responseCode !== '200') throw new Oadr2bVenError(String(r.responseCode), String(r.responseDescription ?? ''));
    if (answer.name !== expected) throw new Error(`expected ${expected}, the VTN sent oadrResponse`);
    return answer.body;
  }

  // ------------------------------------------------------------------ life

  /** Registers (query, create), registers its reports, and starts polling (or listening, for push). */
  async start(): Promise<void> {
    this.running = true;
    if (this.opts.push) await this.listen();
    await this.register();
    if (this.opts.reports?.length) await this.registerReports();
    if (!this.opts.push) this.schedule(0);
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    for (const r of this.requests.values()) r.timers.forEach((t) => clearInterval(t));
    this.requests.clear();
    if (this.server) {
      const s = this.server;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
      this.server = undefined;
    }
    this.agent.destroy();
  }

  async register(): Promise<void> {
    const q = this.check(await this.send('oadrQueryRegistration', { requestID: newId() }), 'oadrCreatedPartyRegistration');
    const freq = (q.oadrRequestedOadrPollFreq as Body | undefined)?.duration;
    if (typeof freq === 'string') this.pollFreqMs = durationToMs(freq) ?? this.pollFreqMs;
    const push = this.opts.push;
    const address = push ? `${this.opts.tls ? 'https' : 'http'}://${push.host}:${this.pushPort}/OpenADR2/Simple/2.0b` : undefined;
    const r = this.check(
      await this.send('oadrCreatePartyRegistration', {
        requestID: newId(),
        ...(this.registrationID ? { registrationID: this.registrationID } : {}),
        ...(this.venID ? { venID: this.venID } : {}),
        oadrProfileName: '2.0b',
        oadrTransportName: 'simpleHttp',
        ...(address ? { oadrTransportAddress: address } : {}),
        oadrReportOnly: false,
        oadrXmlSignature: this.opts.sign === true,
        oadrVenName: this.opts.venName,
        oadrHttpPullModel: !push,
      }),
      'oadrCreatedPartyRegistration',
    );
    this.venID = String(r.venID);
    this.registrationID = String(r.registrationID);
    const f = (r.oadrRequestedOadrPollFreq as Body | undefined)?.duration;
    if (typeof f === 'string') this.pollFreqMs = durationToMs(f) ?? this.pollFreqMs;
    this.log('registered', { venID: this.venID, registrationID: this.registrationID });
  }

  async cancelRegistration(): Promise<void> {
    if (!this.registrationID) return;
    this.check(await this.send('oadrCancelPartyRegistration', { requestID: newId(), registrationID: this.registrationID, venID: this.venID }), 'oadrCanceledPartyRegistration');
    this.registrationID = undefined;
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
  }

  /** oadrRequestEvent: the VTN's full list, processed like a distribution. */
  async requestEvents(): Promise<VenEvent[]> {
    const a = await this.send('oadrRequestEvent', { eiRequestEvent: { requestID: newId(), venID: this.venID } });
    await this.handle(a.name, a.body, true);
    return [...this.events.values()];
  }

  // ------------------------------------------------------------------ polling

  private schedule(ms: number): void {
    if (!this.running) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.pollLoop(), ms);
  }

  private async pollLoop(): Promise<void> {
    try {
      // Drain: a VTN returns one queued message per poll.
      for (let i = 0; i < 20 && this.running; i++) {
        const got = await this.poll();
        if (got === 'oadrResponse') break;
      }
      this.failures = 0;
      this.schedule(this.opts.pollMs ?? this.pollFreqMs);
    } catch (e) {
      this.failures++;
      this.lastError = (e as Error).message;
      const delay = Math.min(this.opts.maxBackoffMs ?? 300_000, (this.opts.pollMs ?? this.pollFreqMs) * 2 ** Math.min(this.failures, 16));
      this.log('poll failed; backing off', { error: this.lastError, delayMs: delay });
      this.schedule(delay);
    }
  }

  /** One oadrPoll; returns the name of what the VTN sent (handled already). */
  async poll(): Promise<MessageName> {
    const a = await this.send('oadrPoll', { venID: this.venID });
    await this.handle(a.name, a.body, true);
    return a.name;
  }

  // ------------------------------------------------------------------ VTN-initiated messages

  /**
   * Acts on a message from the VTN. Pulled messages get their answer sent as a new request; pushed
   * ones return it (the HTTP response).
   */
  private async handle(name: MessageName, body: Body, pulled: boolean): Promise<{ name: MessageName; body: Body } | undefined> {
    let reply: { name: MessageName; body: Body } | undefined;
    const ok = (requestID: string): Body => ({ responseCode: '200', responseDescription: 'OK', requestID });
    switch (name) {
      case 'oadrDistributeEvent':
        reply = await this.distribution(body);
        break;
      case 'oadrRequestReregistration':
        reply = { name: 'oadrResponse', body: { eiResponse: ok(''), venID: this.venID } };
        setImmediate(() => void this.register().catch((e) => this.log('re-registration failed', { error: (e as Error).message })));
        break;
      case 'oadrCancelPartyRegistration':
        reply = { name: 'oadrCanceledPartyRegistration', body: { eiResponse: ok(String(body.requestID)), registrationID: body.registrationID, venID: this.venID } };
        this.registrationID = undefined;
        this.running = false;
        break;
      case 'oadrRegisterReport':
        reply = { name: 'oadrRegisteredReport', body: { eiResponse: ok(String(body.requestID)), venID: this.venID } };
        break;
      case 'oadrCreateReport':
        for (const r of (body.oadrReportRequest ?? []) as Body[]) this.activate(r);
        reply = { name: 'oadrCreatedReport', body: { eiResponse: ok(String(body.requestID)), oadrPendingReports: { reportRequestID: [...this.requests.keys()] }, venID: this.venID } };
        break;
      case 'oadrCancelReport':
        for (const id of (body.reportRequestID ?? []) as string[]) this.deactivate(id);
        reply = { name: 'oadrCanceledReport', body: { eiResponse: ok(String(body.requestID)), oadrPendingReports: { reportRequestID: [...this.requests.keys()] }, venID: this.venID } };
        break;
      default:
        return undefined;
    }
    if (!pulled || !reply) return reply;
    const answer = await this.send(reply.name, reply.body);
    if (answer.name !== 'oadrResponse') await this.handle(answer.name, answer.body, true);
    return undefined;
  }

  private async distribution(body: Body): Promise<{ name: MessageName; body: Body } | undefined> {
    const responses: Body[] = [];
    const present = new Set<string>();
    for (const oe of (body.oadrEvent ?? []) as Body[]) {
      const ev = parseEvent(oe.eiEvent as Body);
      present.add(ev.eventID);
      const known = this.events.get(ev.eventID);
      const required = oe.oadrResponseRequired === 'always';
      if (ev.status === 'cancelled') {
        if (known && known.status !== 'cancelled') this.opts.onCancel?.(known);
        this.events.set(ev.eventID, { ...ev, optType: known?.optType ?? 'optIn' });
        if (required && (!known || known.modificationNumber !== ev.modificationNumber)) responses.push(eventResponse(ev, known?.optType ?? 'optIn', String(body.requestID)));
        continue;
      }
      if (known && known.modificationNumber === ev.modificationNumber) {
        this.events.set(ev.eventID, { ...ev, ...(known.optType ? { optType: known.optType } : {}) });
        continue;
      }
      const opt = (await this.opts.onEvent?.(ev)) ?? 'optIn';
      this.events.set(ev.eventID, { ...ev, optType: opt });
      if (required) responses.push(eventResponse(ev, opt, String(body.requestID)));
    }
    // Implied cancellation: an event the VTN no longer lists is gone.
    for (const [id, e] of this.events) {
      if (!present.has(id)) {
        this.events.delete(id);
        if (e.status !== 'cancelled') this.opts.onCancel?.(e);
      }
    }
    if (!responses.length) return undefined;
    return { name: 'oadrCreatedEvent', body: { eiCreatedEvent: { eiResponse: { responseCode: '200', responseDescription: 'OK', requestID: String(body.requestID) }, eventResponses: { eventResponse: responses }, venID: this.venID } } };
  }

  // ------------------------------------------------------------------ opts

  /** oadrCreateOpt for one event, or a schedule of availability periods. Returns the optID. */
  async createOpt(o: { optType: 'optIn' | 'optOut'; optReason?: string; eventID?: string; periods?: Array<{ startMs: number; duration: string }>; marketContext?: string }): Promise<string> {
    const optID = newId();
    const ev = o.eventID ? this.events.get(o.eventID) : undefined;
    if (o.eventID && !ev) throw new Error(`no event ${o.eventID}`);
    this.check(
      await this.send('oadrCreateOpt', {
        optID,
        optType: o.optType,
        optReason: o.optReason ?? (o.optType === 'optIn' ? 'participating' : 'notParticipating'),
        ...(o.marketContext ? { marketContext: o.marketContext } : {}),
        venID: this.venID,
        ...(o.periods?.length ? { vavailability: { components: { available: o.periods.map((p) => ({ properties: { dtstart: { 'date-time': xcalDateTime(p.startMs) }, duration: { duration: p.duration } } })) } } } : {}),
        createdDateTime: xcalDateTime(Date.now()),
        requestID: newId(),
        ...(ev ? { qualifiedEventID: { eventID: ev.eventID, modificationNumber: ev.modificationNumber } } : {}),
        eiTarget: { venID: [this.venID] },
      }),
      'oadrCreatedOpt',
    );
    if (ev) ev.optType = o.optType;
    return optID;
  }

  async cancelOpt(optID: string): Promise<void> {
    this.check(await this.send('oadrCancelOpt', { requestID: newId(), optID, venID: this.venID }), 'oadrCanceledOpt');
  }

  // ------------------------------------------------------------------ reports

  async registerReports(): Promise<void> {
    const now = xcalDateTime(Date.now());
    const reports = (this.opts.reports ?? []).map((s) => ({
      duration: { duration: 'PT0S' },
      oadrReportDescription: s.points.map((p) => ({
        rID: p.rID,
        ...(p.resourceID ? { reportDataSource: { resourceID: [p.resourceID] } } : {}),
        reportType: p.reportType,
        ...(p.unit === 'powerReal'
          ? { itemBase: { powerReal: { itemDescription: 'RealPower', itemUnits: 'W', siScaleCode: 'none', powerAttributes: { hertz: 50, voltage: 230, ac: true } } } }
          : p.unit === 'energyReal'
            ? { itemBase: { energyReal: { itemDescription: 'RealEnergy', itemUnits: 'Wh', siScaleCode: 'none' } } }
            : {}),
        readingType: p.readingType,
        oadrSamplingRate: { oadrMinPeriod: s.minPeriod, oadrMaxPeriod: 'PT1H', oadrOnChange: false },
      })),
      reportRequestID: '0',
      reportSpecifierID: s.reportSpecifierID,
      reportName: `METADATA_${s.reportName}`,
      createdDateTime: now,
    }));
    const a = this.check(await this.send('oadrRegisterReport', { requestID: newId(), oadrReport: reports, venID: this.venID }), 'oadrRegisteredReport');
    for (const r of (a.oadrReportRequest ?? []) as Body[]) this.activate(r);
  }

  private activate(r: Body): void {
    const spec = r.reportSpecifier as Body;
    const source = (this.opts.reports ?? []).find((s) => s.reportSpecifierID === spec.reportSpecifierID);
    if (!source) return;
    const id = String(r.reportRequestID);
    this.deactivate(id);
    const granularityMs = durationToMs(String((spec.granularity as Body).duration)) ?? 60_000;
    const backMs = Math.max(1000, durationToMs(String((spec.reportBackDuration as Body).duration)) ?? 60_000);
    const rIDs = ((spec.specifierPayload ?? []) as Body[]).map((p) => String(p.rID));
    const req: ActiveRequest = { id, source, granularityMs, backMs, rIDs, samples: [], timers: [] };
    this.requests.set(id, req);
    const interval = spec.reportInterval as Body | undefined;
    if (interval && source.history) {
      // A one-off history report over the requested interval.
      const props = interval.properties as Body;
      const start = parseXcalDateTime(String((props.dtstart as Body)['date-time']));
      const end = start + (durationToMs(String((props.duration as Body).duration)) ?? 0);
      setImmediate(() => void this.sendHistory(req, start, end).catch((e) => this.log('history report failed', { error: (e as Error).message })));
      return;
    }
    const sample = (): void => {
      req.samples.push({ t: Date.now(), values: new Map(rIDs.map((x) => [x, source.read(x)])) });
    };
    if (granularityMs > 0 && granularityMs < backMs) req.timers.push(setInterval(sample, granularityMs));
    req.timers.push(
      setInterval(() => {
        if (granularityMs === 0 || granularityMs >= backMs) sample();
        void this.flush(req).catch((e) => this.log('report failed', { error: (e as Error).message }));
      }, backMs),
    );
    req.timers.forEach((t) => t.unref?.());
  }

  private deactivate(id: string): void {
    const r = this.requests.get(id);
    if (!r) return;
    r.timers.forEach((t) => clearInterval(t));
    this.requests.delete(id);
  }

  /** Sends what a request has sampled since the last report (oadrUpdateReport). */
  async flush(req: ActiveRequest): Promise<void> {
    const samples = req.samples.splice(0);
    if (!samples.length) return;
    const step = req.granularityMs || req.backMs;
    const report = {
      dtstart: { 'date-time': xcalDateTime(samples[0]!.t) },
      duration: { duration: msToDuration(samples.length * step) },
      intervals: {
        interval: samples.map((s) => ({
          dtstart: { 'date-time': xcalDateTime(s.t) },
          duration: { duration: msToDuration(Math.max(1000, step)) },
          payloads: [...s.values].map(([rID, v]) => ({ oadrReportPayload: { rID, confidence: 100, payloadBase: payloadOf(v), oadrDataQuality: 'Quality Good - Non Specific' } })),
        })),
      },
      reportRequestID: req.id,
      reportSpecifierID: req.source.reportSpecifierID,
      reportName: req.source.reportName,
      createdDateTime: xcalDateTime(Date.now()),
    };
    const a = this.check(await this.send('oadrUpdateReport', { requestID: newId(), oadrReport: [report], venID: this.venID }), 'oadrUpdatedReport');
    const cancel = a.oadrCancelReport as Body | undefined;
    for (const id of (cancel?.reportRequestID ?? []) as string[]) this.deactivate(id);
  }

  private async sendHistory(req: ActiveRequest, start: number, end: number): Promise<void> {
    const g = req.granularityMs || 3_600_000;
    const series = new Map(req.rIDs.map((r) => [r, req.source.history!(r, start, end, g)]));
    const n = Math.max(0, ...[...series.values()].map((v) => v.length));
    req.samples = Array.from({ length: n }, (_, i) => ({ t: start + i * g, values: new Map(req.rIDs.map((r) => [r, series.get(r)![i] ?? NaN])) }));
    await this.flush(req);
    this.deactivate(req.id);
  }

  // ------------------------------------------------------------------ push listener

  private async listen(): Promise<void> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      void (async () => {
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        let out = '';
        try {
          const text = Buffer.concat(chunks).toString('utf8');
          this.opts.tap?.('in', text);
          const d = decodePayload(text, { maxBytes: 4 * 1024 * 1024, maxDepth: 48, maxNodes: 200_000 });
          if (d.signature) verifyPayload(d, { nonces: this.nonces });
          const reply = await this.handle(d.name, d.body, false);
          out = reply ? (this.opts.sign && this.identity ? signPayload(reply.name, reply.body, this.identity) : encodePayload(reply.name, reply.body)) : encodePayload('oadrResponse', { eiResponse: { responseCode: '200', responseDescription: 'OK', requestID: '' }, venID: this.venID });
          res.writeHead(200, { 'content-type': 'application/xml' });
        } catch (e) {
          out = encodePayload('oadrResponse', { eiResponse: { responseCode: '454', responseDescription: (e as Error).message.slice(0, 200), requestID: '' }, venID: this.venID });
          res.writeHead(400, { 'content-type': 'application/xml' });
        }
        this.opts.tap?.('out', out);
        res.end(out);
      })();
    };
    const p = this.opts.push!;
    this.server = this.opts.tls
      ? createHttpsServer({ cert: this.opts.tls.certPem, key: this.opts.tls.keyPem, ca: this.opts.tls.caPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, handler)
      : createHttpServer(handler);
    const server = this.server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(p.port, p.host, () => resolve());
    });
    const addr = server.address();
    this.pushPort = typeof addr === 'object' && addr ? addr.port : p.port;
  }
}

export class Oadr2bVenError extends Error {
  constructor(
    readonly responseCode: string,
    description: string,
  ) {
    super(`VTN answered ${responseCode}: ${description}`);
  }
}

function payloadOf(v: ReturnType<VenReportSource['read']>): Body {
  if (typeof v === 'number') return { payloadFloat: { value: v } };
  const lc = v.loadControl;
  const cur = (x: number | undefined) => (x === undefined ? undefined : { oadrCurrent: x });
  return {
    oadrPayloadResourceStatus: {
      oadrOnline: v.online,
      oadrManualOverride: v.manualOverride,
      ...(lc ? { oadrLoadControlState: { ...(lc.capacity !== undefined ? { oadrCapacity: cur(lc.capacity) } : {}), ...(lc.levelOffset !== undefined ? { oadrLevelOffset: cur(lc.levelOffset) } : {}), ...(lc.percentOffset !== undefined ? { oadrPercentOffset: cur(lc.percentOffset) } : {}), ...(lc.setPoint !== undefined ? { oadrSetPoint: cur(lc.setPoint) } : {}) } } : {}),
    },
  };
}

function eventResponse(ev: VenEvent, optType: 'optIn' | 'optOut', requestID: string): Body {
  return { responseCode: '200', responseDescription: 'OK', requestID, qualifiedEventID: { eventID: ev.eventID, modificationNumber: ev.modificationNumber }, optType };
}

/** An ei:eiEvent as the VEN keeps it (absolute interval times). */
export function parseEvent(e: Body): VenEvent {
  const d = e.eventDescriptor as Body;
  const props = (e.eiActivePeriod as Body).properties as Body;
  const start = parseXcalDateTime(String((props.dtstart as Body)['date-time']));
  const durationMs = durationToMs(String((props.duration as Body).duration)) ?? 0;
  const signals = (((e.eiEventSignals as Body).eiEventSignal ?? []) as Body[]).map((s) => {
    let cursor = start;
    const intervals = ((s.intervals as Body).interval as Body[]).map((iv) => {
      const st = iv.dtstart ? parseXcalDateTime(String((iv.dtstart as Body)['date-time'])) : cursor;
      const dur = iv.duration ? (durationToMs(String((iv.duration as Body).duration)) ?? 0) : 0;
      cursor = st + dur;
      const p = ((iv.payloads as Body[])[0]?.signalPayload as Body | undefined)?.payloadBase as Body | undefined;
      return { startMs: st, durationMs: dur, value: Number((p?.payloadFloat as Body | undefined)?.value ?? NaN) };
    });
    const cv = ((s.currentValue as Body | undefined)?.payloadFloat as Body | undefined)?.value;
    return {
      signalName: String(s.signalName),
      signalType: String(s.signalType),
      payloadType: payloadTypeOf(String(s.signalName), String(s.signalType)),
      ...(typeof cv === 'number' ? { currentValue: cv } : {}),
      intervals,
    };
  });
  return {
    eventID: String(d.eventID),
    modificationNumber: Number(d.modificationNumber),
    status: String(d.eventStatus),
    marketContext: String((d.eiMarketContext as Body).marketContext),
    startMs: start,
    durationMs,
    ...(typeof d.priority === 'number' ? { priority: d.priority } : {}),
    signals,
    targets: (e.eiTarget as Body) ?? {},
  };
}

export type { Service };
