import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Router from '@koa/router';
import { Type } from 'typebox';
import { createToken } from '../di.js';
import { GfError } from '../errors.js';
import { invalidParam, validBody } from '../http/query.js';
import { definePlugin } from '../plugin/define.js';
import { StorageToken } from '../ports/storage.js';
import { SecretsToken } from '../secrets.js';
import { access, AuthErrors, AuthorizerToken, isRole, ref } from './access.js';
import { partiesCommand, tokensCommand, auditCommand } from './commands.js';
import { PartiesService } from './parties.js';

export const PartiesToken = createToken<PartiesService>('parties.service');

export const PartiesConfig = Type.Object(
  {
    tokenTtlSeconds: Type.Integer({ minimum: 60, maximum: 86400, default: 3600, description: 'Lifetime of access tokens from POST /api/auth/token (s).' }),
    sessionTtlSeconds: Type.Integer({ minimum: 300, maximum: 30 * 86400, default: 8 * 3600, description: 'Lifetime of an HMI sign-in session (s).' }),
    refreshMs: Type.Integer({ minimum: 100, maximum: 600000, default: 5000, description: 'How stale this process may see parties, sites and revocations written by another process (ms).' }),
    externalIssuer: Type.Optional(
      Type.Object(
        {
          issuer: Type.String({ minLength: 1, description: 'The OpenID Connect issuer (`iss`) whose access tokens are accepted.' }),
          jwksUrl: Type.String({ pattern: '^https?://', description: 'Its JWKS (jwks_uri of its discovery document).' }),
          audience: Type.Optional(Type.String({ minLength: 1, description: 'The `aud` its tokens must carry for gridflex.' })),
          partyClaim: Type.String({ default: 'sub', minLength: 1, description: 'The claim naming the gridflex party (which must exist here; its role is ours, not the token\'s).' }),
        },
        { additionalProperties: false, description: 'Accept access tokens of an external OpenID Connect issuer beside our own.' },
      ),
    ),
    bootstrapOperator: Type.Boolean({
      default: true,
      description: 'On a data folder with no operator, create party "operator" with a client credential written to <dataDir>/operator-credentials.json (0600).',
    }),
  },
  { additionalProperties: false },
);

export const CREDENTIALS_FILE = 'operator-credentials.json';

const object = (properties: Record<string, unknown>, required: string[] = []) => ({ type: 'object', additionalProperties: false, required, properties });
const SCHEMAS = {
  party: object({ id: { type: 'string' }, role: { type: 'string' }, name: { type: 'string' }, password: { type: 'string' } }, ['id', 'role', 'name']),
  site: object({ id: { type: 'string' }, name: { type: 'string' }, meters: { type: 'array', items: { type: 'string' } }, devices: { type: 'array', items: { type: 'string' } } }, ['id']),
  portfolio: object({ prosumer: { type: 'string' } }, ['prosumer']),
  password: object({ password: { type: 'string' } }, ['password']),
};
const body = <T>(raw: unknown, schema: Record<string, unknown>) => validBody<T>(raw, schema, AuthErrors.GF_PARTY_INVALID);

