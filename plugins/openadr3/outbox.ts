import { SecretBox, type Logger, type Storage } from '../../core/index.js';
import { bearerLabel, NOTIFICATION_LABEL } from './objects.js';
import { checkCallbackUrl, type WebhookPolicy } from './webhooks.js';

export interface DispatcherOptions extends WebhookPolicy {
  /** How often to look for due notifications when nothing wakes the dispatcher (ms). */
  pollMs: number;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Deliveries in flight at once. */
  concurrency: number;
}

interface Due {
  id: number;
  subscription_id: string;
  callback_url: string;
  /** Sealed (opened just before sending). */
  bearer_token: string | null;
  /** The notification JSON, stored once per payload and sent as is. */
  payload: string;
  attempts: number;
}

const LEASE_MS = 60_000;
const KEEP_DELIVERED_MS = 86_400_000;

/**
 * Delivers queued webhook notifications (POST, JSON, the subscription's bearer token, a timeout,
 * no redirects). A failure is retried with exponential backoff up to `maxAttempts`, then marked
 * failed. Rows are claimed with FOR UPDATE SKIP LOCKED and a lease, so several processes on one
 * PostgreSQL database share the work and a crash mid-delivery only delays a notification.
 */
export class WebhookDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  private lastPrune = 0;
  delivered = 0;
  failures = 0;

  constructor(
    private readonly storage: Storage,
    private readonly secrets: SecretBox,
    private readonly opts: DispatcherOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.stopped = false;
    this.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** Looks for due notifications now (called after a change commits). */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.running = this.drain()
      .catch((err) => this.log.error({ err }, 'webhook dispatch failed'))
      .finally(() => {
        this.running = undefined;
        if (this.stopped) return;
        if (this.again) {
          this.again = false;
          this.wake();
        } else this.timer = setTimeout(() => this.wake(), this.opts.pollMs);
      });
  }

  private async drain(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const now = Date.now();
      const due = await this.storage.query<Due>(
        `WITH claimed AS (
           UPDATE oa3_outbox SET next_attempt_ms = $1 + ${LEASE_MS}
           WHERE id IN (SELECT id FROM oa3_outbox WHERE delivered_ms IS NULL AND NOT failed AND next_attempt_ms <= $1
                        ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
           RETURNING id, notification_id, subscription_id, callback_url, bearer_token, attempts)
         SELECT c.id::float8 AS id, c.subscription_id, c.callback_url, c.bearer_token, c.attempts, n.payload
         FROM claimed c JOIN oa3_notifications n ON n.id = c.notification_id`,
        [now, this.opts.concurrency * 4],
      );
      if (due.rows.length === 0) break;
      const queue = [...due.rows].sort((a, b) => a.id - b.id);
      const results: { id: number; attempts: number; error: string | undefined }[] = [];
      await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, queue.length) }, async () => {
        for (let n = queue.shift(); n; n = queue.shift()) results.push({ id: n.id, attempts: n.attempts + 1, error: await this.deliver(n) });
      }));
      await this.record(results);
    }
    if (Date.now() - this.lastPrune > 60_000) {
      this.lastPrune = Date.now();
      await this.storage.query('DELETE FROM oa3_outbox WHERE delivered_ms < $1', [Date.now() - KEEP_DELIVERED_MS]);
      await this.storage.query('DELETE FROM oa3_notifications n WHERE NOT EXISTS (SELECT 1 FROM oa3_outbox o WHERE o.notification_id = n.id) AND n.created_ms < $1', [
        Date.now() - KEEP_DELIVERED_MS,
      ]);
    }
  }

  /** One delivery; resolves to the error, or undefined when the callback took it (2xx). */
  private async deliver(n: Due): Promise<string | undefined> {
    try {
      await checkCallbackUrl(n.callback_url, this.opts);
      const open = (v: string, label: string) => (SecretBox.isSealed(v) ? this.secrets.openText(v, label) : v);
      const bearer = n.bearer_token ? open(n.bearer_token, bearerLabel(n.subscription_id)) : undefined;
      const res = await fetch(n.callback_url, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
        body: open(n.payload, NOTIFICATION_LABEL),
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      await res.arrayBuffer().catch(() => undefined);
      return res.status >= 200 && res.status < 300 ? undefined : `callback answered ${res.status}`;
    } catch (e) {
      return (e as Error).message;
    }
  }

  /**
   * Records a batch of outcomes in two statements (the embedded engine has one connection: a
   * statement per delivery would queue API requests behind a fan-out).
   */
  private async record(results: { id: number; attempts: number; error: string | undefined }[]): Promise<void> {
    const now = Date.now();
    const ok = results.filter((r) => !r.error);
    const bad = results.filter((r) => r.error);
    this.delivered += ok.length;
    this.failures += bad.length;
    if (ok.length > 0) {
      await this.storage.query(
        'UPDATE oa3_outbox o SET delivered_ms = $3, attempts = t.a, last_error = NULL FROM unnest($1::bigint[], $2::int[]) AS t(i, a) WHERE o.id = t.i',
        [ok.map((r) => r.id), ok.map((r) => r.attempts), now],
      );
    }
    if (bad.length > 0) {
      const next = bad.map((r) => now + Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** (r.attempts - 1)));
      const giveUp = bad.map((r) => r.attempts >= this.opts.maxAttempts);
      await this.storage.query(
        `UPDATE oa3_outbox o SET attempts = t.a, next_attempt_ms = t.n, failed = t.f, last_error = t.e
         FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::bool[], $5::text[]) AS t(i, a, n, f, e) WHERE o.id = t.i`,
        [bad.map((r) => r.id), bad.map((r) => r.attempts), next, giveUp, bad.map((r) => r.error!.slice(0, 500))],
      );
      bad.forEach((r, i) => {
        if (giveUp[i]) this.log.warn({ outboxId: r.id, attempts: r.attempts, error: r.error }, 'webhook notification given up');
      });
    }
  }
}
