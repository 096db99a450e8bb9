import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the VEN under test made, and what the runner's VTN answered. */
export interface Seen {
  at: number;
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  raw: string;
  json: unknown;
  status: number;
  answer: unknown;
}

/** A call the runner's VTN made to the VEN (echo challenge, notification). */
export interface Outbound {
  kind: 'challenge' | 'notification';
  url: string;
  status?: number;
  body?: string;
  error?: string;
  echo?: string;
}

type Obj = Record<string, any>;

/**
 * The runner playing an OpenADR 3.1.0 VTN for the VEN under test: just enough of the API, in memory,
 * written from the Definition (tokens, ven and resource objects with the clientID of the token, targets
 * granted by "BL" on creation, programs and events with targeting, subscriptions with the echo
 * challenge, reports). Every request is recorded for the cases; nothing here is gridflex's VTN.
 */
export class PlayedVtn {
  readonly seen: Seen[] = [];
  readonly outbound: Outbound[] = [];
  readonly tokens = new Map<string, { expiresAt: number; revoked: boolean }>();
  readonly objects: Record<'programs' | 'events' | 'vens' | 'resources' | 'reports' | 'subscriptions', Obj[]> = { programs: [], events: [], vens: [], resources: [], reports: [], subscriptions: [] };
  /** The target "BL" grants to the VEN's ven, and the event targeted at it (made once the ven exists). */
  readonly target: string;
  event: Obj | undefined;
  /** Answer the first GET /events after registration with 401 (a revoked token), once. */
  revokeOnce = true;
  revokedToken: string | undefined;
  private server!: http.Server;
  base = '';

  constructor(
    readonly client: { clientId: string; clientSecret: string },
    readonly prefix: string,
    readonly tokenTtlS: number,
    readonly basePath = '/openadr3/3.1.0',
  ) {
    this.target = `${prefix}-group`;
    const now = new Date().toISOString();
    this.objects.programs.push({ id: `${prefix}-program`, createdDateTime: now, modificationDateTime: now, objectType: 'PROGRAM', programName: `${prefix}-program`, targets: null });
  }

