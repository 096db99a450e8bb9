import { access, createToken, definePlugin, GfError, Router, StorageToken, validBody, type Storage } from '../../core/index.js';
import { Oa2Config } from './config.js';
import { Oa3Token } from '../openadr3/api.js';
import { Oa2Errors } from './errors.js';
import { oa2Migrations } from './migrations.js';
import { loadCa, loadIdentity, Pusher, serviceRouter, startTlsListener } from './transport.js';
import { Oa2Vtn, type VenRow } from './vtn.js';
import { durationToMs } from '../../standards/common/ids.js';

export { Oa2Config } from './config.js';

export const Oa2VtnToken = createToken<Oa2Vtn>('openadr2b.vtn');

const FINGERPRINT = '^([0-9A-F]{2}:){9}[0-9A-F]{2}$';
const DURATION = '^P(?!$)(\\d+D)?(T(?=\\d)(\\d+H)?(\\d+M)?(\\d+S)?)?$';

/**
 * OpenADR 2.0b VTN (profile B, simple HTTP pull and push) over the same programs and events as the
 * OpenADR 3.1 VTN. See README.md and docs/openadr2b.md.
 */
export const openadr2bPlugin = definePlugin({
  manifest: {
    id: 'openadr2b',
    version: '0.2.0',
    kernel: '^0.2.0',
    description: 'OpenADR 2.0b VTN (EiRegisterParty, EiEvent, EiReport, EiOpt, OadrPoll; mutual TLS; XML signatures)',
  },
  config: Oa2Config,
  deps: { storage: StorageToken, openadr3: Oa3Token },
  provides: { vtn: Oa2VtnToken },
  validate: (cfg) =>
    cfg.vens.flatMap((v, i) => [
      ...(v.fingerprint || v.secret ? [] : [{ path: `vens/${i}`, message: `VEN '${v.venName}' needs a credential: fingerprint (mutual TLS) or secret (plain HTTP)` }]),
      ...(v.secret && v.venName.includes(':') ? [{ path: `vens/${i}/venName`, message: 'a VEN with a secret cannot have a colon in its name (HTTP Basic user ids end at the first colon)' }] : []),
    ]),
  async start(ctx) {
    const { storage, openadr3 } = ctx.deps;
    await storage.migrate('openadr2b', oa2Migrations);
    const cfg = ctx.config;
    // Certificates, keys and the CA are read once: the TLS listener, push delivery and signatures share them.
    const tlsIdentity = cfg.tls ? loadIdentity(cfg.tls.certFile, cfg.tls.keyFile) : undefined;
    const ca = cfg.tls ? loadCa(cfg.tls.caFile) : undefined;
    const identity = cfg.signing ? loadIdentity(cfg.signing.certFile, cfg.signing.keyFile) : tlsIdentity;
    const vtn = new Oa2Vtn(
      storage,
      openadr3.bridge,
      {
        vtnId: cfg.vtnId,
        pollFreq: cfg.pollFreq,
        marketContextBase: cfg.marketContextBase,
        currency: cfg.currency,
        autoRequestReports: cfg.autoRequestReports,
        reportBackDuration: cfg.reportBackDuration,
        openRegistration: cfg.openRegistration,
        nearMs: cfg.nearMinutes * 60_000,
        requireSignatures: cfg.requireSignatures,
        maxXmlBytes: cfg.maxXmlBytes,
        pushHostsWithoutTls: cfg.pushHostsWithoutTls,
      },
      ctx.log,
      identity,
    );
    await vtn.start();
    ctx.onStop(() => vtn.stop());
    for (const v of cfg.vens) await vtn.provision(v.venName, { fingerprint: v.fingerprint ?? null, secret: v.secret ?? null });
    const pusher = new Pusher(vtn, { timeoutMs: cfg.pushTimeoutMs, ...(tlsIdentity ? { identity: tlsIdentity } : {}), ...(ca ? { ca } : {}) }, ctx.log);
    pusher.start();
    ctx.onStop(() => pusher.stop());
    let tlsPort: number | undefined;
    if (cfg.tls && tlsIdentity && ca) {
      const { server, port } = await startTlsListener(vtn, { host: cfg.tls.host ?? '127.0.0.1', port: cfg.tls.port, identity: tlsIdentity, ca, basePath: cfg.basePath, maxBytes: cfg.maxXmlBytes }, ctx.log);
      tlsPort = port;
      ctx.onStop(async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      });
      ctx.log.info({ port }, 'OpenADR 2.0b mutual-TLS listener started');
    }
    ctx.mount(cfg.basePath, serviceRouter(() => vtn));
    ctx.mount('/api/openadr2b', operatorRouter(() => vtn, () => tlsPort, storage));
    return { vtn };
  },
});

