import type { Logger, Storage } from '../../core/index.js';
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
  callback_url: string;
  bearer_token: string | null;
  payload: unknown;
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
        `UPDATE oa3_outbox SET next_attempt_ms = $1 + ${LEASE_MS}
         WHERE id IN (SELECT id FROM oa3_outbox WHERE delivered_ms IS NULL AND NOT failed AND next_attempt_ms <= $1
                      ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING id::float8 AS id, callback_url, bearer_token, payload, attempts`,
        [now, this.opts.concurrency * 4],
      );
      if (due.rows.length === 0) break;
      const queue = [...due.rows].sort((a, b) => a.id - b.id);
      await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, queue.length) }, async () => {
        for (let n = queue.shift(); n; n = queue.shift()) await this.deliver(n);
      }));
    }
    if (Date.now() - this.lastPrune > 60_000) {
      this.lastPrune = Date.now();
      await this.storage.query('DELETE FROM oa3_outbox WHERE delivered_ms < $1', [Date.now() - KEEP_DELIVERED_MS]);
    }
  }

  private async deliver(n: Due): Promise<void> {
    let error: string | undefined;
    try {
      await checkCallbackUrl(n.callback_url, this.opts);
      const res = await fetch(n.callback_url, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/json', ...(n.bearer_token ? { authorization: `Bearer ${n.bearer_token}` } : {}) },
        body: JSON.stringify(n.payload),
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status < 200 || res.status >= 300) error = `callback answered ${res.status}`;
    } catch (e) {
      error = (e as Error).message;
    }
    const attempts = n.attempts + 1;
    if (!error) {
      this.delivered++;
      await this.storage.query('UPDATE oa3_outbox SET delivered_ms = $2, attempts = $3, last_error = NULL WHERE id = $1', [n.id, Date.now(), attempts]);
      return;
    }
    this.failures++;
    const giveUp = attempts >= this.opts.maxAttempts;
    const backoff = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** (attempts - 1));
    await this.storage.query('UPDATE oa3_outbox SET attempts = $2, next_attempt_ms = $3, failed = $4, last_error = $5 WHERE id = $1', [
      n.id,
      attempts,
      Date.now() + backoff,
      giveUp,
      error.slice(0, 500),
    ]);
    if (giveUp) this.log.warn({ outboxId: n.id, url: n.callback_url, attempts, error }, 'webhook notification given up');
  }
}
