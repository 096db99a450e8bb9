import assert from 'node:assert/strict';
import { GfError, type Storage } from '../../core/index.js';

/**
 * The storage contract: every implementation of the storage port passes these same tests
 * (embedded PGlite always; PostgreSQL when DATABASE_URL is set).
 */
export function storageContract(name: string, open: () => Promise<{ storage: Storage; dispose(): Promise<void> }>): void {
  describe(`storage contract: ${name}`, function () {
    this.timeout(120_000);
    let storage: Storage;
    let dispose: () => Promise<void>;
    const T0 = Date.UTC(2026, 2, 29, 0, 0, 0); // a daylight-saving day in Europe: UTC slots stay regular

    before(async () => {
      ({ storage, dispose } = await open());
    });
    after(async () => {
      await dispose?.();
    });

    async function rejectsWithCode(p: Promise<unknown>, code: string): Promise<GfError> {
      try {
        await p;
      } catch (e) {
        assert.ok(e instanceof GfError, `expected GfError ${code}, got ${String(e)}`);
        assert.equal(e.code, code, e.message);
        return e;
      }
      assert.fail(`expected ${code}`);
    }

    it('answers ping and runs SQL in the PostgreSQL dialect', async () => {
      await storage.ping();
      const r = await storage.query<{ d: string }>("SELECT to_char(date_bin('15 minutes', TIMESTAMPTZ '2026-01-01 10:37:00+00', TIMESTAMPTZ '2000-01-01 00:00:00+00') AT TIME ZONE 'UTC', 'HH24:MI') AS d");
      assert.equal(r.rows[0]!.d, '10:30');
      // rowCount means what it means in node-postgres: rows returned by a SELECT, rows touched by DML.
      const three = await storage.query('SELECT * FROM generate_series(1, 3)');
      assert.equal(three.rowCount, 3);
      assert.equal((await storage.query('SELECT 1 WHERE false')).rowCount, 0);
    });

    it('applies migrations once, in order, and refuses an edited one', async () => {
      const m1 = { version: 1, name: 'a', up: 'CREATE TABLE ct_a (id int primary key)' };
      const m2 = { version: 2, name: 'b', up: 'ALTER TABLE ct_a ADD COLUMN v text' };
      assert.deepEqual((await storage.migrate('contract', [m2, m1])).applied, [1, 2]);
      assert.deepEqual((await storage.migrate('contract', [m1, m2])).applied, []);
      await storage.query("INSERT INTO ct_a (id, v) VALUES (1, 'x')");
      await rejectsWithCode(storage.migrate('contract', [{ ...m1, up: 'CREATE TABLE ct_a (id bigint)' }]), 'GF_STORAGE_MIGRATION_FAILED');
      await rejectsWithCode(storage.migrate('contract2', [m1, { ...m2, version: 1 }]), 'GF_STORAGE_MIGRATION_FAILED');
      const bad = await rejectsWithCode(storage.migrate('contract3', [{ version: 1, name: 'broken', up: 'CREATE TABLE (' }]), 'GF_STORAGE_MIGRATION_FAILED');
      assert.match(bad.message, /contract3 migration 1 \(broken\) failed/);
      const applied = await storage.query('SELECT 1 FROM gf_migrations WHERE owner = $1', ['contract3']);
      assert.equal(applied.rows.length, 0, 'a failed migration is not recorded');
    });

    it('commits a transaction that resolves and rolls back one that throws', async () => {
      await storage.exec('CREATE TABLE ct_tx (id int primary key)');
      await storage.transaction(async (tx) => {
        await tx.query('INSERT INTO ct_tx VALUES (1)');
      });
      await assert.rejects(
        storage.transaction(async (tx) => {
          await tx.query('INSERT INTO ct_tx VALUES (2)');
          throw new Error('boom');
        }),
        /boom/,
      );
      const r = await storage.query<{ id: number }>('SELECT id FROM ct_tx ORDER BY id');
      assert.deepEqual(r.rows.map((x) => x.id), [1]);
    });

    it('writes readings and reads a half-open range back per series, in time order', async () => {
      const readings = [];
      for (const meterId of ['m-a', 'm-b']) {
        for (let i = 47; i >= 0; i--) {
          readings.push({ meterId, quantity: 'activePower' as const, unit: 'W', ts: T0 + i * 1_800_000, value: i * 10.5 + (meterId === 'm-b' ? 1 : 0), resolutionS: 1800 });
        }
      }
      const w = await storage.readings.write(readings);
      assert.deepEqual(w, { written: 96, duplicates: 0 });
      const [a, b, ...rest] = await storage.readings.read({ meterIds: ['m-b', 'm-a', 'nobody'], quantity: 'activePower', from: T0 + 1_800_000, to: T0 + 5 * 1_800_000 });
      assert.equal(rest.length, 0);
      assert.equal(a!.meterId, 'm-b', 'series come in the order asked');
      assert.deepEqual(Array.from(a!.ts), [1, 2, 3, 4].map((i) => T0 + i * 1_800_000), 'from is inclusive, to exclusive');
      assert.deepEqual(Array.from(a!.values), [11.5, 22, 32.5, 43]);
      assert.deepEqual(Array.from(b!.values), [10.5, 21, 31.5, 42]);
      assert.equal(a!.unit, 'W');
      assert.equal(a!.resolutionS, 1800);
      assert.deepEqual(Array.from(a!.quality), [0, 0, 0, 0]);
      assert.equal(await storage.readings.count({ meterId: 'm-a' }), 48);
      const series = await storage.readings.listSeries({ meterId: 'm-a' });
      assert.equal(series.length, 1);
      assert.equal(series[0]!.quantity, 'activePower');
    });

    it('keeps resolutions apart and filters by one', async () => {
      await storage.readings.write([
        { meterId: 'm-r', quantity: 'energyImport', unit: 'Wh', ts: T0, value: 100, resolutionS: 600, quality: 'estimated' },
        { meterId: 'm-r', quantity: 'energyImport', unit: 'Wh', ts: T0, value: 600, resolutionS: 3600 },
      ]);
      const all = await storage.readings.read({ meterIds: ['m-r'], quantity: 'energyImport', from: T0, to: T0 + 1 });
      assert.deepEqual(all.map((s) => s.resolutionS), [600, 3600]);
      assert.deepEqual(Array.from(all[0]!.quality), [1], 'quality code of estimated');
      const hourly = await storage.readings.read({ meterIds: ['m-r'], quantity: 'energyImport', resolutionS: 3600, from: new Date(T0), to: new Date(T0 + 1) });
      assert.deepEqual(Array.from(hourly[0]!.values), [600]);
    });

    it('refuses an invalid batch whole, naming each bad reading', async () => {
      const before = await storage.readings.count();
      const good = { meterId: 'm-v', quantity: 'activePower' as const, unit: 'W', ts: T0, value: 1, resolutionS: 60 };
      const e = await rejectsWithCode(
        storage.readings.write([good, { ...good, meterId: 'bad id' }, { ...good, ts: T0 + 60_000, value: Number.NaN }, { ...good, ts: 1.5 }]),
        'GF_TS_INVALID_READING',
      );
      const errors = e.data!.errors as { index: number; field: string }[];
      assert.deepEqual(errors.map((x) => [x.index, x.field]), [[1, 'meterId'], [2, 'value'], [3, 'ts']]);
      await rejectsWithCode(storage.readings.write([{ ...good, unit: 'kW' }]), 'GF_TS_UNIT_MISMATCH');
      await rejectsWithCode(storage.readings.write([{ ...good, quantity: 'watts' as never }]), 'GF_TS_INVALID_READING');
      assert.equal(await storage.readings.count(), before, 'nothing of a refused batch is written');
    });

    it('replaces, ignores or refuses duplicates as asked, and counts them', async () => {
      const r = (ts: number, value: number) => ({ meterId: 'm-d', quantity: 'activePower' as const, unit: 'W', ts, value, resolutionS: 900 });
      await storage.readings.write([r(T0, 1), r(T0 + 900_000, 2)]);
      // replace (default): one existing, one new, and a twin inside the batch (the last one wins)
      assert.deepEqual(await storage.readings.write([r(T0, 10), r(T0 + 1_800_000, 3), r(T0 + 1_800_000, 30)]), { written: 2, duplicates: 2 });
      let [s] = await storage.readings.read({ meterIds: ['m-d'], quantity: 'activePower', from: T0, to: T0 + 3_600_000 });
      assert.deepEqual(Array.from(s!.values), [10, 2, 30]);
      assert.deepEqual(await storage.readings.write([r(T0, 99), r(T0 + 2_700_000, 4)], { onConflict: 'ignore' }), { written: 1, duplicates: 1 });
      [s] = await storage.readings.read({ meterIds: ['m-d'], quantity: 'activePower', from: T0, to: T0 + 3_600_000 });
      assert.deepEqual(Array.from(s!.values), [10, 2, 30, 4]);
      await rejectsWithCode(storage.readings.write([r(T0 + 3_600_000, 5), r(T0, 7)], { onConflict: 'error' }), 'GF_TS_DUPLICATE');
      [s] = await storage.readings.read({ meterIds: ['m-d'], quantity: 'activePower', from: T0, to: T0 + 4_000_000 });
      assert.deepEqual(Array.from(s!.values), [10, 2, 30, 4], 'a refused batch writes nothing');
    });

    it('writes a column batch for one series and deletes a range', async () => {
      const n = 20_000;
      const ts = new Float64Array(n);
      const v = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        ts[i] = T0 + i * 60_000;
        v[i] = Math.sin(i / 100) * 1000;
      }
      assert.deepEqual(await storage.readings.writeSeries({ meterId: 'm-col', quantity: 'activePower', unit: 'W', resolutionS: 60 }, ts, v), {
        written: n,
        duplicates: 0,
      });
      const [s] = await storage.readings.read({ meterIds: ['m-col'], quantity: 'activePower', from: T0, to: T0 + n * 60_000 });
      assert.equal(s!.values.length, n);
      assert.deepEqual(s!.values, v, 'float8 round-trips exactly');
      await rejectsWithCode(
        storage.readings.writeSeries({ meterId: 'm-col', quantity: 'activePower', unit: 'kW', resolutionS: 60 }, [T0], [1]),
        'GF_TS_UNIT_MISMATCH',
      );
      await rejectsWithCode(storage.readings.writeSeries({ meterId: 'm-col', quantity: 'activePower', unit: 'W', resolutionS: 60 }, [T0, 2.5], [1, 2]), 'GF_TS_INVALID_READING');
      const deleted = await storage.readings.deleteRange({ meterIds: ['m-col'], quantity: 'activePower', from: T0, to: T0 + 100 * 60_000 });
      assert.equal(deleted, 100);
      assert.equal(await storage.readings.count({ meterId: 'm-col' }), n - 100);
    });
  });
}
