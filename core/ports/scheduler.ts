import { createToken, type Token } from '../di.js';

export interface JobContext<D = Record<string, unknown>> {
  name: string;
  data: D;
  /** Reports progress 0..100 (persisted with the job, shown by the API). */
  progress(percent: number): Promise<void>;
  /** Aborted when the scheduler stops. */
  signal: AbortSignal;
}

export type JobHandler<D = Record<string, unknown>> = (job: JobContext<D>) => Promise<void>;

export interface JobOptions {
  /** Runs of this job at once in this process (default 1). */
  concurrency?: number;
  /** After this long a lock is considered abandoned and another process may run the job (default 10 min). */
  lockLifetimeMs?: number;
}

export interface JobInfo {
  name: string;
  nextRunAt: Date | null;
  lastRunAt: Date | null;
  lastFinishedAt: Date | null;
  failCount: number;
  failReason: string | null;
  repeatInterval: string | null;
  progress: number | null;
}

/**
 * Durable jobs shared by every process on one database: a recurring job runs once per due time
 * across processes, and scheduled jobs survive restarts. Names are `<pluginId>.<name>`.
 */
export interface Scheduler {
  define<D = Record<string, unknown>>(name: string, handler: JobHandler<D>, opts?: JobOptions): void;
  /** Recurring: a human interval (`'10 minutes'`) or a cron expression (`'*\/10 * * * *'`). Idempotent per name. */
  every(interval: string, name: string, data?: Record<string, unknown>, opts?: { timezone?: string }): Promise<void>;
  /** One-off at a time (a Date, or text agenda understands such as `'in 5 minutes'`). */
  schedule(when: Date | string, name: string, data?: Record<string, unknown>): Promise<void>;
  now(name: string, data?: Record<string, unknown>): Promise<void>;
  cancel(name: string): Promise<number>;
  jobs(name?: string): Promise<JobInfo[]>;
}

export const SchedulerToken: Token<Scheduler> = createToken<Scheduler>('kernel.scheduler');