function publicVen(v: VenRow): Record<string, unknown> {
  return {
    venID: v.ven_id,
    venName: v.ven_name,
    fingerprint: v.fingerprint,
    credential: v.fingerprint ? 'certificate' : v.secret_hash ? 'secret' : null,
    registered: v.registration_id !== null,
    registrationID: v.registration_id,
    transport: v.registration_id ? (v.http_pull ? 'pull' : 'push') : null,
    transportAddress: v.transport_address,
    xmlSignature: v.xml_signature,
    reportOnly: v.report_only,
    registeredDateTime: v.registered_ms ? new Date(v.registered_ms).toISOString() : null,
    lastSeenDateTime: v.last_seen_ms ? new Date(v.last_seen_ms).toISOString() : null,
  };
}

const NAME = { type: 'string', minLength: 1, maxLength: 128 } as const;
const DURATION_SCHEMA = { type: 'string', pattern: DURATION } as const;
const PROVISION_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['venName'],
  properties: { venName: NAME, fingerprint: { type: 'string', pattern: FINGERPRINT }, secret: { type: 'string', minLength: 16, maxLength: 256 } },
};
const REPORT_REQUEST_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['reportSpecifierID', 'granularity', 'reportBackDuration'],
  properties: { reportSpecifierID: NAME, granularity: DURATION_SCHEMA, reportBackDuration: DURATION_SCHEMA, start: { type: 'string', format: 'date-time' }, duration: DURATION_SCHEMA },
};

