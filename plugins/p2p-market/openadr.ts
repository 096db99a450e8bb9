import { randomBytes } from 'node:crypto';
import { readServerInfo } from '../../core/server-info.js';
import type { Logger } from '../../core/index.js';
import type { Oa3Api } from '../openadr3/api.js';

/**
 * Publishes each session's price signal as an OpenADR 3.1 PRICE event through this server's own VTN API, as a
 * business-logic client would: VENs in the market's program see tomorrow's prices and can shift load. The
 * client is provisioned with a fresh secret before the first publication; the program is created on first use.
 */
export class PricePublisher {
  readonly #clientId = 'p2p-market';
  readonly #secret = randomBytes(24).toString('base64url');
  #token: { value: string; until: number } | undefined;
  #programId: string | undefined;

  constructor(
    private readonly oa3: Oa3Api,
    private readonly dataDir: string,
    private readonly basePath: string,
    private readonly programName: string,
    private readonly log: Logger,
  ) {}

  #provisioned = false;

  /** Creates (or re-keys) the market's BL client on the VTN; done before the first publication. */
  async #provision(): Promise<void> {
    if (this.#provisioned) return;
    await this.oa3.clients.seed([{ clientId: this.#clientId, clientSecret: this.#secret, role: 'bl', name: 'p2p-market price signal' }]);
    this.#provisioned = true;
  }

  #base(): string | undefined {
    const info = readServerInfo(this.dataDir);
    return info ? `${info.url}${this.basePath}` : undefined;
  }

  async #auth(base: string): Promise<string> {
    if (this.#token && this.#token.until > Date.now() + 60_000) return this.#token.value;
    const res = await fetch(`${base}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: this.#clientId, client_secret: this.#secret }).toString(),
    });
    if (!res.ok) throw new Error(`VTN token request: HTTP ${res.status}`);
    const t = (await res.json()) as { access_token: string; expires_in: number };
    this.#token = { value: t.access_token, until: Date.now() + t.expires_in * 1000 };
    return t.access_token;
  }

  async publish(s: { id: number; slotStart: number; slotEnd: number; price: number }): Promise<void> {
    const base = this.#base();
    if (!base) {
      this.log.debug({ session: s.id }, 'no server URL yet: price signal not published');
      return;
    }
    await this.#provision();
    const token = await this.#auth(base);
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      const json = (await res.json()) as any;
      if (!res.ok) throw new Error(`VTN ${method} ${path}: HTTP ${res.status} ${json?.detail ?? ''}`);
      return json;
    };
    if (!this.#programId) {
      const programs = (await call('GET', '/programs?limit=50')) as { id: string; programName: string }[];
      this.#programId =
        programs.find((p) => p.programName === this.programName)?.id ??
        ((await call('POST', '/programs', {
          programName: this.programName,
          programLongName: 'Local energy market: expected clearing price per session',
          payloadDescriptors: [{ objectType: 'EVENT_PAYLOAD_DESCRIPTOR', payloadType: 'PRICE', units: 'KWH', currency: 'XXX' }],
        })) as { id: string }).id;
    }
    await call('POST', '/events', {
      programID: this.#programId,
      eventName: `p2p-market session ${s.id}`,
      intervalPeriod: { start: new Date(s.slotStart * 1000).toISOString(), duration: `PT${Math.round((s.slotEnd - s.slotStart) / 60)}M` },
      payloadDescriptors: [{ objectType: 'EVENT_PAYLOAD_DESCRIPTOR', payloadType: 'PRICE', units: 'KWH', currency: 'XXX' }],
      // Tokens per kWh (the price is in token base units per kWh; 1,000 base units to a token by default).
      intervals: [{ id: 0, payloads: [{ type: 'PRICE', values: [s.price / 1000] }] }],
    });
  }
}
