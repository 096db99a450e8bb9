import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { access, GfError, Router, type Logger } from '../../core/index.js';
import { decodePayload, encodePayload, type Body } from '../../standards/openadr2b/codec.js';
import { postXml, type PostOptions } from '../../core/openadr2b/http.js';
import { SERVICE_OF, SERVICES, type MessageName, type Service } from '../../standards/openadr2b/schema.js';
import { certFingerprint, type SigningIdentity } from '../../standards/openadr2b/signature.js';
import { Oa2Errors, ResponseCode } from './errors.js';
import { eiResponse, type Oa2Vtn, type Peer, type Reply } from './vtn.js';

const XML_TYPE = 'application/xml';

function notXml(): Reply {
  return { status: 415, xml: encodePayload('oadrResponse', { eiResponse: eiResponse(ResponseCode.INVALID_DATA, `send ${XML_TYPE}`, '') }) };
}

/** The simple HTTP binding on the main (plain HTTP) port: POST {basePath}/{Service}. */
export function serviceRouter(vtn: () => Oa2Vtn): Router {
  const r = new Router();
  // VENs speak the 2.0b protocol (registration, TLS), not the platform's tokens.
  r.post('/:service', access.protocol('OpenADR 2.0b: registration bound to a VEN credential (secret or client certificate)'), async (ctx) => {
    const service = ctx.params.service as Service;
    if (!SERVICES.includes(service)) throw new GfError(Oa2Errors.GF_OA2B_NOT_FOUND, `no OpenADR 2.0b service '${service}' (one of ${SERVICES.join(', ')})`);
    const raw = ctx.request.rawBody;
    const basic = basicCredentials(ctx.get('authorization'));
    const reply = typeof raw === 'string' && /xml/i.test(ctx.get('content-type')) ? await vtn().handle(service, raw, basic ? { basic } : {}) : notXml();
    ctx.status = reply.status;
    ctx.type = XML_TYPE;
    ctx.body = reply.xml;
  });
  return r;
}

/**
 * HTTP Basic credentials (RFC 7617): `venName:registration secret`, how a VEN on plain HTTP says who it is. The
 * user id ends at the first colon, so a VEN whose name holds one cannot use a secret (provisioning refuses it).
 */
export function basicCredentials(header: string | undefined): { user: string; secret: string } | undefined {
  const m = /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 1) return undefined;
  return { user: text.slice(0, colon), secret: text.slice(colon + 1) };
}

export interface TlsListenerConfig {
  host: string;
  port: number;
  /** The VTN's certificate and key, and the CA VEN certificates must chain to (loaded once by the plugin). */
  identity: { certPem: string; keyPem: string };
  ca: string;
  basePath: string;
  maxBytes: number;
}

/** Reads the CA file VEN certificates must chain to. */
export function loadCa(caFile: string): string {
  try {
    return readFileSync(caFile, 'utf8');
  } catch (e) {
    throw new GfError(Oa2Errors.GF_OA2B_TLS_CONFIG, `cannot read CA file ${caFile}: ${(e as Error).message}`, { cause: e });
  }
}

/** Loads the VTN's certificate and key once (for the TLS listener, signatures and push). */
export function loadIdentity(certFile: string, keyFile: string): SigningIdentity & { certPem: string; keyPem: string } {
  try {
    const certPem = readFileSync(certFile, 'utf8');
    const keyPem = readFileSync(keyFile, 'utf8');
    return { key: createPrivateKey(keyPem), cert: new X509Certificate(certPem), certPem, keyPem };
  } catch (e) {
    throw new GfError(Oa2Errors.GF_OA2B_TLS_CONFIG, `cannot load certificate ${certFile} and key ${keyFile}: ${(e as Error).message}`, { cause: e });
  }
}

const fingerprints = new WeakMap<object, string | null>();

/** The client certificate's OpenADR fingerprint, computed once per TLS connection. */
function peerFingerprint(socket: TLSSocket): string | undefined {
  let fp = fingerprints.get(socket);
  if (fp === undefined) {
    const cert = socket.getPeerCertificate(false);
    fp = cert && cert.raw ? certFingerprint(cert.raw) : null;
    fingerprints.set(socket, fp);
  }
  return fp ?? undefined;
}

/**
 * An HTTPS listener with mutual TLS (TLS 1.2+; clients must present a certificate from the configured
 * CA). A plain node handler rather than Koa: this is the hot path of every poll.
 */
export async function startTlsListener(vtn: Oa2Vtn, cfg: TlsListenerConfig, log: Logger): Promise<{ server: HttpsServer; port: number }> {
  const { identity: id, ca } = cfg;
  const server = createHttpsServer({ key: id.keyPem, cert: id.certPem, ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, (req, res) => {
    void serve(vtn, cfg, req, res, { fingerprint: peerFingerprint(req.socket as TLSSocket) }, log);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, () => resolve());
  });
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr ? addr.port : cfg.port };
}

