import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { hashSecret, isGfError, secretMatches, UNKNOWN_SECRET_HASH, type Logger, type ReadingInput, type SqlClient, type Storage } from '../../core/index.js';
import { decodePayload, encodePayload, Oadr2bSchemaError, parseXcalDateTime, XmlError, xcalDateTime, type Body, type DecodedPayload } from '../../standards/openadr2b/codec.js';
import { SERVICE_OF, type MessageName, type Service } from '../../standards/openadr2b/schema.js';
import { NonceCache, Oadr2bSignatureError, signPayload, verifyPayload, type SigningIdentity } from '../../standards/openadr2b/signature.js';
import { durationToMs } from '../../standards/common/ids.js';
import type { ObjectRow, Oa3Bridge, Operation } from '../openadr3/api.js';
import { Oa2Refusal, ResponseCode, type ResponseCodeValue } from './errors.js';
import { intervalsOf, renderEiEvent, snapshotHash, snapshotOf, type EventSnapshot } from './events.js';

export interface VtnSettings {
  vtnId: string;
  pollFreq: string;
  marketContextBase: string;
  currency: string;
  /** Reports requested automatically when a VEN offers them (METADATA_ prefix stripped). */
  autoRequestReports: string[];
  reportBackDuration: string;
  /**
   * Whether VENs nobody provisioned may register (opt-in): each is bound to the first credential it presents
   * (certificate fingerprint over TLS, registration secret over plain HTTP). Off, only provisioned VENs register.
   */
  openRegistration: boolean;
  nearMs: number;
  /** Refuse unsigned messages from every VEN (otherwise only from VENs that registered with oadrXmlSignature). */
  requireSignatures: boolean;
  maxXmlBytes: number;
  /** Hosts a VEN registering over plain HTTP may give as its push address. */
  pushHostsWithoutTls: string[];
}

export interface VenRow {
  ven_id: string;
  ven_name: string;
  fingerprint: string | null;
  /** scrypt hash of its registration secret (plain HTTP credential); null for certificate-bound VENs. */
  secret_hash: string | null;
  registration_id: string | null;
  profile: string | null;
  transport_address: string | null;
  http_pull: boolean;
  xml_signature: boolean;
  report_only: boolean;
  view_hash: string | null;
  created_ms: number;
  registered_ms: number | null;
  last_seen_ms: number | null;
}

interface EventState {
  mod: number;
  hash: string;
  cancelled: boolean;
  snapshot: EventSnapshot;
  endMs: number | null;
}

/** Who is calling, as the transport authenticated it. */
export interface Peer {
  /** The TLS client certificate's fingerprint (mutual TLS). */
  fingerprint?: string;
  /** HTTP Basic credentials on plain HTTP: the VEN's name and its registration secret. */
  basic?: { user: string; secret: string };
  /** The answer to a message the VTN itself pushed to this VEN's registered address (a venID). */
  pushedTo?: string;
}

export interface Reply {
  status: number;
  xml: string;
}