function authRouter(svc: PartiesService): Router {
  const r = new Router();
  r.post('/auth/token', access.public('OAuth2 token endpoint: client credentials authenticate the request'), async (ctx) => {
    const b = (ctx.request.body && typeof ctx.request.body === 'object' ? ctx.request.body : {}) as Record<string, unknown>;
    let id = b.client_id;
    let secret = b.client_secret;
    // RFC 6749 §2.3.1: credentials in an HTTP Basic header (form-encoded, then base64).
    const basic = /^Basic ([A-Za-z0-9+/=]+)$/.exec(ctx.get('authorization'));
    if (basic) {
      const [u, p] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':');
      try {
        id = decodeURIComponent(u ?? '');
        secret = decodeURIComponent(p ?? '');
      } catch {
        id = undefined;
      }
    }
    if (b.grant_type !== 'client_credentials') {
      throw new GfError(AuthErrors.GF_AUTH_TOKEN_REQUEST, `grant_type must be client_credentials (got ${JSON.stringify(b.grant_type ?? null)})`, { data: { error: 'unsupported_grant_type', field: 'grant_type' } });
    }
    if (typeof id !== 'string' || typeof secret !== 'string' || !id || !secret) {
      throw new GfError(AuthErrors.GF_AUTH_TOKEN_REQUEST, 'client_id and client_secret are required (form fields or HTTP Basic)', { data: { error: 'invalid_request', field: 'client_id' } });
    }
    ctx.set('Cache-Control', 'no-store');
    try {
      ctx.body = await svc.tokenForClient(id, secret, ctx.ip);
    } catch (e) {
      if ((e as GfError).code === AuthErrors.GF_AUTH_INVALID_CLIENT) ctx.set('WWW-Authenticate', 'Basic realm="gridflex"');
      if ((e as GfError).code === AuthErrors.GF_AUTH_THROTTLED) ctx.set('Retry-After', String((e as GfError).data?.retryAfterSeconds ?? 60));
      throw e;
    }
  });
  r.get('/auth/jwks', access.public('public keys that verify our access tokens'), async (ctx) => {
    ctx.body = await svc.jwks();
  });
  r.get('/auth/me', access.signedIn(), async (ctx) => {
    const p = ctx.state.caller!;
    ctx.body = { partyId: p.partyId, role: p.role, via: p.via };
  });
  return r;
}

function partiesRouter(svc: PartiesService): Router {
  const r = new Router();
  r.get('/', access.roles(['aggregator']), async (ctx) => {
    const p = ctx.state.caller!;
    const role = ctx.query.role;
    if (role !== undefined && !isRole(role)) throw invalidParam('role', 'role must be operator, dso, aggregator or prosumer');
    let list = await svc.parties(role ? { role } : {});
    if (p.role === 'aggregator') {
      const mine = new Set([p.partyId, ...(await svc.portfolio(p.partyId))]);
      list = list.filter((x) => mine.has(x.id));
    }
    ctx.body = list;
  });
  r.post('/', access.roles(['operator']), async (ctx) => {
    const b = body<{ id: string; role: string; name: string; password?: string }>(ctx.request.body, SCHEMAS.party);
    ctx.status = 201;
    ctx.body = await svc.addParty(b);
  });
  r.get('/:id', access.roles(['dso', 'aggregator', 'prosumer'], { owns: (ctx) => ref.party(ctx.params.id), owner: 'itself, or an aggregator its portfolio' }), async (ctx) => {
    ctx.body = await svc.party(ctx.params.id!);
  });
  r.post('/:id/disable', access.roles(['operator']), async (ctx) => {
    ctx.body = await svc.disable(ctx.params.id!);
  });
  r.post('/:id/password', access.roles(['dso', 'aggregator', 'prosumer'], { owns: (ctx) => (ctx.state.caller?.role === 'aggregator' ? undefined : ref.party(ctx.params.id)), owner: 'itself' }), async (ctx) => {
    const p = await ctx.state.auth!.principal();
    if (p && p.role !== 'operator' && p.partyId !== ctx.params.id) throw new GfError(AuthErrors.GF_AUTH_NOT_FOUND, `no party '${ctx.params.id}' whose password you may set`);
    const b = body<{ password: string }>(ctx.request.body, SCHEMAS.password);
    await svc.setPassword(ctx.params.id!, b.password);
    ctx.status = 204;
  });
  r.post('/:id/clients', access.roles(['operator']), async (ctx) => {
    ctx.status = 201;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await svc.addClient(ctx.params.id!);
  });
  r.get('/:id/sites', access.roles(['aggregator', 'prosumer'], { owns: (ctx) => ref.party(ctx.params.id), owner: 'itself, or an aggregator its portfolio' }), async (ctx) => {
    ctx.body = await svc.sites(ctx.params.id!);
  });
  r.post('/:id/sites', access.roles(['operator']), async (ctx) => {
    const b = body<{ id: string; name?: string; meters?: string[]; devices?: string[] }>(ctx.request.body, SCHEMAS.site);
    ctx.status = 201;
    ctx.body = await svc.addSite(ctx.params.id!, b);
  });
  r.get('/:id/portfolio', access.roles(['aggregator'], { owns: (ctx) => ref.party(ctx.params.id), owner: 'its own portfolio' }), async (ctx) => {
    ctx.body = { aggregator: ctx.params.id, prosumers: await svc.portfolio(ctx.params.id!) };
  });
  r.post('/:id/portfolio', access.roles(['operator']), async (ctx) => {
    const b = body<{ prosumer: string }>(ctx.request.body, SCHEMAS.portfolio);
    await svc.enrol(ctx.params.id!, b.prosumer);
    ctx.body = { aggregator: ctx.params.id, prosumers: await svc.portfolio(ctx.params.id!) };
  });
  r.delete('/:id/portfolio/:prosumer', access.roles(['operator']), async (ctx) => {
    await svc.unenrol(ctx.params.id!, ctx.params.prosumer!);
    ctx.status = 204;
  });
  return r;
}

