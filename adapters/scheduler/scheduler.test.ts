import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger, GfError } from '../../core/index.js';
import { sleep, waitFor } from '../../core/testing/wait.js';
import { openStorage, type SqlStorage } from '../storage/index.js';
import { tempPostgresDatabase } from '../storage/testing/postgres.js';
import { AgendaScheduler } from './agenda-scheduler.js';

const log = createLogger({ level: 'silent' });
const make = (storage: SqlStorage, name: string) =>
  new AgendaScheduler(storage, { processEveryMs: 100, lockLifetimeMs: 60_000, maxConcurrency: 10, instanceName: name, log });

describe('scheduler on the embedded engine', function () {
  this.timeout(120_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'gf-sched-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs a one-off job with its data and records progress', async () => {
    const storage = await openStorage({ dataDir: dir, databaseUrl: undefined });
    const s = make(storage, 'a');
    await s.start();
    const seen: unknown[] = [];
    s.define<{ n: number }>('test.once', async (job) => {
      await job.progress(50);
      seen.push(job.data.n);
    });
    await s.now('test.once', { n: 7 });
    await waitFor(() => seen.length === 1, 10_000, 'the job to run');
    assert.deepEqual(seen, [7]);
    await waitFor(async () => (await s.jobs('test.once'))[0]?.lastFinishedAt != null, 5_000, 'the job to finish');
    const [info] = await s.jobs('test.once');
    assert.equal(info!.progress, 50);
    await s.stop();
    await storage.close();
  });

  it('keeps scheduled and recurring jobs across a restart and runs them after it', async () => {
    let storage = await openStorage({ dataDir: dir, databaseUrl: undefined });
    let s = make(storage, 'before-restart');
    await s.start();
    // No handler in this process: the job is only stored.
    await s.schedule(new Date(Date.now() + 1500), 'test.later', { tag: 'survivor' });
    await s.every('1 hour', 'test.hourly', { kind: 'report' });
    await s.stop();
    await storage.close();

    storage = await openStorage({ dataDir: dir, databaseUrl: undefined });
    s = make(storage, 'after-restart');
    const runs: unknown[] = [];
    s.define<{ tag: string }>('test.later', async (job) => {
      runs.push(job.data.tag);
    });
    s.define('test.hourly', async () => undefined);
    await s.start();
    await waitFor(() => runs.length === 1, 15_000, 'the stored job to run after restart');
    assert.deepEqual(runs, ['survivor']);
    const hourly = await s.jobs('test.hourly');
    assert.equal(hourly.length, 1);
    assert.equal(hourly[0]!.repeatInterval, '1 hour');
    assert.ok(hourly[0]!.nextRunAt && hourly[0]!.nextRunAt.getTime() > Date.now(), 'the next hourly run is in the future');
    await s.stop();
    await storage.close();
  });

  it('refuses bad job names and schedules with coded errors', async () => {
    const storage = await openStorage({ dataDir: dir, databaseUrl: undefined });
    const s = make(storage, 'c');
    await s.start();
    try {
      assert.throws(() => s.define('noPluginPrefix', async () => undefined), (e: unknown) => e instanceof GfError && e.code === 'GF_SCHEDULER_INVALID_SCHEDULE');
      await assert.rejects(s.every('every blue moon', 'test.moon'), (e: unknown) => e instanceof GfError && e.code === 'GF_SCHEDULER_INVALID_SCHEDULE');
    } finally {
      await s.stop();
      await storage.close();
    }
  });
});

describe('scheduler on a PostgreSQL server shared by several processes', function () {
  this.timeout(120_000);
  if (!process.env.DATABASE_URL) {
    it('runs when DATABASE_URL is set (.ci/run starts a server and sets it)');
    return;
  }
  let db: { url: string; drop(): Promise<void> };
  let storages: SqlStorage[];
  let schedulers: AgendaScheduler[];

  before(async () => {
    db = (await tempPostgresDatabase())!;
    // Each "process" has its own pool and agenda instance; only the database is shared.
    storages = [await openStorage({ dataDir: '', databaseUrl: db.url }), await openStorage({ dataDir: '', databaseUrl: db.url })];
    schedulers = storages.map((st, i) => make(st, `proc-${i}`));
  });
  after(async () => {
    for (const s of schedulers) await s.stop();
    for (const st of storages) await st.close();
    await db.drop();
  });

  it('runs every one-off job exactly once and a recurring job once per due time', async () => {
    const runs: { id: number; by: number }[] = [];
    const ticks: { at: number; by: number }[] = [];
    schedulers.forEach((s, by) => {
      s.define<{ id: number }>(
        'test.work',
        async (job) => {
          await sleep(20);
          runs.push({ id: job.data.id, by });
        },
        { concurrency: 5 },
      );
      s.define('test.tick', async () => {
        ticks.push({ at: Date.now(), by });
      });
    });
    await Promise.all(schedulers.map((s) => s.start()));
    for (let i = 0; i < 40; i++) await schedulers[i % 2]!.now('test.work', { id: i });
    await schedulers[0]!.every('1 second', 'test.tick');
    await schedulers[1]!.every('1 second', 'test.tick'); // same job: idempotent per name
    await waitFor(() => runs.length >= 40, 30_000, '40 jobs to run');
    await sleep(4_500);
    assert.equal(runs.length, 40, 'no job ran twice');
    assert.deepEqual([...new Set(runs.map((r) => r.id))].sort((a, b) => a - b), Array.from({ length: 40 }, (_, i) => i));
    assert.equal((await schedulers[0]!.jobs('test.tick')).length, 1, 'one recurring job however many processes declare it');
    ticks.sort((a, b) => a.at - b.at);
    assert.ok(ticks.length >= 3, `the recurring job ran (${ticks.length} times)`);
    for (let i = 1; i < ticks.length; i++) {
      assert.ok(ticks[i]!.at - ticks[i - 1]!.at > 500, `two runs of one due time: ${ticks[i - 1]!.at} and ${ticks[i]!.at}`);
    }
  });
});