const newId = (): string => randomBytes(10).toString('hex');
const SI_FACTOR: Record<string, number> = { p: 1e-12, n: 1e-9, micro: 1e-6, m: 1e-3, c: 1e-2, d: 1e-1, none: 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
const VEN_COLUMNS = 'ven_id, ven_name, fingerprint, secret_hash, registration_id, profile, transport_address, http_pull, xml_signature, report_only, view_hash, created_ms::float8 AS created_ms, registered_ms::float8 AS registered_ms, last_seen_ms::float8 AS last_seen_ms';

/** The 3.1 clientID a 2.0b VEN's ven object carries (so BL grants targets to it as to any VEN). */
export const clientIdOf = (venName: string): string => `oadr2b:${venName}`;

/**
 * The OpenADR 2.0b VTN: every service's messages in, answers out, queued messages for OadrPoll, and the
 * same events as the 3.1 VTN. Transport-free: `handle()` takes the XML text and the peer's identity.
 *
 * Single-process state: VEN rows, event versions and "what changed" flags are cached in memory, so an
 * oadrPoll with nothing new touches no table. The data folder lock (embedded engine) or one server
 * process per database (PostgreSQL) keeps that true.
 */
export class Oa2Vtn {
  private readonly vens = new Map<string, VenRow>();
  private readonly byFingerprint = new Map<string, string>();
  private readonly byName = new Map<string, string>();
  /** SHA-256 of the registration secret a VEN presented and scrypt accepted: later requests cost no scrypt. */
  private readonly verified = new Map<string, Buffer>();
  private readonly events = new Map<string, EventState>();
  private readonly queued = new Map<string, number>();
  private readonly dirty = new Set<string>();
  /** When a VEN's view changes with time alone (an event it holds ends): it is looked at again then. */
  private readonly recheckAt = new Map<string, number>();
  readonly nonces = new NonceCache();
  /** Called when a VEN has something new (push delivery wakes on it). */
  onPending: (venId: string) => void = () => {};
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly storage: Storage,
    private readonly bridge: Oa3Bridge,
    readonly settings: VtnSettings,
    private readonly log: Logger,
    private readonly identity?: SigningIdentity,
  ) {}

  async start(): Promise<void> {
    const vens = await this.storage.query<VenRow>(`SELECT ${VEN_COLUMNS} FROM oa2_vens`);
    for (const v of vens.rows) this.cache(v);
    const q = await this.storage.query<{ ven_id: string; n: number }>('SELECT ven_id, count(*)::int AS n FROM oa2_queue GROUP BY ven_id');
    for (const r of q.rows) this.queued.set(r.ven_id, r.n);
    const ev = await this.storage.query<{ event_id: string; mod_number: number; hash: string; cancelled: boolean; snapshot: EventSnapshot; end_ms: number | null }>(
      'SELECT event_id, mod_number, hash, cancelled, snapshot, end_ms::float8 AS end_ms FROM oa2_events',
    );
    for (const r of ev.rows) this.events.set(r.event_id, { mod: r.mod_number, hash: r.hash, cancelled: r.cancelled, snapshot: r.snapshot, endMs: r.end_ms });
    for (const v of this.vens.keys()) this.dirty.add(v);
    this.unsubscribe = this.bridge.onChange((op, type, row) => this.onOa3Change(op, type, row));
  }

  stop(): void {
    this.unsubscribe?.();
  }

  private cache(v: VenRow): void {
    const prev = this.vens.get(v.ven_id);
    if (prev?.fingerprint && prev.fingerprint !== v.fingerprint) this.byFingerprint.delete(prev.fingerprint);
    if (prev && prev.secret_hash !== v.secret_hash) this.verified.delete(v.ven_id);
    this.vens.set(v.ven_id, v);
    this.byName.set(v.ven_name, v.ven_id);
    if (v.fingerprint) this.byFingerprint.set(v.fingerprint, v.ven_id);
  }

  venById(id: string): VenRow | undefined {
    return this.vens.get(id);
  }

  venByName(name: string): VenRow | undefined {
    return this.vens.get(this.byName.get(name) ?? '');
  }

  allVens(): VenRow[] {
    return [...this.vens.values()];
  }

  /** Events, programs, vens and resources decide what a VEN sees: any change marks every VEN. */
  private onOa3Change(op: Operation, type: string, row: ObjectRow): void {
    if (type === 'EVENT' && op === 'DELETE') {
      const st = this.events.get(row.id);
      if (st && !st.cancelled) {
        st.cancelled = true;
        st.mod += 1;
        this.storage
          .query('UPDATE oa2_events SET cancelled = true, mod_number = $2, updated_ms = $3 WHERE event_id = $1', [row.id, st.mod, Date.now()])
          .catch((err) => this.log.warn({ err, eventId: row.id }, 'could not record an event cancellation'));
      }
    }
    if (type === 'EVENT' || type === 'PROGRAM' || type === 'VEN' || type === 'RESOURCE') {
      for (const v of this.vens.keys()) this.dirty.add(v);
      for (const v of this.vens.values()) if (v.registration_id && !v.http_pull) this.onPending(v.ven_id);
    }
  }

  hasPending(venId: string): boolean {
    return (this.queued.get(venId) ?? 0) > 0 || this.dirty.has(venId) || (this.recheckAt.get(venId) ?? Infinity) <= Date.now();
  }

  // ------------------------------------------------------------------ transport entry

  /** One request on a service endpoint. Never throws: every failure is an OpenADR answer. */
  async handle(service: Service, xml: string, peer: Peer): Promise<Reply> {
    let decoded: DecodedPayload;
    try {
      decoded = decodePayload(xml, { maxBytes: this.settings.maxXmlBytes, maxDepth: 48, maxNodes: 100_000 });
    } catch (e) {
      if (e instanceof XmlError || e instanceof Oadr2bSchemaError) {
        return { status: 400, xml: this.response(ResponseCode.INVALID_DATA, e.message, requestIdGuess(xml)) };
      }
      throw e;
    }
    const requestId = String((decoded.body.requestID ?? (decoded.body.eiRequestEvent as Body | undefined)?.requestID ?? '') as string);
    try {
      const expected = SERVICE_OF[decoded.name];
      if (decoded.name !== 'oadrResponse' && expected !== service) {
        throw new Oa2Refusal(ResponseCode.COMPLIANCE_ERROR, `${decoded.name} is not a ${service} message; send it to ${expected}`);
      }
      return await this.dispatch(decoded, peer, requestId);
    } catch (e) {
      if (e instanceof Oa2Refusal) return { status: e.httpStatus, xml: this.response(e.code, e.message, requestId, venIdIn(decoded.body)) };
      if (e instanceof Oadr2bSignatureError) return { status: 403, xml: this.response(ResponseCode.NOT_REGISTERED_OR_AUTHORIZED, `signature refused: ${e.message}`, requestId) };
      this.log.error({ err: e, message: decoded.name }, 'OpenADR 2.0b request failed');
      return { status: 500, xml: this.response(ResponseCode.DEPLOYMENT_ERROR, 'the VTN could not process this message', requestId) };
    }
  }

  private async dispatch(d: DecodedPayload, peer: Peer, requestId: string): Promise<Reply> {
    const b = d.body;
    if (d.name === 'oadrQueryRegistration') {
      // The credential says who asks: a registered VEN gets its registration back (signed if it signs). The
      // schema's own rule: "venID not included in query unless already registered" (oadrCreatedPartyRegistration).
      const known = await this.credentialOwner(peer);
      return this.reply(known?.registration_id ? known : undefined, 'oadrCreatedPartyRegistration', this.createdRegistration(requestId, known));
    }
    if (d.name === 'oadrCreatePartyRegistration') return this.register(d, peer, requestId);
    const ven = await this.authenticate(d, peer);
    ven.last_seen_ms = Date.now();
    switch (d.name) {
      case 'oadrPoll':
        return this.poll(ven);
      case 'oadrCancelPartyRegistration':
        return this.cancelRegistration(ven, String(b.registrationID), requestId);
      case 'oadrCanceledPartyRegistration':
        await this.dropRegistration(ven);
        return this.ok(ven, requestId);
      case 'oadrRequestEvent':
        return this.reply(ven, 'oadrDistributeEvent', (await this.distribution(ven, requestId, true))!);
      case 'oadrCreatedEvent':
        await this.createdEvent(ven, (b.eiCreatedEvent as Body).eventResponses as Body | undefined);
        return this.ok(ven, requestId);
      case 'oadrRegisterReport':
        return this.registerReport(ven, b, requestId);
      case 'oadrRegisteredReport':
        // The VEN's answer to the VTN's METADATA registration; the VTN offers no reports, so there is nothing to start.
        this.noVtnReports((b.oadrReportRequest ?? []) as Body[]);
        return this.ok(ven, requestId);
      case 'oadrUpdateReport':
        return this.updateReport(ven, b, requestId);
      case 'oadrCreatedReport':
      case 'oadrCanceledReport':
      case 'oadrResponse':
        return this.ok(ven, requestId);
      case 'oadrCreateReport':
        // This VTN offers no reports of its own (its METADATA report lists none).
        return this.reply(ven, 'oadrCreatedReport', { eiResponse: eiResponse(ResponseCode.REPORT_NOT_SUPPORTED, 'this VTN offers no reports', requestId), oadrPendingReports: {}, venID: ven.ven_id });
      case 'oadrCancelReport':
        return this.reply(ven, 'oadrCanceledReport', { eiResponse: eiResponse(ResponseCode.OK, 'OK', requestId), oadrPendingReports: {}, venID: ven.ven_id });
      case 'oadrCreateOpt':
        return this.createOpt(ven, b, requestId);
      case 'oadrCancelOpt':
        return this.cancelOpt(ven, String(b.optID), requestId);
      default:
        throw new Oa2Refusal(ResponseCode.NOT_ALLOWED, `a VTN does not take ${d.name}`);
    }
  }

  /**
   * The VEN behind a request, from its credential, never from what the message says: over TLS the certificate
   * fingerprint, over plain HTTP the HTTP Basic credentials (venName and registration secret), for the answer to
   * a push the VEN it was pushed to (no 2.0b payload authenticates its sender, oadr_20b.xsd; the 2.0b profile leaves
   * that to TLS client certificates). The message's venID must be that VEN's (452 otherwise). Unsigned messages are
   * refused where signatures are required; signed ones are verified against the TLS identity when there is one.
   */
  private async authenticate(d: DecodedPayload, peer: Peer): Promise<VenRow> {
    const claimed = venIdIn(d.body);
    let ven: VenRow | undefined;
    if (peer.fingerprint) {
      ven = this.vens.get(this.byFingerprint.get(peer.fingerprint) ?? '');
      if (!ven) throw new Oa2Refusal(ResponseCode.NOT_REGISTERED_OR_AUTHORIZED, `certificate ${peer.fingerprint} belongs to no provisioned VEN`, 403);
    } else if (peer.pushedTo) {
      ven = this.vens.get(peer.pushedTo);
      if (!ven) throw new Oa2Refusal(ResponseCode.NOT_REGISTERED_OR_AUTHORIZED, `no VEN '${peer.pushedTo}'`);
    } else {
      if (!peer.basic) throw new Oa2Refusal(ResponseCode.NOT_REGISTERED_OR_AUTHORIZED, NO_CREDENTIALS);
      const named = this.venByName(peer.basic.user);
      if (named?.fingerprint) throw new Oa2Refusal(ResponseCode.NOT_REGISTERED_OR_AUTHORIZED, 'this VEN is provisioned with a certificate: connect over TLS', 403);
      if (!(await this.secretOk(named, peer.basic.secret))) throw new Oa2Refusal(ResponseCode.NOT_REGISTERED_OR_AUTHORIZED, WRONG_CREDENTIALS);
      ven = named!;
    }
    if (claimed !== undefined && claimed !== ven.ven_id) throw new Oa2Refusal(ResponseCode.INVALID_ID, `venID '${claimed}' is not the VEN these credentials belong to`);
    if (!ven.registration_id) throw new Oa2Refusal(ResponseCode.NOT_REGISTERED_OR_AUTHORIZED, `VEN '${ven.ven_id}' is not registered (send oadrCreatePartyRegistration)`);
    this.checkSignature(d, ven.xml_signature, peer);
    return ven;
  }

  /** The VEN a credential belongs to, if it checks out (no refusal: for oadrQueryRegistration, which anyone may send). */
  private async credentialOwner(peer: Peer): Promise<VenRow | undefined> {
    if (peer.fingerprint) return this.vens.get(this.byFingerprint.get(peer.fingerprint) ?? '');
    if (peer.pushedTo) return this.vens.get(peer.pushedTo);
    if (!peer.basic) return undefined;
    const ven = this.venByName(peer.basic.user);
    return ven && !ven.fingerprint && (await this.secretOk(ven, peer.basic.secret)) ? ven : undefined;
  }

  /**
   * Whether `secret` is this VEN's registration secret. scrypt runs on the thread pool; a secret that matched once
   * is remembered by its SHA-256, so a VEN polling every few seconds costs a hash, not a scrypt. An unknown VEN
   * costs the same scrypt as a known one, so timing does not tell which names exist.
   */
  private async secretOk(ven: VenRow | undefined, secret: string): Promise<boolean> {
    if (!ven?.secret_hash) {
      await secretMatches(secret, UNKNOWN_SECRET_HASH);
      return false;
    }
    const digest = createHash('sha256').update(secret).digest();
    const known = this.verified.get(ven.ven_id);
    if (known && timingSafeEqual(known, digest)) return true;
    const hash = ven.secret_hash;
    if (!(await secretMatches(secret, hash))) return false;
    if (this.vens.get(ven.ven_id)?.secret_hash === hash) this.verified.set(ven.ven_id, digest);
    return true;
  }

  private checkSignature(d: DecodedPayload, venSigns: boolean, peer: Peer): void {
    if (d.signature) {
      verifyPayload(d, { ...(peer.fingerprint ? { expectedFingerprint: peer.fingerprint } : {}), nonces: this.nonces });
    } else if (venSigns || this.settings.requireSignatures) {
      throw new Oa2Refusal(ResponseCode.NOT_REGISTERED_OR_AUTHORIZED, 'this VEN must sign its messages (oadrXmlSignature)', 403);
    }
  }

  // ------------------------------------------------------------------ registration

  private createdRegistration(requestId: string, ven: VenRow | undefined, code: ResponseCodeValue = ResponseCode.OK, description = 'OK'): Body {
    return {
      eiResponse: eiResponse(code, description, requestId),
      ...(ven?.registration_id ? { registrationID: ven.registration_id, venID: ven.ven_id } : {}),
      vtnID: this.settings.vtnId,
      oadrProfiles: { oadrProfile: [{ oadrProfileName: '2.0b', oadrTransports: { oadrTransport: [{ oadrTransportName: 'simpleHttp' }] } }] },
      oadrRequestedOadrPollFreq: { duration: this.settings.pollFreq },
    };
  }

  private async register(d: DecodedPayload, peer: Peer, requestId: string): Promise<Reply> {
    const b = d.body;
    const fail = (code: ResponseCodeValue, msg: string, status = 200): Reply => ({ status, xml: this.payload('oadrCreatedPartyRegistration', this.createdRegistration(requestId, undefined, code, msg), undefined) });
    if (b.oadrProfileName !== '2.0b') return fail(ResponseCode.NOT_ALLOWED, 'this VTN speaks profile 2.0b');
    if (b.oadrTransportName !== 'simpleHttp') return fail(ResponseCode.NOT_ALLOWED, 'this VTN offers the simpleHttp transport only');
    const pull = b.oadrHttpPullModel !== false;
    const address = typeof b.oadrTransportAddress === 'string' ? b.oadrTransportAddress.trim() : '';
    if (!pull && !/^https?:\/\/[^\s]+$/.test(address)) return fail(ResponseCode.INVALID_DATA, 'the push model needs oadrTransportAddress (an http or https URL)');
    // Push makes the VTN call out: a VEN nobody authenticated (plain HTTP) may only name hosts the operator allows.
    if (!pull && !peer.fingerprint && !this.settings.pushHostsWithoutTls.includes(new URL(address).hostname.replace(/^\[|\]$/g, ''))) {
      return fail(ResponseCode.NOT_ALLOWED, `push to ${new URL(address).hostname} is allowed only for VENs registered over mutual TLS (or hosts in pushHostsWithoutTls)`);
    }
    // oadrVenName is "Human readable name for VEN" / "VEN name. May be used in VTN GUI" (oadr_20b.xsd): a label,
    // not a credential. So a registration by name never hands over an existing VEN: the VEN is found by the
    // credential the transport authenticated, and a name only names a VEN that does not exist yet.
    const name = typeof b.oadrVenName === 'string' ? b.oadrVenName.trim() : '';
    let ven: VenRow | undefined;
    if (peer.fingerprint) {
      ven = this.vens.get(this.byFingerprint.get(peer.fingerprint) ?? '');
      if (!ven) {
        if (!this.settings.openRegistration) return fail(ResponseCode.NOT_REGISTERED_OR_AUTHORIZED, `certificate ${peer.fingerprint} belongs to no provisioned VEN`, 403);
        const claimed = await this.claim(name, { fingerprint: peer.fingerprint, secretHash: null });
        if (typeof claimed === 'string') return fail(ResponseCode.NOT_REGISTERED_OR_AUTHORIZED, claimed);
        ven = claimed;
      }
    } else if (peer.pushedTo) {
      ven = this.vens.get(peer.pushedTo);
      if (!ven) return fail(ResponseCode.NOT_REGISTERED_OR_AUTHORIZED, `no VEN '${peer.pushedTo}'`);
    } else {
      const basic = peer.basic;
      if (!basic) return fail(ResponseCode.NOT_REGISTERED_OR_AUTHORIZED, NO_CREDENTIALS);
      if (name && name !== basic.user) return fail(ResponseCode.INVALID_DATA, `oadrVenName '${name}' is not the name in the credentials ('${basic.user}')`);
      ven = this.venByName(basic.user);
      if (ven?.fingerprint) return fail(ResponseCode.NOT_REGISTERED_OR_AUTHORIZED, 'this VEN is provisioned with a certificate: connect over TLS', 403);
      if (ven?.secret_hash || !this.settings.openRegistration) {
        const ok = await this.secretOk(ven, basic.secret);
        if (!ok || !ven) return fail(ResponseCode.NOT_REGISTERED_OR_AUTHORIZED, WRONG_CREDENTIALS);
      } else {
        // Open registration: a VEN nobody provisioned (or one registered by name before VENs were bound to
        // credentials) is bound to the secret it presents first.
        const claimed = await this.claim(basic.user, { fingerprint: null, secretHash: await hashSecret(basic.secret) });
        if (typeof claimed === 'string') return fail(ResponseCode.NOT_REGISTERED_OR_AUTHORIZED, claimed);
        ven = claimed;
        // Its hash was made from this very secret: its first poll need not run scrypt again.
        this.verified.set(ven.ven_id, createHash('sha256').update(basic.secret).digest());
      }
    }
    if (b.venID !== undefined && b.venID !== ven.ven_id) return fail(ResponseCode.INVALID_ID, `venID '${String(b.venID)}' is not this VEN's (${ven.ven_id})`);
    if (b.registrationID !== undefined && ven.registration_id && b.registrationID !== ven.registration_id) return fail(ResponseCode.INVALID_ID, 'registrationID does not match this VEN\'s registration');
    this.checkSignature(d, b.oadrXmlSignature === true, peer);
    const now = Date.now();
    const r = await this.storage.query<VenRow>(
      `UPDATE oa2_vens SET registration_id = $2, profile = '2.0b', transport_address = $3, http_pull = $4, xml_signature = $5, report_only = $6, view_hash = NULL, registered_ms = $7, last_seen_ms = $7
       WHERE ven_id = $1 RETURNING ${VEN_COLUMNS}`,
      [ven.ven_id, ven.registration_id && b.registrationID === ven.registration_id ? ven.registration_id : newId(), address || null, pull, b.oadrXmlSignature === true, b.oadrReportOnly === true, now],
    );
    const saved = r.rows[0]!;
    this.cache(saved);
    this.dirty.add(saved.ven_id);
    this.log.info({ venId: saved.ven_id, venName: saved.ven_name, pull }, 'OpenADR 2.0b VEN registered');
    return this.reply(saved, 'oadrCreatedPartyRegistration', this.createdRegistration(requestId, saved));
  }

  /**
   * Creates or updates a provisioned VEN (operator: config `vens`, POST /api/openadr2b/vens) with its credential:
   * a certificate fingerprint, a registration secret (stored as its scrypt hash), or both. Its 3.1 ven object comes
   * first, so BL can grant it targets before it registers. The operator may replace a VEN's credential.
   */
  async provision(venName: string, credential: { fingerprint?: string | null; secret?: string | null }): Promise<VenRow> {
    const obj = await this.bridge.ensureVen(venName, clientIdOf(venName));
    const secretHash = credential.secret ? await hashSecret(credential.secret) : null;
    const r = await this.storage.query<VenRow>(
      `INSERT INTO oa2_vens (ven_id, ven_name, fingerprint, secret_hash, created_ms) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (ven_id) DO UPDATE SET fingerprint = COALESCE(EXCLUDED.fingerprint, oa2_vens.fingerprint), secret_hash = COALESCE(EXCLUDED.secret_hash, oa2_vens.secret_hash)
       RETURNING ${VEN_COLUMNS}`,
      [obj.id, venName, credential.fingerprint ?? null, secretHash, Date.now()],
    );
    this.cache(r.rows[0]!);
    return r.rows[0]!;
  }

  /**
   * Open registration: binds the VEN named `name` to this first credential, creating it, or taking one that has
   * no credential yet (registered by name before VENs were bound). One SQL statement decides, so of two VENs
   * racing for a name exactly one wins. Returns the refusal's text when the name is bound already or taken.
   */
  private async claim(name: string, credential: { fingerprint: string | null; secretHash: string | null }): Promise<VenRow | string> {
    if (!name || name.length > 128) return 'oadrVenName (1 to 128 characters) is needed to register a new VEN';
    const taken = `VEN '${name}' is bound to another credential`;
    try {
      let row: VenRow | undefined;
      if (this.venByName(name)) {
        row = (await this.storage.query<VenRow>(
          `UPDATE oa2_vens SET fingerprint = $2, secret_hash = $3 WHERE ven_name = $1 AND fingerprint IS NULL AND secret_hash IS NULL RETURNING ${VEN_COLUMNS}`,
          [name, credential.fingerprint, credential.secretHash],
        )).rows[0];
      } else {
        const obj = await this.bridge.ensureVen(name, clientIdOf(name));
        row = (await this.storage.query<VenRow>(
          `INSERT INTO oa2_vens (ven_id, ven_name, fingerprint, secret_hash, created_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING ${VEN_COLUMNS}`,
          [obj.id, name, credential.fingerprint, credential.secretHash, Date.now()],
        )).rows[0];
      }
      if (!row) return taken;
      this.cache(row);
      this.log.info({ venId: row.ven_id, venName: name, credential: credential.fingerprint ? 'certificate' : 'secret' }, 'OpenADR 2.0b VEN bound to its first credential (open registration)');
      return row;
    } catch (e) {
      // A 3.1 VEN (another client) has the name, or a racing registration took it.
      if ((isGfError(e) && e.status === 409) || (e as { code?: string }).code === '23505') return taken;
      throw e;
    }
  }

  private async cancelRegistration(ven: VenRow, registrationId: string, requestId: string): Promise<Reply> {
    if (registrationId !== ven.registration_id) throw new Oa2Refusal(ResponseCode.INVALID_ID, 'registrationID is not this VEN\'s registration');
    const body = { eiResponse: eiResponse(ResponseCode.OK, 'OK', requestId), registrationID: registrationId, venID: ven.ven_id };
    const reply = this.reply(ven, 'oadrCanceledPartyRegistration', body);
    await this.dropRegistration(ven);
    return reply;
  }

  /** Ends a registration: queued messages and report requests go; the ven object (and its grants) stays. */
  async dropRegistration(ven: VenRow): Promise<void> {
    await this.storage.transaction(async (db) => {
      await db.query('UPDATE oa2_vens SET registration_id = NULL, view_hash = NULL WHERE ven_id = $1', [ven.ven_id]);
      await db.query('DELETE FROM oa2_queue WHERE ven_id = $1', [ven.ven_id]);
      await db.query(`UPDATE oa2_report_requests SET status = 'cancelled' WHERE ven_id = $1`, [ven.ven_id]);
    });
    this.cache({ ...ven, registration_id: null, view_hash: null });
    this.queued.delete(ven.ven_id);
  }

  // ------------------------------------------------------------------ queue and poll

  /** Queues a message for the VEN (delivered on its next poll, or pushed). */
  async enqueue(venId: string, name: MessageName, body: Body, db: SqlClient = this.storage): Promise<void> {
    await db.query('INSERT INTO oa2_queue (ven_id, name, body, created_ms) VALUES ($1, $2, $3, $4)', [venId, name, body, Date.now()]);
    this.queued.set(venId, (this.queued.get(venId) ?? 0) + 1);
    this.onPending(venId);
  }

  /** The next message for a VEN: queued ones in order, then a new event distribution; none is undefined. */
  async next(ven: VenRow): Promise<{ name: MessageName; body: Body } | undefined> {
    if ((this.queued.get(ven.ven_id) ?? 0) > 0) {
      const r = await this.storage.query<{ name: MessageName; body: Body }>(
        'DELETE FROM oa2_queue WHERE seq = (SELECT seq FROM oa2_queue WHERE ven_id = $1 ORDER BY seq LIMIT 1) RETURNING name, body',
        [ven.ven_id],
      );
      const left = (this.queued.get(ven.ven_id) ?? 1) - 1;
      if (left > 0 && r.rows[0]) this.queued.set(ven.ven_id, left);
      else this.queued.delete(ven.ven_id);
      if (r.rows[0]) return r.rows[0];
    }
    if (this.dirty.has(ven.ven_id) || (this.recheckAt.get(ven.ven_id) ?? Infinity) <= Date.now()) {
      this.dirty.delete(ven.ven_id);
      const dist = await this.distribution(ven, '', false);
      if (dist) return { name: 'oadrDistributeEvent', body: dist };
    }
    return undefined;
  }

  private async poll(ven: VenRow): Promise<Reply> {
    const msg = await this.next(ven);
    if (msg) return this.reply(ven, msg.name, { ...msg.body, ...('requestID' in msg.body ? { requestID: newId() } : {}) });
    return this.ok(ven, '');
  }

  /** A push that failed: the VEN is sent its whole view again next time. */
  async forgetView(venId: string): Promise<void> {
    const v = this.vens.get(venId);
    if (!v) return;
    await this.storage.query('UPDATE oa2_vens SET view_hash = NULL WHERE ven_id = $1', [venId]);
    this.cache({ ...v, view_hash: null });
    this.dirty.add(venId);
  }

  // ------------------------------------------------------------------ events

  private async eventState(s: EventSnapshot, endMs: number | null): Promise<EventState> {
    const hash = snapshotHash(s);
    const known = this.events.get(s.id);
    if (known && known.hash === hash && !known.cancelled) return known;
    const mod = known ? known.mod + 1 : 0;
    const st: EventState = { mod, hash, cancelled: false, snapshot: s, endMs };
    this.events.set(s.id, st);
    await this.storage.query(
      `INSERT INTO oa2_events (event_id, mod_number, hash, cancelled, snapshot, end_ms, updated_ms) VALUES ($1, $2, $3, false, $4, $5, $6)
       ON CONFLICT (event_id) DO UPDATE SET mod_number = EXCLUDED.mod_number, hash = EXCLUDED.hash, cancelled = false, snapshot = EXCLUDED.snapshot, end_ms = EXCLUDED.end_ms, updated_ms = EXCLUDED.updated_ms`,
      [s.id, mod, hash, s, endMs, Date.now()],
    );
    return st;
  }

  marketContextOf(programName: string): string {
    return `${this.settings.marketContextBase}${encodeURIComponent(programName)}`;
  }

  /**
   * The oadrDistributeEvent for a VEN: every pending and active event the 3.1 rules show it, and the
   * cancelled ones it was given and that have not ended. `always` answers even when nothing changed;
   * otherwise undefined when the VEN already has this view.
   */
  async distribution(ven: VenRow, requestId: string, always: boolean): Promise<Body | undefined> {
    const now = Date.now();
    const { events, programs, granted } = await this.bridge.eventsVisibleTo(clientIdOf(ven.ven_name));
    const shown: Array<{ st: EventState; cancelled: boolean }> = [];
    const seen = new Set<string>();
    for (const e of events) {
      const program = e.program_id ? programs.get(e.program_id) : undefined;
      const snap = snapshotOf(e, program?.name ?? 'default');
      const span = intervalsOf(snap.body);
      if (!span || span.end <= now) continue;
      const st = await this.eventState(snap, span.end);
      shown.push({ st, cancelled: false });
      seen.add(e.id);
    }
    const delivered = await this.storage.query<{ event_id: string }>('SELECT event_id FROM oa2_ven_events WHERE ven_id = $1', [ven.ven_id]);
    for (const { event_id } of delivered.rows) {
      const st = this.events.get(event_id);
      if (!st || seen.has(event_id) || !st.cancelled) continue;
      if (st.endMs !== null && st.endMs <= now) continue;
      shown.push({ st, cancelled: true });
    }
    // Completed events leave the list, cancelled ones when they would have ended: look again then.
    const ends = shown.map((x) => x.st.endMs).filter((x): x is number => x !== null && x > now);
    if (ends.length) this.recheckAt.set(ven.ven_id, Math.min(...ends));
    else this.recheckAt.delete(ven.ven_id);
    const viewHash = shown.map((x) => `${x.st.snapshot.id}:${x.st.mod}:${x.cancelled ? 1 : 0}`).sort().join(',');
    if (!always && viewHash === (ven.view_hash ?? '')) return undefined;
    const oadrEvent = shown
      .map(({ st, cancelled }) => {
        const eiEvent = renderEiEvent(st.snapshot, {
          modNumber: st.mod,
          cancelled,
          now,
          marketContext: this.marketContextOf(st.snapshot.programName),
          currency: this.settings.currency,
          venId: ven.ven_id,
          visibleTargets: granted,
          nearMs: this.settings.nearMs,
        });
        return eiEvent ? { eiEvent, oadrResponseRequired: 'always' } : undefined;
      })
      .filter((x) => x !== undefined);
    await this.storage.transaction(async (db) => {
      for (const { st } of shown) {
        await db.query(
          `INSERT INTO oa2_ven_events (ven_id, event_id, delivered_mod) VALUES ($1, $2, $3)
           ON CONFLICT (ven_id, event_id) DO UPDATE SET delivered_mod = EXCLUDED.delivered_mod`,
          [ven.ven_id, st.snapshot.id, st.mod],
        );
      }
      await db.query('UPDATE oa2_vens SET view_hash = $2 WHERE ven_id = $1', [ven.ven_id, viewHash]);
    });
    this.cache({ ...this.vens.get(ven.ven_id)!, view_hash: viewHash });
    return {
      ...(requestId ? { eiResponse: eiResponse(ResponseCode.OK, 'OK', requestId) } : {}),
      requestID: newId(),
      vtnID: this.settings.vtnId,
      oadrEvent,
    };
  }

  private async createdEvent(ven: VenRow, responses: Body | undefined): Promise<void> {
    const list = (responses?.eventResponse ?? []) as Body[];
    for (const r of list) {
      const q = r.qualifiedEventID as { eventID: string; modificationNumber: number };
      const res = await this.storage.query(
        'UPDATE oa2_ven_events SET opt_type = $3, opt_mod = $4, response_ms = $5 WHERE ven_id = $1 AND event_id = $2',
        [ven.ven_id, q.eventID, r.optType, q.modificationNumber, Date.now()],
      );
      if (res.rowCount === 0) throw new Oa2Refusal(ResponseCode.INVALID_ID, `event '${q.eventID}' was not given to this VEN`);
    }
  }

  // ------------------------------------------------------------------ reports

  private async registerReport(ven: VenRow, b: Body, requestId: string): Promise<Reply> {
    const reports = (b.oadrReport ?? []) as Body[];
    const requests: Body[] = [];
    await this.storage.transaction(async (db) => {
      for (const r of reports) {
        const name = String(r.reportName ?? '');
        await db.query(
          `INSERT INTO oa2_report_metadata (ven_id, report_specifier_id, report_name, body, updated_ms) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (ven_id, report_specifier_id) DO UPDATE SET report_name = EXCLUDED.report_name, body = EXCLUDED.body, updated_ms = EXCLUDED.updated_ms`,
          [ven.ven_id, r.reportSpecifierID, name || null, r, Date.now()],
        );
        const plain = name.replace(/^METADATA_/, '');
        if (!this.settings.autoRequestReports.includes(plain)) continue;
        const descriptions = (r.oadrReportDescription ?? []) as Body[];
        if (!descriptions.length) continue;
        const minPeriod = descriptions.map((x) => (x.oadrSamplingRate as Body | undefined)?.oadrMinPeriod as string | undefined).find(Boolean);
        const request = {
          reportRequestID: newId(),
          reportSpecifier: {
            reportSpecifierID: r.reportSpecifierID,
            granularity: { duration: minPeriod && (durationToMs(minPeriod) ?? 0) > 0 ? minPeriod : 'PT1M' },
            reportBackDuration: { duration: this.settings.reportBackDuration },
            specifierPayload: descriptions.map((x) => ({ rID: x.rID, readingType: x.readingType })),
          },
        };
        requests.push(request);
        await db.query(`INSERT INTO oa2_report_requests (report_request_id, ven_id, report_specifier_id, body, status, created_ms) VALUES ($1, $2, $3, $4, 'active', $5)`, [
          request.reportRequestID,
          ven.ven_id,
          r.reportSpecifierID,
          request,
          Date.now(),
        ]);
      }
      // The VTN registers its own (empty) METADATA report with the VEN, as the registration sequence asks.
      if (b.reportRequestID === undefined) await this.enqueue(ven.ven_id, 'oadrRegisterReport', { requestID: newId(), venID: ven.ven_id }, db);
    });
    return this.reply(ven, 'oadrRegisteredReport', { eiResponse: eiResponse(ResponseCode.OK, 'OK', requestId), oadrReportRequest: requests, venID: ven.ven_id });
  }

  private noVtnReports(requests: Body[]): void {
    if (requests.length) this.log.info({ n: requests.length }, 'a VEN asked for VTN reports; this VTN offers none');
  }

  /** Asks a VEN for a report it registered (operator API). */
  async requestReport(ven: VenRow, spec: { reportSpecifierID: string; granularity: string; reportBackDuration: string; start?: number; duration?: string }): Promise<string> {
    const meta = await this.storage.query<{ body: Body }>('SELECT body FROM oa2_report_metadata WHERE ven_id = $1 AND report_specifier_id = $2', [ven.ven_id, spec.reportSpecifierID]);
    if (!meta.rows[0]) throw new Oa2Refusal(ResponseCode.REPORT_NOT_SUPPORTED, `VEN ${ven.ven_id} registered no report ${spec.reportSpecifierID}`, 404);
    const descriptions = (meta.rows[0].body.oadrReportDescription ?? []) as Body[];
    const request = {
      reportRequestID: newId(),
      reportSpecifier: {
        reportSpecifierID: spec.reportSpecifierID,
        granularity: { duration: spec.granularity },
        reportBackDuration: { duration: spec.reportBackDuration },
        ...(spec.start !== undefined ? { reportInterval: { properties: { dtstart: { 'date-time': xcalDateTime(spec.start) }, duration: { duration: spec.duration ?? 'PT1H' } } } } : {}),
        specifierPayload: descriptions.map((x) => ({ rID: x.rID, readingType: x.readingType })),
      },
    };
    await this.storage.transaction(async (db) => {
      await db.query(`INSERT INTO oa2_report_requests (report_request_id, ven_id, report_specifier_id, body, status, created_ms) VALUES ($1, $2, $3, $4, 'requested', $5)`, [
        request.reportRequestID,
        ven.ven_id,
        spec.reportSpecifierID,
        request,
        Date.now(),
      ]);
      await this.enqueue(ven.ven_id, 'oadrCreateReport', { requestID: newId(), oadrReportRequest: [request], venID: ven.ven_id }, db);
    });
    return request.reportRequestID;
  }

  async cancelReport(ven: VenRow, reportRequestId: string): Promise<boolean> {
    return this.storage.transaction(async (db) => {
      const r = await db.query(`UPDATE oa2_report_requests SET status = 'cancelled' WHERE ven_id = $1 AND report_request_id = $2 AND status <> 'cancelled'`, [ven.ven_id, reportRequestId]);
      if (r.rowCount === 0) return false;
      await this.enqueue(ven.ven_id, 'oadrCancelReport', { requestID: newId(), reportRequestID: [reportRequestId], reportToFollow: false, venID: ven.ven_id }, db);
      return true;
    });
  }

  private async updateReport(ven: VenRow, b: Body, requestId: string): Promise<Reply> {
    const reports = (b.oadrReport ?? []) as Body[];
    const ids = [...new Set(reports.map((r) => String(r.reportRequestID)))];
    const known = await this.storage.query<{ report_request_id: string; status: string }>(
      'SELECT report_request_id, status FROM oa2_report_requests WHERE ven_id = $1 AND report_request_id = ANY($2::text[])',
      [ven.ven_id, ids],
    );
    const status = new Map(known.rows.map((r) => [r.report_request_id, r.status]));
    // HISTORY and one-off reports may come back under reportRequestID 0 (no request): kept as unsolicited.
    const unknown = ids.filter((id) => !status.has(id) && id !== '0');
    if (unknown.length) throw new Oa2Refusal(ResponseCode.INVALID_ID, `reportRequestID ${unknown.join(', ')} was not requested from this VEN`);
    await this.storage.transaction(async (db) => {
      for (const r of reports) {
        await db.query('INSERT INTO oa2_reports (ven_id, report_request_id, report_specifier_id, report_name, body, received_ms) VALUES ($1, $2, $3, $4, $5, $6)', [
          ven.ven_id,
          r.reportRequestID,
          r.reportSpecifierID,
          r.reportName ?? null,
          r,
          Date.now(),
        ]);
        if (status.get(String(r.reportRequestID)) === 'requested') {
          await db.query(`UPDATE oa2_report_requests SET status = 'active' WHERE report_request_id = $1`, [r.reportRequestID]);
        }
      }
    });
    // The report is kept whatever happens; readings that the store refuses are logged, not answered with an error.
    await this.storeReadings(ven, reports).catch((err) => this.log.warn({ err, venId: ven.ven_id }, 'could not store a 2.0b usage report as readings'));
    const cancelled = ids.filter((id) => status.get(id) === 'cancelled');
    return this.reply(ven, 'oadrUpdatedReport', {
      eiResponse: eiResponse(ResponseCode.OK, 'OK', requestId),
      ...(cancelled.length ? { oadrCancelReport: { requestID: newId(), reportRequestID: cancelled, reportToFollow: false, venID: ven.ven_id } } : {}),
      venID: ven.ven_id,
    });
  }

  /**
   * Usage reports become meter readings in the time-series store (so baselines, forecasts and verification
   * see them): each rID whose METADATA description carries powerReal or energyReal is a series of meter
   * `<venName>__<resourceID or rID>` (characters meter ids cannot hold become `-`) (activePower in W, energyImport in Wh, SI scale applied). Other points
   * (status, prices, levels) stay in the report only.
   */
  private async storeReadings(ven: VenRow, reports: Body[]): Promise<number> {
    const usage = reports.filter((r) => r.reportName === 'TELEMETRY_USAGE' || r.reportName === 'HISTORY_USAGE');
    if (!usage.length) return 0;
    const meta = await this.storage.query<{ report_specifier_id: string; body: Body }>(
      'SELECT report_specifier_id, body FROM oa2_report_metadata WHERE ven_id = $1 AND report_specifier_id = ANY($2::text[])',
      [ven.ven_id, [...new Set(usage.map((r) => String(r.reportSpecifierID)))]],
    );
    const points = new Map<string, { meterId: string; quantity: 'activePower' | 'energyImport'; factor: number }>();
    for (const m of meta.rows) {
      for (const d of (m.body.oadrReportDescription ?? []) as Body[]) {
        const item = d.itemBase as Record<string, { siScaleCode?: string }> | undefined;
        const kind = item?.powerReal ? 'activePower' : item?.energyReal ? 'energyImport' : undefined;
        if (!kind) continue;
        const unit = (item!.powerReal ?? item!.energyReal)!;
        const source = ((d.reportDataSource as Body | undefined)?.resourceID as string[] | undefined)?.[0];
        points.set(`${m.report_specifier_id}|${String(d.rID)}`, { meterId: meterIdOf(ven.ven_name, source ?? String(d.rID)), quantity: kind, factor: SI_FACTOR[unit.siScaleCode ?? 'none'] ?? 1 });
      }
    }
    const readings: ReadingInput[] = [];
    for (const r of usage) {
      let cursor = r.dtstart ? parseXcalDateTime(String((r.dtstart as Body)['date-time'])) : Date.now();
      for (const iv of (((r.intervals as Body | undefined)?.interval ?? []) as Body[])) {
        const start = iv.dtstart ? parseXcalDateTime(String((iv.dtstart as Body)['date-time'])) : cursor;
        const durS = Math.round((durationToMs(String((iv.duration as Body | undefined)?.duration ?? 'PT0S')) ?? 0) / 1000);
        cursor = start + durS * 1000;
        for (const p of (iv.payloads ?? []) as Body[]) {
          const rp = p.oadrReportPayload as Body | undefined;
          const point = rp && points.get(`${String(r.reportSpecifierID)}|${String(rp.rID)}`);
          const value = ((rp?.payloadBase as Body | undefined)?.payloadFloat as Body | undefined)?.value;
          if (!point || typeof value !== 'number' || !Number.isFinite(value)) continue;
          const q = String(rp!.oadrDataQuality ?? '');
          const unit = point.quantity === 'activePower' ? 'W' : 'Wh';
          readings.push({ meterId: point.meterId, quantity: point.quantity, unit, ts: start, value: value * point.factor, resolutionS: durS, quality: q.startsWith('Quality Bad') ? 'suspect' : q.startsWith('Quality Uncertain') ? 'estimated' : 'measured' });
        }
      }
    }
    if (!readings.length) return 0;
    return (await this.storage.readings.write(readings, { onConflict: 'replace' })).written;
  }

  // ------------------------------------------------------------------ opts

  private async createOpt(ven: VenRow, b: Body, requestId: string): Promise<Reply> {
    const q = b.qualifiedEventID as { eventID: string; modificationNumber: number } | undefined;
    const periods = (((b.vavailability as Body | undefined)?.components as Body | undefined)?.available ?? []) as Body[];
    const spans = periods.map((p) => {
      const props = p.properties as Body;
      const start = parseXcalDateTime(String((props.dtstart as Body)['date-time']));
      const dur = durationToMs(String((props.duration as Body).duration));
      if (dur === undefined) throw new Oa2Refusal(ResponseCode.INVALID_DATA, 'an availability period has a calendar duration (months or years) this VTN cannot place');
      return { start, end: start + dur };
    });
    if (!q && !spans.length) throw new Oa2Refusal(ResponseCode.INVALID_DATA, 'an opt names an event (qualifiedEventID) or availability periods (vavailability)');
    if (q && !(await this.storage.query('SELECT 1 FROM oa2_ven_events WHERE ven_id = $1 AND event_id = $2', [ven.ven_id, q.eventID])).rows[0]) {
      throw new Oa2Refusal(ResponseCode.INVALID_ID, `event '${q.eventID}' was not given to this VEN`);
    }
    // periods go as JSON text: node-postgres would send a JS array as a PostgreSQL array, not as JSON.
    await this.storage.query(
      `INSERT INTO oa2_opts (opt_id, ven_id, opt_type, opt_reason, market_context, event_id, mod_number, periods, targets, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (opt_id) DO UPDATE SET opt_type = EXCLUDED.opt_type, opt_reason = EXCLUDED.opt_reason, market_context = EXCLUDED.market_context, event_id = EXCLUDED.event_id,
         mod_number = EXCLUDED.mod_number, periods = EXCLUDED.periods, targets = EXCLUDED.targets, created_ms = EXCLUDED.created_ms, cancelled_ms = NULL
       WHERE oa2_opts.ven_id = EXCLUDED.ven_id`,
      [b.optID, ven.ven_id, b.optType, b.optReason, b.marketContext ?? null, q?.eventID ?? null, q?.modificationNumber ?? null, JSON.stringify(spans), b.eiTarget ?? {}, Date.now()],
    );
    return this.reply(ven, 'oadrCreatedOpt', { eiResponse: eiResponse(ResponseCode.OK, 'OK', requestId), optID: b.optID });
  }

  private async cancelOpt(ven: VenRow, optId: string, requestId: string): Promise<Reply> {
    const r = await this.storage.query('UPDATE oa2_opts SET cancelled_ms = $3 WHERE opt_id = $1 AND ven_id = $2 AND cancelled_ms IS NULL', [optId, ven.ven_id, Date.now()]);
    if (r.rowCount === 0) throw new Oa2Refusal(ResponseCode.INVALID_ID, `no open opt '${optId}' from this VEN`);
    return this.reply(ven, 'oadrCanceledOpt', { eiResponse: eiResponse(ResponseCode.OK, 'OK', requestId), optID: optId });
  }

  /**
   * Who takes part in an event: for each VEN it was given to, the opt that decides (a per-event
   * oadrCreateOpt, else an opt schedule overlapping the event, the newest first, else its
   * oadrCreatedEvent answer), and whether it counts as delivering.
   */
  async participation(eventId: string): Promise<Array<{ venID: string; venName: string; optType: string | null; decidedBy: string; deliveredModificationNumber: number }>> {
    const st = this.events.get(eventId);
    const span = st ? intervalsOf(st.snapshot.body) : undefined;
    const rows = await this.storage.query<{ ven_id: string; ven_name: string; delivered_mod: number; opt_type: string | null }>(
      'SELECT ve.ven_id, v.ven_name, ve.delivered_mod, ve.opt_type FROM oa2_ven_events ve JOIN oa2_vens v USING (ven_id) WHERE ve.event_id = $1 ORDER BY v.ven_name',
      [eventId],
    );
    const opts = await this.storage.query<{ ven_id: string; opt_type: string; event_id: string | null; periods: Array<{ start: number; end: number }>; created_ms: number }>(
      `SELECT ven_id, opt_type, event_id, periods, created_ms::float8 AS created_ms FROM oa2_opts WHERE cancelled_ms IS NULL AND ven_id = ANY($1::text[]) ORDER BY created_ms DESC`,
      [rows.rows.map((r) => r.ven_id)],
    );
    return rows.rows.map((r) => {
      const mine = opts.rows.filter((o) => o.ven_id === r.ven_id);
      const perEvent = mine.find((o) => o.event_id === eventId);
      if (perEvent) return { venID: r.ven_id, venName: r.ven_name, optType: perEvent.opt_type, decidedBy: 'oadrCreateOpt (event)', deliveredModificationNumber: r.delivered_mod };
      const schedule = span
        ? mine.find((o) => o.event_id === null && o.periods.some((p) => p.start < span.end && p.end > span.start))
        : undefined;
      if (schedule) return { venID: r.ven_id, venName: r.ven_name, optType: schedule.opt_type, decidedBy: 'oadrCreateOpt (schedule)', deliveredModificationNumber: r.delivered_mod };
      return { venID: r.ven_id, venName: r.ven_name, optType: r.opt_type, decidedBy: r.opt_type ? 'oadrCreatedEvent' : 'no answer', deliveredModificationNumber: r.delivered_mod };
    });
  }

  // ------------------------------------------------------------------ replies

  private ok(ven: VenRow, requestId: string): Reply {
    return this.reply(ven, 'oadrResponse', { eiResponse: eiResponse(ResponseCode.OK, 'OK', requestId), venID: ven.ven_id });
  }

  private response(code: ResponseCodeValue, description: string, requestId: string, venId?: string): string {
    return this.payload('oadrResponse', { eiResponse: eiResponse(code, description, requestId), ...(venId !== undefined ? { venID: venId } : {}) }, undefined);
  }

  private reply(ven: VenRow | undefined, name: MessageName, body: Body): Reply {
    return { status: 200, xml: this.payload(name, body, ven) };
  }

  /** Signs what goes to VENs that registered with oadrXmlSignature, when the VTN has a signing key. */
  payload(name: MessageName, body: Body, ven: VenRow | undefined): string {
    if (this.identity && (ven?.xml_signature || this.settings.requireSignatures)) return signPayload(name, body, this.identity);
    return encodePayload(name, body);
  }
}

