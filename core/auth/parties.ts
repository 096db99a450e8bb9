import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { createRemoteJWKSet, decodeJwt, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK, type JWTPayload } from 'jose';
import type { Context } from 'koa';
import { GfError } from '../errors.js';
import type { Migration, SqlClient, Storage } from '../ports/storage.js';
import { SecretBox } from '../secrets.js';
import { AuthErrors, isRole, type Authorizer, type ObjectKind, type ObjectRef, type Principal, type Role } from './access.js';

const scrypt = promisify(scryptCb) as (pw: string | Buffer, salt: Buffer, len: number, opts: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;

/** A party (domain.md): an organisation or person that acts. */
export interface Party {
  id: string;
  role: Role;
  name: string;
  disabled: boolean;
  createdAt: string;
}

/** A prosumer's connection point with the meters and devices measured and controlled there. */
export interface Site {
  id: string;
  partyId: string;
  name: string;
  meters: string[];
  devices: string[];
}

export interface AuditEntry {
  id: number;
  at: string;
  partyId: string | null;
  role: string | null;
  method: string;
  route: string;
  path: string;
  status: number;
  requestId: string;
}

export const partiesMigrations: readonly Migration[] = [
  {
    version: 1,
    name: 'parties, sites, portfolios, clients, keys, sessions, audit',
    up: `
      CREATE TABLE parties (
        id text PRIMARY KEY,
        role text NOT NULL CHECK (role IN ('operator', 'dso', 'aggregator', 'prosumer')),
        name text NOT NULL,
        password_hash text,
        disabled_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE parties_sites (
        id text PRIMARY KEY,
        party_id text NOT NULL REFERENCES parties(id),
        name text NOT NULL
      );
      CREATE TABLE parties_site_objects (
        kind text NOT NULL CHECK (kind IN ('meter', 'device')),
        object_id text NOT NULL,
        site_id text NOT NULL REFERENCES parties_sites(id),
        PRIMARY KEY (kind, object_id)
      );
      CREATE TABLE parties_portfolio (
        aggregator_id text NOT NULL REFERENCES parties(id),
        prosumer_id text NOT NULL REFERENCES parties(id),
        since timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (aggregator_id, prosumer_id)
      );
      CREATE TABLE parties_clients (
        client_id text PRIMARY KEY,
        party_id text NOT NULL REFERENCES parties(id),
        secret_hash text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE parties_keys (
        kid text PRIMARY KEY,
        private_jwk text NOT NULL,
        public_jwk jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE parties_revoked (
        jti text PRIMARY KEY,
        expires_at timestamptz NOT NULL
      );
      CREATE TABLE parties_sessions (
        id_hash text PRIMARY KEY,
        party_id text NOT NULL REFERENCES parties(id),
        csrf text NOT NULL,
        expires_at timestamptz NOT NULL
      );
      CREATE TABLE parties_audit (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        party_id text,
        role text,
        method text NOT NULL,
        route text NOT NULL,
        path text NOT NULL,
        status integer NOT NULL,
        request_id text NOT NULL
      );
      CREATE INDEX parties_audit_party ON parties_audit (party_id, id);
    `,
  },
];

const ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const ISSUER = 'gridflex';
const AUDIENCE = 'gridflex-api';
/** scrypt cost (N = 2^15, r = 8: ~30 ms and 32 MiB per hash here; OWASP's minimum is N = 2^17 with r = 8, p = 1 or N = 2^15 with p = 3). */
const SCRYPT = { N: 2 ** 15, r: 8, p: 3, maxmem: 64 * 1024 * 1024 };

function invalid(field: string, message: string): GfError {
  return new GfError(AuthErrors.GF_PARTY_INVALID, message, { data: { field } });
}

function checkId(v: unknown, field: string): string {
  if (typeof v !== 'string' || !ID.test(v)) throw invalid(field, `${field} must be 1 to 128 letters, digits or _ . : - (starting with a letter or digit)`);
  return v;
}

export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const h = await scrypt(secret, salt, 32, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64url')}$${h.toString('base64url')}`;
}

const DUMMY_HASH = `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`;

export async function secretMatches(secret: string, stored: string | null | undefined): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = (stored ?? DUMMY_HASH).split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const want = Buffer.from(hash, 'base64url');
  const got = await scrypt(secret, Buffer.from(salt, 'base64url'), want.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: SCRYPT.maxmem });
  return stored !== undefined && stored !== null && timingSafeEqual(want, got);
}

