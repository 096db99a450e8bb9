import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Challenge {
  path: string;
  echo: string | null;
  authorization: string | undefined;
  at: number;
}

export interface Delivery {
  path: string;
  authorization: string | undefined;
  contentType: string | undefined;
  /** The body as received, and parsed when it is JSON. */
  raw: string;
  body: unknown;
  /** The status the listener answered (a failing answer is still recorded). */
  answered: number;
  at: number;
}

/** How the listener answers on one callback path. */
export interface PathBehaviour {
  echo: 'right' | 'wrong' | 'redirect';
  /** Answer this many deliveries with 503 before accepting (to see the VTN retry). */
  failDeliveries: number;
}

/**
 * The runner's own webhook endpoint: answers the echo challenge (Definition §Webhooks) and records
 * every notification POSTed to it. Each case uses its own path, so behaviours never mix.
 */
export class WebhookListener {
  readonly challenges: Challenge[] = [];
  readonly deliveries: Delivery[] = [];
  private readonly behaviour = new Map<string, PathBehaviour>();
  private waiters: (() => void)[] = [];
  private constructor(
    private readonly server: http.Server,
    readonly base: string,
  ) {}

  static async start(host: string, port: number, publicBase?: string): Promise<WebhookListener> {
    let self: WebhookListener | undefined;
    const server = http.createServer((req, res) => self!.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const addr = server.address() as AddressInfo;
    const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    self = new WebhookListener(server, (publicBase ?? `http://${shown}:${addr.port}`).replace(/\/$/, ''));
    return self;
  }

  /** A fresh callback URL for `path` with its behaviour. */
  url(path: string, behaviour: Partial<PathBehaviour> = {}): string {
    this.behaviour.set(path, { echo: 'right', failDeliveries: 0, ...behaviour });
    return `${this.base}${path}`;
  }

  setBehaviour(path: string, behaviour: Partial<PathBehaviour>): void {
    this.behaviour.set(path, { ...(this.behaviour.get(path) ?? { echo: 'right', failDeliveries: 0 }), ...behaviour });
  }

  /** Resolves when `pred` holds (checked after each request), or false after `ms`. */
  async until(pred: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return true;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const u = new URL(req.url ?? '/', 'http://listener');
    const b = this.behaviour.get(u.pathname) ?? { echo: 'right', failDeliveries: 0 };
    const wake = () => {
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    };
    if (req.method === 'GET') {
      const echo = u.searchParams.get('echo');
      this.challenges.push({ path: u.pathname, echo, authorization: req.headers.authorization, at: Date.now() });
      if (b.echo === 'redirect') res.writeHead(302, { location: `http://127.0.0.1:9/${u.search}` }).end();
      // A wrong answer shares nothing with the value (a VTN may accept a body that contains it).
      else res.writeHead(200, { 'content-type': 'text/plain' }).end(b.echo === 'right' ? (echo ?? '') : randomBytes(18).toString('base64url'));
      wake();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 1_000_000) chunks.push(c);
    });
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = JSON.parse(raw);
      } catch {
        body = undefined;
      }
      const answered = b.failDeliveries > 0 ? 503 : 200;
      if (b.failDeliveries > 0) b.failDeliveries--;
      this.deliveries.push({ path: u.pathname, authorization: req.headers.authorization, contentType: req.headers['content-type'], raw, body, answered, at: Date.now() });
      res.writeHead(answered).end();
      wake();
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