/** The operator API (JSON): provisioning, registrations, what VENs answered and reported. */
function operatorRouter(vtn: () => Oa2Vtn, tlsPort: () => number | undefined, storage: Storage): Router {
  const r = new Router();
  const ven = (id: string): VenRow => {
    const v = vtn().venById(id);
    if (!v) throw new GfError(Oa2Errors.GF_OA2B_NOT_FOUND, `no 2.0b VEN '${id}'`);
    return v;
  };
  r.get('/', access.roles(['operator']), (ctx) => {
    ctx.body = { vtnID: vtn().settings.vtnId, tlsPort: tlsPort() ?? null, vens: vtn().allVens().length };
  });
  r.get('/vens', access.roles(['operator']), (ctx) => {
    ctx.body = vtn().allVens().sort((a, b) => a.ven_name.localeCompare(b.ven_name)).map(publicVen);
  });
  r.get('/vens/:id', access.roles(['operator']), (ctx) => {
    ctx.body = publicVen(ven(ctx.params.id!));
  });
  r.post('/vens', access.roles(['operator']), async (ctx) => {
    const { venName, fingerprint, secret } = validBody<{ venName: string; fingerprint?: string; secret?: string }>(ctx.request.body, PROVISION_SCHEMA, Oa2Errors.GF_OA2B_INVALID);
    // A VEN is bound to a credential: without one, whoever first registered the name would own it.
    if (!fingerprint && !secret && !vtn().venByName(venName)?.fingerprint && !vtn().venByName(venName)?.secret_hash) {
      throw new GfError(Oa2Errors.GF_OA2B_INVALID, 'a VEN needs a credential: fingerprint (mutual TLS) or secret (plain HTTP, at least 16 characters)', { data: { field: 'secret' } });
    }
    if (secret && venName.includes(':')) throw new GfError(Oa2Errors.GF_OA2B_INVALID, 'venName: a VEN with a secret cannot have a colon in its name (HTTP Basic user ids end at the first colon)', { data: { field: 'venName' } });
    const existing = vtn().allVens().find((v) => v.fingerprint && v.fingerprint === fingerprint && v.ven_name !== venName);
    if (existing) throw new GfError(Oa2Errors.GF_OA2B_CONFLICT, `fingerprint belongs to VEN '${existing.ven_name}'`, { data: { field: 'fingerprint' } });
    ctx.status = 201;
    // The secret is stored as its scrypt hash and never shown again.
    ctx.body = publicVen(await vtn().provision(venName, { fingerprint: fingerprint ?? null, secret: secret ?? null }));
  });
  r.post('/vens/:id/reregister', access.roles(['operator']), async (ctx) => {
    const v = ven(ctx.params.id!);
    await vtn().enqueue(v.ven_id, 'oadrRequestReregistration', { venID: v.ven_id });
    ctx.status = 202;
    ctx.body = { queued: 'oadrRequestReregistration' };
  });
  r.post('/vens/:id/cancel-registration', access.roles(['operator']), async (ctx) => {
    const v = ven(ctx.params.id!);
    if (!v.registration_id) throw new GfError(Oa2Errors.GF_OA2B_CONFLICT, `VEN '${v.ven_id}' is not registered`);
    await vtn().enqueue(v.ven_id, 'oadrCancelPartyRegistration', { requestID: 'x', registrationID: v.registration_id, venID: v.ven_id });
    ctx.status = 202;
    ctx.body = { queued: 'oadrCancelPartyRegistration' };
  });
  r.get('/vens/:id/events', access.roles(['operator']), async (ctx) => {
    const v = ven(ctx.params.id!);
    const rows = await storage.query('SELECT event_id AS "eventID", delivered_mod AS "modificationNumber", opt_type AS "optType", response_ms::float8 AS "responseMs" FROM oa2_ven_events WHERE ven_id = $1 ORDER BY event_id', [v.ven_id]);
    ctx.body = rows.rows;
  });
  r.get('/vens/:id/opts', access.roles(['operator']), async (ctx) => {
    const v = ven(ctx.params.id!);
    const rows = await storage.query(
      `SELECT opt_id AS "optID", opt_type AS "optType", opt_reason AS "optReason", market_context AS "marketContext", event_id AS "eventID", mod_number AS "modificationNumber", periods, targets,
              created_ms::float8 AS "createdMs", cancelled_ms::float8 AS "cancelledMs" FROM oa2_opts WHERE ven_id = $1 ORDER BY created_ms`,
      [v.ven_id],
    );
    ctx.body = rows.rows;
  });
  r.get('/vens/:id/report-metadata', access.roles(['operator']), async (ctx) => {
    const v = ven(ctx.params.id!);
    ctx.body = (await storage.query('SELECT report_specifier_id AS "reportSpecifierID", report_name AS "reportName", body FROM oa2_report_metadata WHERE ven_id = $1 ORDER BY report_specifier_id', [v.ven_id])).rows;
  });
  r.get('/vens/:id/report-requests', access.roles(['operator']), async (ctx) => {
    const v = ven(ctx.params.id!);
    ctx.body = (await storage.query('SELECT report_request_id AS "reportRequestID", report_specifier_id AS "reportSpecifierID", status, body FROM oa2_report_requests WHERE ven_id = $1 ORDER BY created_ms', [v.ven_id])).rows;
  });
  r.post('/vens/:id/report-requests', access.roles(['operator']), async (ctx) => {
    const v = ven(ctx.params.id!);
    const b = validBody<{ reportSpecifierID: string; granularity: string; reportBackDuration: string; start?: string; duration?: string }>(ctx.request.body, REPORT_REQUEST_SCHEMA, Oa2Errors.GF_OA2B_INVALID);
    const spec = {
      reportSpecifierID: b.reportSpecifierID,
      granularity: b.granularity,
      reportBackDuration: b.reportBackDuration,
      ...(b.start !== undefined ? { start: Date.parse(b.start), duration: b.duration ?? 'PT1H' } : {}),
    };
    if ((durationToMs(spec.reportBackDuration) ?? 0) < 1000) throw new GfError(Oa2Errors.GF_OA2B_INVALID, "reportBackDuration: must be at least one second", { data: { field: 'reportBackDuration' } });
    try {
      ctx.status = 202;
      ctx.body = { reportRequestID: await vtn().requestReport(v, spec) };
    } catch (e) {
      if ((e as { httpStatus?: number }).httpStatus === 404) throw new GfError(Oa2Errors.GF_OA2B_NOT_FOUND, (e as Error).message);
      throw e;
    }
  });
  r.delete('/vens/:id/report-requests/:rid', access.roles(['operator']), async (ctx) => {
    const v = ven(ctx.params.id!);
    if (!(await vtn().cancelReport(v, ctx.params.rid!))) throw new GfError(Oa2Errors.GF_OA2B_NOT_FOUND, `no open report request '${ctx.params.rid}'`);
    ctx.status = 202;
    ctx.body = { queued: 'oadrCancelReport' };
  });
  r.get('/vens/:id/reports', access.roles(['operator']), async (ctx) => {
    const v = ven(ctx.params.id!);
    const rows = await storage.query(
      'SELECT id::int AS id, report_request_id AS "reportRequestID", report_specifier_id AS "reportSpecifierID", report_name AS "reportName", body, received_ms::float8 AS "receivedMs" FROM oa2_reports WHERE ven_id = $1 ORDER BY id DESC LIMIT 200',
      [v.ven_id],
    );
    ctx.body = rows.rows;
  });
  r.get('/events/:id/participation', access.roles(['operator']), async (ctx) => {
    const list = await vtn().participation(ctx.params.id!);
    ctx.body = { eventID: ctx.params.id, vens: list, optIn: list.filter((x) => x.optType === 'optIn').length, optOut: list.filter((x) => x.optType === 'optOut').length };
  });
  return r;
}

export default openadr2bPlugin;
