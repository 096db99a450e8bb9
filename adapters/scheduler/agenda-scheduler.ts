import { Agenda, InMemoryNotificationChannel, type Job } from 'agenda';
import { PostgresBackend } from '@agendajs/postgres-backend';
import type { Pool } from 'pg';
import {
  GfError,
  KernelErrors,
  type JobHandler,
  type JobInfo,
  type JobOptions,
  type Logger,
  type Scheduler,
  type Storage,
} from '../../core/index.js';

export interface AgendaSchedulerOptions {
  /** How often this process looks for due jobs (ms). LISTEN/NOTIFY wakes it sooner on PostgreSQL. */
  processEveryMs: number;
  /** Default lock lifetime (ms): a job locked longer than this by a dead process runs elsewhere. */
  lockLifetimeMs: number;
  maxConcurrency: number;
  /** Names this instance in the jobs table (`last_modified_by`). */
  instanceName: string;
  log: Logger;
}

const SCHEMA_LOCK = 7_346_202;
const JOB_NAME = /^[a-z][a-z0-9-]*\.[a-zA-Z0-9._-]+$/;

/**
 * The scheduler port on agenda 6 with its PostgreSQL backend, on our own database: the real pool
 * (with LISTEN/NOTIFY) on a PostgreSQL server, a pool look-alike plus in-process notifications on
 * the embedded engine. Jobs live in the `agenda_jobs` table, so they survive restarts, and agenda's
 * row locks make a due job run in one process only.
 */
export class AgendaScheduler implements Scheduler {
  private agendaInstance: Agenda | undefined;
  private readonly pendingDefinitions: ((a: Agenda) => void)[] = [];
  private readonly abort = new AbortController();
  private started = false;

  constructor(private readonly storage: Storage, private readonly opts: AgendaSchedulerOptions) {}

  private get agenda(): Agenda {
    if (!this.agendaInstance) throw new GfError(KernelErrors.GF_STORAGE_UNAVAILABLE, 'scheduler is not started');
    return this.agendaInstance;
  }

  /** agenda connects and creates its schema as soon as it is constructed, so construction waits for start. */
  private create(): Agenda {
    const pool = this.storage.pgCompatiblePool() as unknown as Pool;
    const backend = new PostgresBackend({ pool, disableNotifications: !this.storage.crossProcessNotify });
    const agenda = new Agenda({
      backend,
      name: this.opts.instanceName,
      processEvery: this.opts.processEveryMs, // a number: agenda reads '500 milliseconds' as 500 s (stack notes)
      defaultLockLifetime: this.opts.lockLifetimeMs,
      maxConcurrency: this.opts.maxConcurrency,
      ...(this.storage.crossProcessNotify ? {} : { notificationChannel: new InMemoryNotificationChannel() }),
    });
    agenda.on('error', (err: unknown) => this.opts.log.error({ err }, 'scheduler error'));
    agenda.on('fail', (err: unknown, job: Job) => this.opts.log.warn({ err, job: job.attrs.name }, 'job failed'));
    for (const d of this.pendingDefinitions.splice(0)) d(agenda);
    return agenda;
  }

  async start(): Promise<void> {
    if (this.agendaInstance) return;
    if (!this.storage.crossProcessNotify) {
      this.agendaInstance = this.create();
      await this.agendaInstance.start();
    } else {
      // Processes starting together would race agenda's CREATE TABLE/TRIGGER (one of them fails and
      // agenda then waits forever): hold a session advisory lock while this one creates or checks it.
      const client = await this.storage.pgCompatiblePool().connect();
      try {
        await client.query('SELECT pg_advisory_lock($1)', [SCHEMA_LOCK]);
        try {
          this.agendaInstance = this.create();
          await this.agendaInstance.start();
        } finally {
          await client.query('SELECT pg_advisory_unlock($1)', [SCHEMA_LOCK]);
        }
      } finally {
        client.release();
      }
    }
    this.started = true;
  }

  /** Stops taking jobs and waits (up to `timeoutMs`) for running ones; unfinished locks are released. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.abort.abort(new Error('scheduler stopping'));
    try {
      await this.agenda.drain(timeoutMs);
    } catch {
      /* drain timed out: stop() below unlocks what is left */
    }
    await this.agenda.stop(false);
  }

  define<D = Record<string, unknown>>(name: string, handler: JobHandler<D>, opts: JobOptions = {}): void {
    checkName(name);
    const apply = (agenda: Agenda) => agenda.define(
      name,
      async (job: Job<D>) => {
        await handler({
          name,
          data: (job.attrs.data ?? {}) as D,
          progress: (p) => job.touch(Math.max(0, Math.min(100, p))),
          signal: this.abort.signal,
        });
      },
      { concurrency: opts.concurrency ?? 1, ...(opts.lockLifetimeMs ? { lockLifetime: opts.lockLifetimeMs } : {}) },
    );
    if (this.agendaInstance) apply(this.agendaInstance);
    else this.pendingDefinitions.push(apply);
  }

  async every(interval: string, name: string, data: Record<string, unknown> = {}, opts: { timezone?: string } = {}): Promise<void> {
    checkName(name);
    const options = { skipImmediate: false, ...(opts.timezone ? { timezone: opts.timezone } : {}) };
    // agenda stores an unparseable interval and only records a failure: try it on an unsaved job first.
    const probe = this.agenda.create(name, data).repeatEvery(interval, options);
    if (!probe.attrs.nextRunAt || probe.attrs.failReason) {
      throw new GfError(KernelErrors.GF_SCHEDULER_INVALID_SCHEDULE, `job ${name}: '${interval}' is not an interval or cron expression`, {
        data: { job: name, interval, reason: probe.attrs.failReason },
      });
    }
    await this.agenda.every(interval, name, data, options);
  }

  async schedule(when: Date | string, name: string, data: Record<string, unknown> = {}): Promise<void> {
    checkName(name);
    if (when instanceof Date && Number.isNaN(when.getTime())) {
      throw new GfError(KernelErrors.GF_SCHEDULER_INVALID_SCHEDULE, `job ${name}: invalid date`);
    }
    await this.agenda.schedule(when, name, data);
  }

  async now(name: string, data: Record<string, unknown> = {}): Promise<void> {
    checkName(name);
    await this.agenda.now(name, data);
  }

  cancel(name: string): Promise<number> {
    return this.agenda.cancel({ name });
  }

  async jobs(name?: string): Promise<JobInfo[]> {
    const r = await this.agenda.queryJobs(name ? { name } : {});
    return r.jobs.map((j) => ({
      name: j.name,
      nextRunAt: j.nextRunAt ?? null,
      lastRunAt: j.lastRunAt ?? null,
      lastFinishedAt: j.lastFinishedAt ?? null,
      failCount: j.failCount ?? 0,
      failReason: j.failReason ?? null,
      repeatInterval: j.repeatInterval === undefined ? null : String(j.repeatInterval),
      progress: j.progress ?? null,
    }));
  }
}

function checkName(name: string): void {
  if (!JOB_NAME.test(name)) {
    throw new GfError(KernelErrors.GF_SCHEDULER_INVALID_SCHEDULE, `job name '${name}' must be '<pluginId>.<name>'`, { data: { job: name } });
  }
}