function auditRouter(svc: PartiesService): Router {
  const r = new Router();
  r.get('/', access.roles(['operator']), async (ctx) => {
    const q = ctx.query;
    const num = (k: string, max: number) => {
      const v = q[k];
      if (v === undefined) return undefined;
      if (typeof v !== 'string' || !/^\d{1,15}$/.test(v) || Number(v) > max) throw invalidParam(k, `${k} must be a whole number up to ${max}`);
      return Number(v);
    };
    const party = q.party;
    if (party !== undefined && typeof party !== 'string') throw invalidParam('party', 'party given twice');
    const afterId = num('afterId', Number.MAX_SAFE_INTEGER);
    const limit = num('limit', 10_000);
    ctx.body = await svc.audit({ ...(party ? { partyId: party } : {}), ...(afterId !== undefined ? { afterId } : {}), ...(limit !== undefined ? { limit } : {}) });
  });
  return r;
}

/**
 * Kernel plugin `parties`: parties, sites and portfolios, the platform's token endpoint, HMI sessions, the audit
 * trail, and the {@link AuthorizerToken} every route's access rule asks. Always loaded.
 */
export const partiesPlugin = definePlugin({
  manifest: { id: 'parties', version: '0.2.0', kernel: '^0.2.0', description: 'Parties, roles, credentials and access rules for every route; audit trail' },
  config: PartiesConfig,
  deps: { storage: StorageToken, secrets: SecretsToken },
  provides: { parties: PartiesToken, authorizer: AuthorizerToken },
  commands: { parties: partiesCommand, tokens: tokensCommand, audit: auditCommand },
  async start(ctx) {
    const svc = new PartiesService(ctx.deps.storage, ctx.config, ctx.deps.secrets);
    await svc.init();
    if (ctx.config.bootstrapOperator && (await svc.parties({ role: 'operator' })).length === 0) {
      const op = (await svc.parties()).find((p) => p.id === 'operator') ?? (await svc.addParty({ id: 'operator', role: 'operator', name: 'Operator' }));
      const cred = await svc.addClient(op.id, { clientId: 'operator' });
      const file = path.join(ctx.kernel.dataDir, CREDENTIALS_FILE);
      if (!existsSync(file)) {
        writeFileSync(file, `${JSON.stringify({ ...cred, tokenEndpoint: '/api/auth/token', grantType: 'client_credentials' }, null, 2)}\n`, { mode: 0o600 });
        chmodSync(file, 0o600);
      }
      ctx.log.info({ file }, `first start: the operator's client credential is in ${file} (mode 0600); exchange it at POST /api/auth/token, then delete the file`);
    }
    ctx.mount('/api', authRouter(svc));
    ctx.mount('/api/parties', partiesRouter(svc));
    ctx.mount('/api/audit', auditRouter(svc));
    return { parties: svc, authorizer: svc };
  },
});

export default partiesPlugin;