const NO_CREDENTIALS = 'over plain HTTP a VEN presents its credentials with every message: HTTP Basic venName:registration secret (or it connects over mutual TLS)';
const WRONG_CREDENTIALS = 'these credentials belong to no provisioned VEN';

/** A meter id (`[A-Za-z0-9_-]{1,128}`) for a VEN's report point. */
export function meterIdOf(venName: string, point: string): string {
  const clean = (x: string) => x.replace(/[^A-Za-z0-9_-]/g, '-');
  return `${clean(venName).slice(0, 80)}__${clean(point)}`.slice(0, 128);
}

export function eiResponse(code: ResponseCodeValue, description: string, requestId: string): Body {
  return { responseCode: code, responseDescription: description, requestID: requestId };
}

function venIdIn(b: Body): string | undefined {
  const v = b.venID ?? (b.eiRequestEvent as Body | undefined)?.venID ?? (b.eiCreatedEvent as Body | undefined)?.venID;
  return typeof v === 'string' ? v : undefined;
}

/** The requestID of a message that failed validation, when one can be seen (for the error's eiResponse). */
function requestIdGuess(xml: string): string {
  const m = /<(?:[A-Za-z0-9_-]+:)?requestID(?:\s[^>]*)?>([^<]{0,128})<\//.exec(xml.slice(0, 65536));
  return m ? m[1]!.trim() : '';
}