type JoseKey = Awaited<ReturnType<typeof importJWK>>;
const keyLabel = (kid: string) => `parties/parties_keys/${kid}`;

const sha256 = (s: string) => createHash('sha256').update(s).digest('base64url');

interface Snapshot {
  at: number;
  parties: Map<string, Party>;
  /** kind:id → owning party */
  owner: Map<string, string>;
  /** party → kind → ids */
  owned: Map<string, Map<ObjectKind, Set<string>>>;
  portfolio: Map<string, Set<string>>;
  revoked: Set<string>;
}

export interface PartiesOptions {
  tokenTtlSeconds: number;
  sessionTtlSeconds: number;
  /** How stale the in-memory view of ownership may get when another process writes (PostgreSQL). */
  refreshMs: number;
  /** An external OpenID Connect issuer whose access tokens name our parties. */
  externalIssuer?: { issuer: string; jwksUrl: string; audience?: string; partyClaim: string } | undefined;
}

/** One login throttle per (name, address): 5 failures in 15 minutes lock that pair for 15 minutes. */
class Throttle {
  private readonly failures = new Map<string, number[]>();
  constructor(
    private readonly max = 5,
    private readonly windowMs = 15 * 60_000,
  ) {}
  check(key: string): void {
    const now = Date.now();
    const list = (this.failures.get(key) ?? []).filter((t) => now - t < this.windowMs);
    this.failures.set(key, list);
    if (list.length >= this.max) {
      const retry = Math.ceil((list[0]! + this.windowMs - now) / 1000);
      throw new GfError(AuthErrors.GF_AUTH_THROTTLED, `too many failed attempts; try again in ${retry} s`, { data: { retryAfterSeconds: retry } });
    }
  }
  fail(key: string): void {
    this.failures.set(key, [...(this.failures.get(key) ?? []), Date.now()]);
    if (this.failures.size > 10_000) this.failures.delete(this.failures.keys().next().value!);
  }
  clear(key: string): void {
    this.failures.delete(key);
  }
}

/**
 * Parties, their sites and portfolios, their credentials (client secrets, passwords, HMI sessions), the platform's
 * access tokens (EdDSA JWTs) and the audit trail; and the {@link Authorizer} the kernel asks on every request.
 */
export class PartiesService implements Authorizer {
  private snap: Snapshot | undefined;
  private loading: Promise<Snapshot> | undefined;
  private signKey: JoseKey | undefined;
  private verifyKeys = new Map<string, JoseKey>();
  private kid = '';
  /** Verified tokens (by their text), so a request pays a map lookup, not a signature check. */
  private readonly verified = new Map<string, { p: Principal; expMs: number }>();
  readonly throttle = new Throttle();
  private readonly externalKeys: ReturnType<typeof createRemoteJWKSet> | undefined;

  constructor(
    private readonly storage: Storage,
    private readonly opts: PartiesOptions,
    /** Seals the token-signing private key at rest (the platform's key-encryption key). */
    private readonly secrets: SecretBox,
  ) {
    const x = opts.externalIssuer;
    this.externalKeys = x ? createRemoteJWKSet(new URL(x.jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30_000 }) : undefined;
  }

