import { randomBytes } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { GfError, hashSecret, KernelErrors, SecretBox, secretMatches, UNKNOWN_SECRET_HASH, type Storage } from '../../core/index.js';
import { ROLE_SCOPES, type ClientRole, type Scope } from '../../standards/openadr3/types.js';
import { Oa3Errors } from './errors.js';

/** Who is calling, from a verified bearer token. */
export interface Principal {
  clientId: string;
  role: ClientRole;
  scopes: ReadonlySet<Scope>;
}

export interface ClientSeed {
  clientId: string;
  clientSecret: string;
  role: ClientRole;
  name: string;
}

const CLIENT_ID = /^[A-Za-z0-9_.-]{1,128}$/;
const ISSUER = 'gridflex';

/** The label a token-signing key is sealed under (it names the row, so a value copied elsewhere does not open). */
export const signingKeyLabel = (kid: string): string => `openadr3/oa3_keys/${kid}`;

/** Client credentials (client id, secret hash, role), kept in the database; a secret is only ever checked, so only its scrypt hash is stored. */
export class ClientRegistry {
  constructor(private readonly storage: Storage) {}

  /** Adds a client; generates the id and secret unless given. Returns the secret once. */
  async add(c: { name: string; role: ClientRole; clientId?: string; clientSecret?: string }): Promise<{ clientId: string; clientSecret: string }> {
    const clientId = c.clientId ?? `${c.role}-${randomBytes(9).toString('base64url')}`;
    const clientSecret = c.clientSecret ?? randomBytes(24).toString('base64url');
    if (!CLIENT_ID.test(clientId)) throw new GfError(KernelErrors.GF_VALIDATION_FAILED, `client id '${clientId}' must match ${CLIENT_ID}`);
    if (c.role !== 'bl' && c.role !== 'ven') throw new GfError(KernelErrors.GF_VALIDATION_FAILED, `role must be bl or ven, got '${String(c.role)}'`);
    if (!c.name || c.name.length > 128) throw new GfError(KernelErrors.GF_VALIDATION_FAILED, 'name must be 1 to 128 characters');
    if (clientSecret.length < 8) throw new GfError(KernelErrors.GF_VALIDATION_FAILED, 'client secret must be at least 8 characters');
    const r = await this.storage.query('INSERT INTO oa3_clients (client_id, name, role, secret_hash) VALUES ($1, $2, $3, $4) ON CONFLICT (client_id) DO NOTHING', [
      clientId,
      c.name,
      c.role,
      await hashSecret(clientSecret),
    ]);
    if (r.rowCount === 0) throw new GfError(Oa3Errors.GF_OA3_CONFLICT, `client '${clientId}' exists`);
    return { clientId, clientSecret };
  }

  /** Creates or updates seeded clients (config), so demos and tests have known credentials. */
  async seed(seeds: readonly ClientSeed[]): Promise<void> {
    for (const s of seeds) {
      await this.storage.query(
        `INSERT INTO oa3_clients (client_id, name, role, secret_hash) VALUES ($1, $2, $3, $4)
         ON CONFLICT (client_id) DO UPDATE SET name = excluded.name, role = excluded.role, secret_hash = excluded.secret_hash`,
        [s.clientId, s.name, s.role, await hashSecret(s.clientSecret)],
      );
    }
  }

  async verify(clientId: string, secret: string): Promise<{ clientId: string; role: ClientRole } | undefined> {
    const r = await this.storage.query<{ role: ClientRole; secret_hash: string }>('SELECT role, secret_hash FROM oa3_clients WHERE client_id = $1', [clientId]);
    const row = r.rows[0];
    // Hash even for an unknown id so timing does not tell which ids exist.
    const ok = await secretMatches(secret, row?.secret_hash ?? UNKNOWN_SECRET_HASH);
    return row && ok ? { clientId, role: row.role } : undefined;
  }

  async list(): Promise<{ clientId: string; name: string; role: ClientRole }[]> {
    const r = await this.storage.query<{ client_id: string; name: string; role: ClientRole }>('SELECT client_id, name, role FROM oa3_clients ORDER BY created_at, client_id');
    return r.rows.map((x) => ({ clientId: x.client_id, name: x.name, role: x.role }));
  }
}

/** An external OAuth2 authorisation server whose JWTs the VTN accepts (verified against its JWKS). */
export interface ExternalAuth {
  jwksUrl: string;
  issuer: string;
  audience?: string;
  /** Its token endpoint, announced by /auth/server. */
  tokenUrl: string;
  /** The claim naming the client (falls back to `sub`). */
  clientIdClaim: string;
}

/**
 * Access tokens: by default signed JWTs we issue (HS256, the key kept in the database so every process shares
 * it, sealed under the kernel's key-encryption key: the row is not the key); or, with `external`, JWTs from another
 * authorisation server, verified with its JWKS.
 * The role comes from the scopes: `read_all` makes a BL client, anything else a VEN.
 */
export class TokenService {
  private key: Uint8Array | undefined;
  private kid = '';
  private readonly jwks: ReturnType<typeof createRemoteJWKSet> | undefined;