  async start(host: string, port: number): Promise<void> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve());
    });
    const a = this.server.address() as AddressInfo;
    this.base = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}${this.basePath}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** API requests (everything but /auth/...). */
  api(): Seen[] {
    return this.seen.filter((s) => !s.path.startsWith('/auth/'));
  }

  private stamp(o: Obj, objectType: string): Obj {
    const now = new Date().toISOString();
    return { id: randomBytes(9).toString('base64url').replace(/[^A-Za-z0-9_-]/g, 'x'), createdDateTime: now, modificationDateTime: now, objectType, ...o };
  }

  /** Creates the event the VEN should find: targeted at the granted target, starting in a second, two seconds long. */
  makeEvent(): Obj {
    const start = new Date(Date.now() + 1000).toISOString();
    this.event = this.stamp(
      {
        programID: this.objects.programs[0]!.id,
        eventName: `${this.prefix}-event`,
        targets: [this.target],
        intervalPeriod: { start, duration: 'PT2S' },
        intervals: [{ id: 0, payloads: [{ type: 'SIMPLE', values: [1] }] }],
      },
      'EVENT',
    );
    this.objects.events.push(this.event);
    void this.notify('EVENT', 'CREATE', this.event);
    return this.event;
  }

  private async notify(objectType: string, operation: string, object: Obj): Promise<void> {
    for (const s of this.objects.subscriptions) {
      for (const oo of s.objectOperations ?? []) {
        if (!(oo.objects ?? []).includes(objectType) || !(oo.operations ?? []).includes(operation)) continue;
        const out: Outbound = { kind: 'notification', url: oo.callbackUrl };
        this.outbound.push(out);
        try {
          const r = await fetch(oo.callbackUrl, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...(oo.bearerToken ? { authorization: `Bearer ${oo.bearerToken}` } : {}) },
            body: JSON.stringify({ objectType, operation, object }),
            redirect: 'manual',
            signal: AbortSignal.timeout(5000),
          });
          out.status = r.status;
          out.body = await r.text();
        } catch (e) {
          out.error = (e as Error).message;
        }
      }
    }
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const u = new URL(req.url ?? '/', 'http://vtn');
    const path = u.pathname.startsWith(this.basePath) ? u.pathname.slice(this.basePath.length) || '/' : u.pathname;
    let json: unknown;
    if (/json/.test(req.headers['content-type'] ?? '') && raw) {
      try {
        json = JSON.parse(raw);
      } catch {
        json = undefined;
      }
    }
    const seen: Seen = { at: Date.now(), method: req.method ?? 'GET', path, query: u.searchParams, headers: req.headers, raw, json, status: 0, answer: undefined };
    this.seen.push(seen);
    const send = (status: number, body: unknown) => {
      seen.status = status;
      seen.answer = body;
      const problem = status >= 400;
      res.writeHead(status, { 'content-type': problem ? 'application/problem+json' : 'application/json', ...(status === 401 ? { 'www-authenticate': 'Bearer' } : {}) });
      res.end(JSON.stringify(body));
    };
    const problem = (status: number, detail: string) => send(status, { type: 'about:blank', title: http.STATUS_CODES[status], status, detail });
    if (!u.pathname.startsWith(this.basePath)) return problem(404, `this VTN serves ${this.basePath}`);
    try {
      await this.route(seen, raw, json, send, problem);
    } catch (e) {
      problem(500, (e as Error).message);
    }
  }

  private async route(s: Seen, raw: string, json: any, send: (status: number, body: unknown) => void, problem: (status: number, detail: string) => void): Promise<void> {
    const m = s.method;
    if (s.path === '/auth/server' && m === 'GET') return send(200, { tokenURL: `${this.base}/auth/token` });
    if (s.path === '/auth/token' && m === 'POST') {
      const form = new URLSearchParams(/x-www-form-urlencoded/.test(s.headers['content-type'] ?? '') ? raw : '');
      let id = form.get('client_id');
      let secret = form.get('client_secret');
      const basic = /^Basic\s+(.+)$/i.exec(s.headers.authorization ?? '');
      if (basic) {
        const [a, b] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':');
        id = a ?? null;
        secret = b ?? null;
      }
      if (form.get('grant_type') !== 'client_credentials') return send(400, { type: 'about:blank', status: 400, title: 'Bad Request', error: 'unsupported_grant_type' });
      if (id !== this.client.clientId || secret !== this.client.clientSecret) return send(401, { type: 'about:blank', status: 401, title: 'Unauthorized', error: 'invalid_client' });
      const token = randomBytes(24).toString('base64url');
      this.tokens.set(token, { expiresAt: Date.now() + this.tokenTtlS * 1000, revoked: false });
      return send(200, { access_token: token, token_type: 'Bearer', expires_in: this.tokenTtlS });
    }
    const bearer = /^Bearer\s+(\S+)$/i.exec(s.headers.authorization ?? '')?.[1];
    const t = bearer ? this.tokens.get(bearer) : undefined;
    if (!t || t.revoked || t.expiresAt < Date.now()) return problem(401, !bearer ? 'a bearer token is required' : 'the token is unknown, revoked or expired');
    const clientID = this.client.clientId;
    const page = (xs: Obj[]) => {
      const skip = Number(s.query.get('skip') ?? 0);
      const limit = Math.min(Number(s.query.get('limit') ?? 50), 50);
      return xs.slice(skip, skip + limit);
    };
    const [, coll, id] = /^\/([a-z]+)(?:\/([^/]+))?$/.exec(s.path) ?? [];
    if (s.path === '/notifiers' && m === 'GET') return send(200, { WEBHOOK: true });
    switch (coll) {
      case 'programs':
        if (m !== 'GET') return problem(403, 'only BL writes programs');
        return id ? send(200, this.objects.programs[0]) : send(200, page(this.objects.programs));
      case 'events': {
        if (m !== 'GET') return problem(403, 'only BL writes events');
        if (this.revokeOnce && this.objects.vens.length > 0 && bearer) {
          this.revokeOnce = false;
          this.revokedToken = bearer;
          t.revoked = true;
          return problem(401, 'the token was revoked');
        }
        const requested = s.query.getAll('targets').flatMap((x) => x.split(','));
        const visible = this.objects.events.filter((e) => !e.targets?.length || e.targets.some((x: string) => requested.includes(x)));
        if (id) {
          const e = visible.find((x) => x.id === id);
          return e ? send(200, e) : problem(404, 'no such event');
        }
        return send(200, page(visible.filter((e) => !s.query.get('programID') || e.programID === s.query.get('programID'))));
      }
      case 'vens':
      case 'resources':
      case 'reports':
      case 'subscriptions': {
        const list = this.objects[coll];
        if (m === 'GET' && !id) {
          const filters: [string, string][] = [
            ['venName', 'venName'],
            ['resourceName', 'resourceName'],
            ['venID', 'venID'],
          ];
          return send(200, page(list.filter((o) => filters.every(([q, f]) => !s.query.get(q) || o[f] === s.query.get(q)))));
        }
        if (m === 'POST' && !id) {
          if (json === undefined || typeof json !== 'object') return problem(400, 'a JSON body is required');
          const type = coll === 'vens' ? 'VEN' : coll === 'resources' ? 'RESOURCE' : coll === 'reports' ? 'REPORT' : 'SUBSCRIPTION';
          const { id: _i, createdDateTime: _c, modificationDateTime: _m, objectType: _o, ...rest } = json;
          if (coll === 'vens' && list.some((v) => v.venName === rest.venName)) return problem(409, 'venName taken');
          if (coll === 'subscriptions') {
            for (const oo of rest.objectOperations ?? []) {
              const echo = randomBytes(18).toString('base64url');
              const out: Outbound = { kind: 'challenge', url: String(oo.callbackUrl), echo };
              this.outbound.push(out);
              try {
                const url = new URL(String(oo.callbackUrl));
                url.searchParams.set('echo', echo);
                const r = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(5000), headers: oo.bearerToken ? { authorization: `Bearer ${oo.bearerToken}` } : {} });
                out.status = r.status;
                out.body = await r.text();
              } catch (e) {
                out.error = (e as Error).message;
              }
              if (out.status !== 200 || out.body?.trim() !== echo) return problem(400, 'the callback failed the echo challenge');
            }
          }
          // "BL" grants the run's target to the VEN's ven as it is created.
          const obj = this.stamp({ ...rest, clientID, ...(coll === 'vens' ? { targets: [this.target] } : coll === 'resources' ? { targets: null } : {}) }, type);
          list.push(obj);
          if (coll === 'vens' && !this.event) setTimeout(() => this.makeEvent(), 200);
          return send(201, obj);
        }
        const i = list.findIndex((o) => o.id === id);
        if (i < 0) return problem(404, `no ${coll.slice(0, -1)} ${id}`);
        if (m === 'GET') return send(200, list[i]);
        if (m === 'PUT') {
          const { id: _i, createdDateTime: _c, modificationDateTime: _m, objectType: _o, ...rest } = json ?? {};
          list[i] = { ...list[i], ...rest, modificationDateTime: new Date().toISOString(), clientID, ...(coll === 'vens' ? { targets: list[i]!.targets } : {}) };
          return send(200, list[i]);
        }
        if (m === 'DELETE') {
          const [gone] = list.splice(i, 1);
          return send(200, gone);
        }
        return problem(405, 'method not allowed');
      }
      default:
        return problem(404, `no ${s.path}`);
    }
  }
}