  async init(): Promise<void> {
    await this.storage.migrate('parties', partiesMigrations);
    const have = await this.storage.query<{ n: number }>('SELECT count(*)::int AS n FROM parties_keys');
    if (have.rows[0]!.n === 0) {
      const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
      const kid = `k-${randomBytes(6).toString('base64url')}`;
      await this.storage.query('INSERT INTO parties_keys (kid, private_jwk, public_jwk) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [
        kid,
        this.secrets.seal(JSON.stringify(await exportJWK(privateKey)), keyLabel(kid)),
        JSON.stringify(await exportJWK(publicKey)),
      ]);
    }
    const keys = await this.storage.query<{ kid: string; private_jwk: string; public_jwk: JWK }>('SELECT kid, private_jwk, public_jwk FROM parties_keys ORDER BY created_at DESC, kid');
    for (const k of keys.rows) this.verifyKeys.set(k.kid, await importJWK({ ...k.public_jwk, alg: 'EdDSA' }, 'EdDSA'));
    const newest = keys.rows[0]!;
    this.kid = newest.kid;
    let jwk = newest.private_jwk;
    if (SecretBox.isSealed(jwk)) jwk = this.secrets.openText(jwk, keyLabel(newest.kid));
    else await this.storage.query('UPDATE parties_keys SET private_jwk = $2 WHERE kid = $1', [newest.kid, this.secrets.seal(jwk, keyLabel(newest.kid))]); // a key stored before sealing
    this.signKey = await importJWK({ ...(JSON.parse(jwk) as JWK), alg: 'EdDSA' }, 'EdDSA');
    await this.refresh();
  }

  /** The public keys tokens are signed with (a JWKS), so other services can verify our tokens. */
  async jwks(): Promise<{ keys: JWK[] }> {
    const r = await this.storage.query<{ kid: string; public_jwk: JWK }>('SELECT kid, public_jwk FROM parties_keys ORDER BY created_at DESC');
    return { keys: r.rows.map((k) => ({ ...k.public_jwk, kid: k.kid, alg: 'EdDSA', use: 'sig' })) };
  }

  // ---- the in-memory view ----

  private async refresh(): Promise<Snapshot> {
    this.loading ??= (async () => {
      try {
        const [parties, objects, portfolio, revoked] = await Promise.all([
          this.storage.query<{ id: string; role: Role; name: string; disabled_at: Date | null; created_at: Date }>('SELECT id, role, name, disabled_at, created_at FROM parties'),
          this.storage.query<{ kind: 'meter' | 'device'; object_id: string; site_id: string; party_id: string }>(
            'SELECT o.kind, o.object_id, o.site_id, s.party_id FROM parties_site_objects o JOIN parties_sites s ON s.id = o.site_id',
          ),
          this.storage.query<{ aggregator_id: string; prosumer_id: string }>('SELECT aggregator_id, prosumer_id FROM parties_portfolio'),
          this.storage.query<{ jti: string }>('SELECT jti FROM parties_revoked WHERE expires_at > now()'),
        ]);
        const sites = await this.storage.query<{ id: string; party_id: string }>('SELECT id, party_id FROM parties_sites');
        const s: Snapshot = { at: Date.now(), parties: new Map(), owner: new Map(), owned: new Map(), portfolio: new Map(), revoked: new Set(revoked.rows.map((r) => r.jti)) };
        for (const p of parties.rows) s.parties.set(p.id, { id: p.id, role: p.role, name: p.name, disabled: p.disabled_at !== null, createdAt: new Date(p.created_at).toISOString() });
        const own = (party: string, kind: ObjectKind, id: string) => {
          s.owner.set(`${kind}:${id}`, party);
          let byKind = s.owned.get(party);
          if (!byKind) s.owned.set(party, (byKind = new Map()));
          let set = byKind.get(kind);
          if (!set) byKind.set(kind, (set = new Set()));
          set.add(id);
        };
        for (const p of parties.rows) own(p.id, 'party', p.id);
        for (const x of sites.rows) own(x.party_id, 'site', x.id);
        for (const o of objects.rows) own(o.party_id, o.kind, o.object_id);
        for (const r of portfolio.rows) {
          let set = s.portfolio.get(r.aggregator_id);
          if (!set) s.portfolio.set(r.aggregator_id, (set = new Set()));
          set.add(r.prosumer_id);
        }
        this.snap = s;
        return s;
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }

  /** The current view without waiting when it is fresh (the per-request path), else after a reload. */
  private fresh(): Snapshot | undefined {
    const s = this.snap;
    return s && Date.now() - s.at < this.opts.refreshMs ? s : undefined;
  }

  private async view(): Promise<Snapshot> {
    return this.fresh() ?? this.refresh();
  }

  /** After a write: the view is rebuilt and every cached token re-checked. */
  private async changed(): Promise<void> {
    this.verified.clear();
    await this.refresh();
  }

  // ---- Authorizer ----

  async authenticate(ctx: Context): Promise<Principal | undefined> {
    const header = ctx.get('authorization');
    if (header) {
      const m = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(header);
      if (!m) {
        ctx.set('WWW-Authenticate', 'Bearer realm="gridflex", error="invalid_request"');
        throw new GfError(AuthErrors.GF_AUTH_INVALID_TOKEN, 'the Authorization header must be "Bearer <token>"');
      }
      return this.verifyBearer(m[1]!, ctx);
    }
    const cookie = /(?:^|;\s*)gf_session=([A-Za-z0-9_-]{20,100})/.exec(ctx.get('cookie'));
    if (cookie) return this.verifySession(cookie[1]!, ctx);
    return undefined;
  }

  private async verifyBearer(tokenText: string, ctx: Context): Promise<Principal> {
    const hit = this.verified.get(tokenText);
    if (hit && hit.expMs > Date.now()) {
      const s = this.fresh() ?? (await this.refresh());
      if (!s.revoked.has(hit.p.credentialId) && s.parties.get(hit.p.partyId)?.disabled === false) return hit.p;
    }
    let payload: JWTPayload;
    let partyId: unknown;
    const ext = this.opts.externalIssuer;
    let external = false;
    try {
      external = ext !== undefined && decodeJwt(tokenText).iss === ext.issuer;
    } catch {
      /* not a JWT: refused below */
    }
    try {
      if (external) {
        ({ payload } = await jwtVerify(tokenText, this.externalKeys!, {
          issuer: ext!.issuer,
          ...(ext!.audience ? { audience: ext!.audience } : {}),
          algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'],
        }));
        partyId = payload[ext!.partyClaim];
      } else {
        ({ payload } = await jwtVerify(tokenText, async (h) => {
          const k = h.kid ? this.verifyKeys.get(h.kid) : undefined;
          if (!k) throw new Error(`unknown key id ${String(h.kid)}`);
          return k;
        }, { issuer: ISSUER, audience: AUDIENCE, algorithms: ['EdDSA'] }));
        partyId = payload.sub;
      }
    } catch (e) {
      const expired = (e as { code?: string }).code === 'ERR_JWT_EXPIRED';
      ctx.set('WWW-Authenticate', `Bearer realm="gridflex", error="invalid_token", error_description="${expired ? 'expired' : 'invalid'}"`);
      throw new GfError(AuthErrors.GF_AUTH_INVALID_TOKEN, expired ? 'the access token has expired' : 'the access token is invalid', { cause: e });
    }
    const s = await this.view();
    const party = typeof partyId === 'string' ? s.parties.get(partyId) : undefined;
    // An external token names a party of ours; its role is ours. Our own tokens also state the role they were issued for.
    const jti = typeof payload.jti === 'string' ? payload.jti : external ? `ext:${sha256(tokenText).slice(0, 16)}` : '';
    if (!party || party.disabled || !jti || s.revoked.has(jti) || (!external && party.role !== payload.role)) {
      ctx.set('WWW-Authenticate', 'Bearer realm="gridflex", error="invalid_token", error_description="revoked"');
      throw new GfError(AuthErrors.GF_AUTH_INVALID_TOKEN, 'the access token was revoked or its party disabled');
    }
    const p: Principal = { partyId: party.id, role: party.role, via: 'token', credentialId: jti };
    if (this.verified.size > 10_000) this.verified.clear();
    this.verified.set(tokenText, { p, expMs: (payload.exp ?? 0) * 1000 });
    return p;
  }

  private async verifySession(id: string, ctx: Context): Promise<Principal | undefined> {
    const r = await this.storage.query<{ party_id: string; csrf: string }>('SELECT party_id, csrf FROM parties_sessions WHERE id_hash = $1 AND expires_at > now()', [sha256(id)]);
    const row = r.rows[0];
    const party = row ? (await this.view()).parties.get(row.party_id) : undefined;
    if (!row || !party || party.disabled) return undefined; // an expired session is no session: the HMI asks to sign in
    if (!['GET', 'HEAD', 'OPTIONS'].includes(ctx.method)) {
      // Forms carry the session's CSRF token (synchroniser token), scripts send it as a header.
      const body = ctx.request.body as Record<string, unknown> | undefined;
      const given = ctx.get('x-csrf-token') || (body && typeof body === 'object' && typeof body.csrf === 'string' ? body.csrf : '');
      const a = Buffer.from(given);
      const b = Buffer.from(row.csrf);
      if (a.length !== b.length || !timingSafeEqual(a, b)) throw new GfError(AuthErrors.GF_AUTH_CSRF, `${ctx.method} with a session cookie needs the session's CSRF token (form field csrf or X-CSRF-Token)`);
    }
    return { partyId: party.id, role: party.role, via: 'session', credentialId: `session:${sha256(id).slice(0, 12)}` };
  }

  async may(p: Principal, o: ObjectRef): Promise<boolean> {
    if (p.role === 'operator') return true;
    const s = this.fresh() ?? (await this.refresh());
    const owner = s.owner.get(`${o.kind}:${o.id}`);
    if (owner === undefined) return false;
    if (owner === p.partyId) return true;
    if (p.role === 'aggregator') return s.portfolio.get(p.partyId)?.has(owner) ?? false;
    return false;
  }

  async visible(p: Principal, kind: ObjectKind): Promise<ReadonlySet<string> | 'all'> {
    if (p.role === 'operator') return 'all';
    const s = await this.view();
    const out = new Set(s.owned.get(p.partyId)?.get(kind) ?? []);
    if (p.role === 'aggregator') for (const pr of s.portfolio.get(p.partyId) ?? []) for (const id of s.owned.get(pr)?.get(kind) ?? []) out.add(id);
    return out;
  }

  // ---- parties ----

  async addParty(input: { id: unknown; role: unknown; name: unknown; password?: unknown }): Promise<Party> {
    const id = checkId(input.id, 'id');
    if (!isRole(input.role)) throw invalid('role', 'role must be operator, dso, aggregator or prosumer');
    if (typeof input.name !== 'string' || input.name.length < 1 || input.name.length > 200) throw invalid('name', 'name must be 1 to 200 characters');
    const pw = input.password === undefined ? null : await this.passwordHash(input.password);
    const r = await this.storage.query('INSERT INTO parties (id, role, name, password_hash) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING', [id, input.role, input.name, pw]);
    if (r.rowCount === 0) throw new GfError(AuthErrors.GF_PARTY_CONFLICT, `party '${id}' exists`, { data: { id } });
    await this.changed();
    return this.party(id);
  }

  private async passwordHash(pw: unknown): Promise<string> {
    if (typeof pw !== 'string' || pw.length < 10 || pw.length > 200) throw invalid('password', 'password must be 10 to 200 characters');
    return hashSecret(pw);
  }

  async setPassword(id: string, password: unknown): Promise<void> {
    const h = await this.passwordHash(password);
    const r = await this.storage.query('UPDATE parties SET password_hash = $2 WHERE id = $1', [id, h]);
    if (r.rowCount === 0) throw new GfError(AuthErrors.GF_PARTY_UNKNOWN, `no party '${id}'`, { data: { id } });
    await this.storage.query('DELETE FROM parties_sessions WHERE party_id = $1', [id]);
  }

  async party(id: string): Promise<Party> {
    const p = (await this.view()).parties.get(id) ?? (await this.refresh()).parties.get(id);
    if (!p) throw new GfError(AuthErrors.GF_PARTY_UNKNOWN, `no party '${id}'`, { data: { id } });
    return p;
  }

  async parties(filter: { role?: Role } = {}): Promise<Party[]> {
    const all = [...(await this.refresh()).parties.values()];
    return all.filter((p) => !filter.role || p.role === filter.role).sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Disables a party: its tokens, clients and sessions stop working at once (in this process; within `refreshMs` in others). */
  async disable(id: string): Promise<Party> {
    await this.party(id);
    await this.storage.transaction(async (tx) => {
      await tx.query('UPDATE parties SET disabled_at = coalesce(disabled_at, now()) WHERE id = $1', [id]);
      await tx.query('DELETE FROM parties_sessions WHERE party_id = $1', [id]);
    });
    await this.changed();
    return this.party(id);
  }

  async addSite(partyId: string, input: { id: unknown; name?: unknown; meters?: unknown; devices?: unknown }): Promise<Site> {
    const party = await this.party(partyId);
    if (party.role !== 'prosumer') throw invalid('partyId', `sites belong to prosumers; '${partyId}' is ${party.role}`);
    const id = checkId(input.id, 'id');
    const list = (v: unknown, field: string): string[] => {
      if (v === undefined) return [];
      if (!Array.isArray(v) || v.length > 1000) throw invalid(field, `${field} must be a list of ids`);
      return v.map((x, i) => checkId(x, `${field}/${i}`));
    };
    const meters = list(input.meters, 'meters');
    const devices = list(input.devices, 'devices');
    const name = typeof input.name === 'string' && input.name.length <= 200 ? input.name : id;
    await this.storage.transaction(async (tx) => {
      const r = await tx.query('INSERT INTO parties_sites (id, party_id, name) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING', [id, partyId, name]);
      if (r.rowCount === 0) throw new GfError(AuthErrors.GF_PARTY_CONFLICT, `site '${id}' exists`, { data: { id } });
      await this.attach(tx, id, meters, devices);
    });
    await this.changed();
    return { id, partyId, name, meters, devices };
  }

  private async attach(tx: SqlClient, siteId: string, meters: string[], devices: string[]): Promise<void> {
    for (const [kind, ids] of [['meter', meters], ['device', devices]] as const) {
      for (const oid of ids) {
        const r = await tx.query('INSERT INTO parties_site_objects (kind, object_id, site_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [kind, oid, siteId]);
        if (r.rowCount === 0) throw new GfError(AuthErrors.GF_PARTY_CONFLICT, `${kind} '${oid}' already belongs to a site`, { data: { field: `${kind}s`, id: oid } });
      }
    }
  }

  async sites(partyId?: string): Promise<Site[]> {
    const r = await this.storage.query<{ id: string; party_id: string; name: string; kind: string | null; object_id: string | null }>(
      `SELECT s.id, s.party_id, s.name, o.kind, o.object_id FROM parties_sites s LEFT JOIN parties_site_objects o ON o.site_id = s.id
       ${partyId ? 'WHERE s.party_id = $1' : ''} ORDER BY s.id, o.kind, o.object_id`,
      partyId ? [partyId] : [],
    );
    const out = new Map<string, Site>();
    for (const x of r.rows) {
      let s = out.get(x.id);
      if (!s) out.set(x.id, (s = { id: x.id, partyId: x.party_id, name: x.name, meters: [], devices: [] }));
      if (x.kind === 'meter') s.meters.push(x.object_id!);
      if (x.kind === 'device') s.devices.push(x.object_id!);
    }
    return [...out.values()];
  }

  /** Enrols a prosumer in an aggregator's portfolio (the contract itself is the flexibility market's). */
  async enrol(aggregatorId: string, prosumerId: string): Promise<void> {
    const a = await this.party(aggregatorId);
    const p = await this.party(prosumerId);
    if (a.role !== 'aggregator') throw invalid('aggregator', `'${aggregatorId}' is ${a.role}, not an aggregator`);
    if (p.role !== 'prosumer') throw invalid('prosumer', `'${prosumerId}' is ${p.role}, not a prosumer`);
    await this.storage.query('INSERT INTO parties_portfolio (aggregator_id, prosumer_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [aggregatorId, prosumerId]);
    await this.changed();
  }

  async unenrol(aggregatorId: string, prosumerId: string): Promise<void> {
    await this.storage.query('DELETE FROM parties_portfolio WHERE aggregator_id = $1 AND prosumer_id = $2', [aggregatorId, prosumerId]);
    await this.changed();
  }

  async portfolio(aggregatorId: string): Promise<string[]> {
    return [...((await this.refresh()).portfolio.get(aggregatorId) ?? [])].sort();
  }

  // ---- credentials and tokens ----

  /** A client credential for a party (machine access); the secret is returned once and stored hashed. */
  async addClient(partyId: string, given?: { clientId?: string; clientSecret?: string }): Promise<{ clientId: string; clientSecret: string }> {
    await this.party(partyId);
    const clientId = given?.clientId ?? `${partyId}.${randomBytes(6).toString('base64url')}`;
    checkId(clientId, 'clientId');
    const clientSecret = given?.clientSecret ?? randomBytes(24).toString('base64url');
    if (clientSecret.length < 16) throw invalid('clientSecret', 'a client secret has at least 16 characters');
    const r = await this.storage.query('INSERT INTO parties_clients (client_id, party_id, secret_hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [clientId, partyId, await hashSecret(clientSecret)]);
    if (r.rowCount === 0) throw new GfError(AuthErrors.GF_PARTY_CONFLICT, `client '${clientId}' exists`, { data: { clientId } });
    return { clientId, clientSecret };
  }

  /** RFC 6749 §4.4 client credentials → an access token; failures are throttled per client id and address. */
  async tokenForClient(clientId: string, secret: string, address: string): Promise<{ access_token: string; token_type: 'Bearer'; expires_in: number }> {
    const key = `client:${clientId}@${address}`;
    this.throttle.check(key);
    const r = await this.storage.query<{ party_id: string; secret_hash: string }>('SELECT party_id, secret_hash FROM parties_clients WHERE client_id = $1', [clientId]);
    const row = r.rows[0];
    const ok = await secretMatches(secret, row?.secret_hash);
    const party = row ? (await this.view()).parties.get(row.party_id) : undefined;
    if (!row || !ok || !party || party.disabled) {
      this.throttle.fail(key);
      throw new GfError(AuthErrors.GF_AUTH_INVALID_CLIENT, 'unknown client, wrong secret or disabled party', { data: { error: 'invalid_client' } });
    }
    this.throttle.clear(key);
    return this.issue(party);
  }

  /** Issues an access token for a party (the CLI's `gridflex tokens issue`, and client credentials). */
  async issue(party: Party, ttlSeconds = this.opts.tokenTtlSeconds): Promise<{ access_token: string; token_type: 'Bearer'; expires_in: number }> {
    if (party.disabled) throw new GfError(AuthErrors.GF_PARTY_INVALID, `party '${party.id}' is disabled`, { data: { field: 'party' } });
    const t = await new SignJWT({ role: party.role })
      .setProtectedHeader({ alg: 'EdDSA', kid: this.kid, typ: 'at+jwt' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(party.id)
      .setIssuedAt()
      .setJti(randomBytes(12).toString('base64url'))
      .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
      .sign(this.signKey!);
    return { access_token: t, token_type: 'Bearer', expires_in: ttlSeconds };
  }

  /** Revokes one token by its id (`jti`), until it would have expired anyway. */
  async revoke(jti: string): Promise<void> {
    await this.storage.query('INSERT INTO parties_revoked (jti, expires_at) VALUES ($1, now() + make_interval(secs => $2)) ON CONFLICT DO NOTHING', [jti, this.opts.tokenTtlSeconds]);
    await this.changed();
  }

  /** Password sign-in for the HMI: a session id (for the cookie) and its CSRF token; failures throttled. */
  async login(partyId: string, password: string, address: string): Promise<{ session: string; csrf: string; party: Party; maxAgeSeconds: number }> {
    const key = `login:${partyId}@${address}`;
    this.throttle.check(key);
    const r = await this.storage.query<{ password_hash: string | null }>('SELECT password_hash FROM parties WHERE id = $1 AND disabled_at IS NULL', [partyId]);
    const ok = await secretMatches(password, r.rows[0]?.password_hash);
    if (!ok) {
      this.throttle.fail(key);
      throw new GfError(AuthErrors.GF_AUTH_INVALID_CLIENT, 'unknown party or wrong password');
    }
    this.throttle.clear(key);
    const session = randomBytes(24).toString('base64url');
    const csrf = randomBytes(18).toString('base64url');
    await this.storage.query('INSERT INTO parties_sessions (id_hash, party_id, csrf, expires_at) VALUES ($1, $2, $3, now() + make_interval(secs => $4))', [
      sha256(session),
      partyId,
      csrf,
      this.opts.sessionTtlSeconds,
    ]);
    return { session, csrf, party: await this.party(partyId), maxAgeSeconds: this.opts.sessionTtlSeconds };
  }

  async logout(session: string): Promise<void> {
    await this.storage.query('DELETE FROM parties_sessions WHERE id_hash = $1', [sha256(session)]);
  }

  /** The CSRF token of a live session (for rendering forms). */
  async csrfOf(session: string): Promise<string | undefined> {
    const r = await this.storage.query<{ csrf: string }>('SELECT csrf FROM parties_sessions WHERE id_hash = $1 AND expires_at > now()', [sha256(session)]);
    return r.rows[0]?.csrf;
  }

  // ---- audit ----

  async record(e: Omit<AuditEntry, 'id' | 'at'>): Promise<void> {
    await this.storage.query('INSERT INTO parties_audit (party_id, role, method, route, path, status, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
      e.partyId,
      e.role,
      e.method,
      e.route,
      e.path.slice(0, 2000),
      e.status,
      e.requestId,
    ]);
  }

  async audit(filter: { partyId?: string; afterId?: number; limit?: number } = {}): Promise<AuditEntry[]> {
    const where: string[] = ['id > $1'];
    const params: unknown[] = [filter.afterId ?? 0];
    if (filter.partyId) {
      params.push(filter.partyId);
      where.push(`party_id = $${params.length}`);
    }
    params.push(Math.min(filter.limit ?? 100, 10_000));
    const r = await this.storage.query<{ id: string; at: Date; party_id: string | null; role: string | null; method: string; route: string; path: string; status: number; request_id: string }>(
      `SELECT * FROM parties_audit WHERE ${where.join(' AND ')} ORDER BY id LIMIT $${params.length}`,
      params,
    );
    return r.rows.map((x) => ({ id: Number(x.id), at: new Date(x.at).toISOString(), partyId: x.party_id, role: x.role, method: x.method, route: x.route, path: x.path, status: x.status, requestId: x.request_id }));
  }
}