  constructor(
    private readonly storage: Storage,
    private readonly secrets: SecretBox,
    private readonly ttlS: number,
    readonly external?: ExternalAuth,
  ) {
    this.jwks = external ? createRemoteJWKSet(new URL(external.jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30_000 }) : undefined;
  }

  async init(): Promise<void> {
    if (this.external) return;
    // Keys stored in clear (base64url) by earlier versions are sealed in place, once; the key itself is unchanged,
    // so tokens issued before stay valid.
    const old = await this.storage.query<{ kid: string; secret: string }>('SELECT kid, secret FROM oa3_keys');
    for (const k of old.rows) {
      if (SecretBox.isSealed(k.secret)) continue;
      await this.storage.query('UPDATE oa3_keys SET secret = $3 WHERE kid = $1 AND secret = $2', [k.kid, k.secret, this.secrets.seal(Buffer.from(k.secret, 'base64url'), signingKeyLabel(k.kid))]);
    }
    await this.storage.query('INSERT INTO oa3_keys (kid, secret) VALUES ($1, $2) ON CONFLICT DO NOTHING', ['k1', this.secrets.seal(randomBytes(32), signingKeyLabel('k1'))]);
    const r = await this.storage.query<{ kid: string; secret: string }>('SELECT kid, secret FROM oa3_keys ORDER BY created_at DESC LIMIT 1');
    this.kid = r.rows[0]!.kid;
    this.key = this.secrets.open(r.rows[0]!.secret, signingKeyLabel(this.kid));
  }

  /** Issues a token with the requested scopes (all of the role's when none are asked for). */
  async issue(client: { clientId: string; role: ClientRole }, requested: string | undefined): Promise<{ access_token: string; token_type: 'Bearer'; expires_in: number; scope: string }> {
    if (this.external) throw new GfError(Oa3Errors.GF_OA3_NOT_IMPLEMENTED, `tokens come from ${this.external.tokenUrl}; see GET /auth/server`);
    const allowed = ROLE_SCOPES[client.role];
    const asked = requested?.trim() ? requested.trim().split(/\s+/) : [...allowed];
    const refused = asked.filter((s) => !allowed.includes(s as Scope));
    if (refused.length > 0) {
      throw new GfError(Oa3Errors.GF_OA3_TOKEN_REQUEST, `scope ${refused.join(' ')} is not granted to a ${client.role} client`, {
        data: { error: 'invalid_scope', error_description: `scope ${refused.join(' ')} is not granted to this client` },
      });
    }
    const scope = [...new Set(asked)].join(' ');
    const token = await new SignJWT({ scope, role: client.role, client_id: client.clientId })
      .setProtectedHeader({ alg: 'HS256', kid: this.kid, typ: 'JWT' })
      .setIssuer(ISSUER)
      .setSubject(client.clientId)
      .setIssuedAt()
      .setJti(randomBytes(12).toString('base64url'))
      .setExpirationTime(Math.floor(Date.now() / 1000) + this.ttlS)
      .sign(this.key!);
    return { access_token: token, token_type: 'Bearer', expires_in: this.ttlS, scope };
  }

  async verify(token: string): Promise<Principal> {
    if (this.external) return this.verifyExternal(token);
    try {
      const { payload } = await jwtVerify(token, this.key!, { issuer: ISSUER, algorithms: ['HS256'] });
      const role = payload.role === 'bl' || payload.role === 'ven' ? payload.role : undefined;
      if (!role || typeof payload.sub !== 'string' || typeof payload.scope !== 'string') throw new Error('token lacks sub, role or scope');
      return { clientId: payload.sub, role, scopes: new Set(payload.scope.split(' ') as Scope[]) };
    } catch (e) {
      const expired = (e as { code?: string }).code === 'ERR_JWT_EXPIRED';
      throw new GfError(Oa3Errors.GF_OA3_UNAUTHORIZED, expired ? 'the access token has expired' : 'the access token is invalid', { cause: e });
    }
  }

  private async verifyExternal(token: string): Promise<Principal> {
    const ext = this.external!;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.jwks!, {
        issuer: ext.issuer,
        ...(ext.audience ? { audience: ext.audience } : {}),
        algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'],
      }));
    } catch (e) {
      const expired = (e as { code?: string }).code === 'ERR_JWT_EXPIRED';
      throw new GfError(Oa3Errors.GF_OA3_UNAUTHORIZED, expired ? 'the access token has expired' : 'the access token is invalid or not from the configured issuer', { cause: e });
    }
    const clientId = payload[ext.clientIdClaim] ?? payload.sub;
    // RFC 9068 and most servers put scopes in `scope` (space-separated); some use `scp` (array).
    const rawScope = payload.scope ?? payload.scp;
    const scopes = Array.isArray(rawScope) ? rawScope.map(String) : typeof rawScope === 'string' ? rawScope.split(' ') : [];
    if (typeof clientId !== 'string' || !clientId) throw new GfError(Oa3Errors.GF_OA3_UNAUTHORIZED, `the token names no client (${ext.clientIdClaim} or sub)`);
    const known = scopes.filter((x): x is Scope => (ROLE_SCOPES.bl as readonly string[]).includes(x) || (ROLE_SCOPES.ven as readonly string[]).includes(x));
    return { clientId, role: known.includes('read_all') ? 'bl' : 'ven', scopes: new Set(known) };
  }
}