async function serve(vtn: Oa2Vtn, cfg: { basePath: string; maxBytes: number }, req: IncomingMessage, res: ServerResponse, peer: Peer, log: Logger): Promise<void> {
  const send = (status: number, body: string, type = XML_TYPE): void => {
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  try {
    const path = (req.url ?? '').split('?')[0]!;
    const service = path.startsWith(`${cfg.basePath}/`) ? (path.slice(cfg.basePath.length + 1) as Service) : undefined;
    if (!service || !SERVICES.includes(service)) return send(404, 'not found', 'text/plain');
    if (req.method !== 'POST') return send(405, 'POST only', 'text/plain');
    if (!/xml/i.test(req.headers['content-type'] ?? '')) {
      req.resume();
      const r = notXml();
      return send(r.status, r.xml);
    }
    // Plain 'data' events: an async iterator costs measurably more per poll.
    const text = await new Promise<string | undefined>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > cfg.maxBytes) {
          req.removeAllListeners('data');
          req.resume();
          resolve(undefined);
        } else chunks.push(c);
      });
      req.on('end', () => resolve(size > cfg.maxBytes ? undefined : chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });
    if (text === undefined) {
      const r = { status: 413, xml: encodePayload('oadrResponse', { eiResponse: eiResponse(ResponseCode.INVALID_DATA, `the message is over ${cfg.maxBytes} bytes`, '') }) };
      res.setHeader('connection', 'close');
      return send(r.status, r.xml);
    }
    const reply = await vtn.handle(service, text, peer);
    send(reply.status, reply.xml);
  } catch (err) {
    log.error({ err }, 'OpenADR 2.0b TLS request failed');
    if (!res.headersSent) send(500, 'internal error', 'text/plain');
  }
}

export type PushClientConfig = Omit<PostOptions, 'agent'>;

/** `address` plus the service path, whether or not the VEN gave the binding's base path. */
export function serviceUrl(address: string, service: Service): string {
  const base = address.replace(/\/+$/, '');
  return /\/OpenADR2\/Simple\/2\.0b$/.test(base) ? `${base}/${service}` : `${base}/OpenADR2/Simple/2.0b/${service}`;
}

/**
 * Push delivery for VENs that registered with oadrHttpPullModel false: each pending message is POSTed
 * to the VEN's transport address and the VEN's answer (oadrCreatedEvent, oadrRegisteredReport, …) is
 * handled as if the VEN had sent it. Failures retry with backoff; the message goes back to the queue.
 */
export class Pusher {
  private readonly busy = new Set<string>();
  private readonly retryAt = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly vtn: Oa2Vtn,
    private readonly cfg: PushClientConfig,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.vtn.onPending = (venId) => this.kick(venId);
    this.timer = setInterval(() => {
      for (const v of this.vtn.allVens()) if (v.registration_id && !v.http_pull && this.vtn.hasPending(v.ven_id)) this.kick(v.ven_id);
    }, 1000);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  kick(venId: string): void {
    const v = this.vtn.venById(venId);
    if (this.stopped || !v || v.http_pull || !v.registration_id || !v.transport_address || this.busy.has(venId)) return;
    if ((this.retryAt.get(venId) ?? 0) > Date.now()) return;
    this.busy.add(venId);
    void this.drain(venId).finally(() => this.busy.delete(venId));
  }

  private async drain(venId: string): Promise<void> {
    for (let n = 0; n < 100 && !this.stopped; n++) {
      const ven = this.vtn.venById(venId);
      if (!ven?.registration_id || !ven.transport_address) return;
      const msg = await this.vtn.next(ven);
      if (!msg) return;
      const service = SERVICE_OF[msg.name] ?? 'EiEvent';
      try {
        const res = await postXml(serviceUrl(ven.transport_address, service), this.vtn.payload(msg.name, msg.body, ven), this.cfg);
        this.retryAt.delete(venId);
        if (res.body.trim()) await this.answer(res.body, ven, res.fingerprint);
      } catch (err) {
        const attempt = Math.min(10, (this.retryAt.has(venId) ? 1 : 0) + 1);
        this.retryAt.set(venId, Date.now() + 1000 * 2 ** attempt);
        if (msg.name !== 'oadrDistributeEvent') await this.vtn.enqueue(venId, msg.name, msg.body);
        else await this.vtn.forgetView(venId);
        this.log.warn({ err, venId, message: msg.name }, 'OpenADR 2.0b push failed; will retry');
        return;
      }
    }
  }

  /** The VEN's answer to a pushed message is processed like a request from it. */
  private async answer(xml: string, ven: { ven_id: string; transport_address: string | null }, fingerprint: string | undefined): Promise<void> {
    const address = ven.transport_address;
    let name: MessageName;
    try {
      name = decodePayload(xml).name;
    } catch (err) {
      this.log.warn({ err, address }, 'a VEN answered a push with an invalid payload');
      return;
    }
    if (name === 'oadrResponse') return;
    const service = SERVICE_OF[name];
    // It answers the VTN's own request to the address this VEN registered: it speaks for that VEN.
    if (service) await this.vtn.handle(service, xml, fingerprint ? { fingerprint } : { pushedTo: ven.ven_id });
  }
}

export type { Body };
