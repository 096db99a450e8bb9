import type { Migration } from '../../core/index.js';

/**
 * The kernel's own schema. Readings are keyed by (series_id, ts_ms): a series is one meter,
 * quantity and resolution; instants are epoch milliseconds UTC in a bigint (ADR 0002), and the
 * view `gf_readings_v` shows them as timestamptz for people writing SQL by hand.
 */
export const kernelMigrations: readonly Migration[] = [
  {
    version: 1,
    name: 'time-series store',
    up: `
      CREATE TABLE gf_series (
        series_id   serial PRIMARY KEY,
        meter_id    text NOT NULL,
        quantity    text NOT NULL,
        resolution_s integer NOT NULL CHECK (resolution_s >= 0),
        unit        text NOT NULL,
        party_id    text,
        asset_id    text,
        created_at  timestamptz NOT NULL DEFAULT now(),
        UNIQUE (meter_id, quantity, resolution_s)
      );
      CREATE TABLE gf_readings (
        series_id integer NOT NULL,
        ts_ms     bigint  NOT NULL,
        value     double precision NOT NULL,
        quality   smallint NOT NULL DEFAULT 0,
        PRIMARY KEY (series_id, ts_ms)
      );
      CREATE VIEW gf_readings_v AS
        SELECT s.meter_id, s.quantity, s.unit, s.resolution_s, s.party_id, s.asset_id,
               to_timestamp(r.ts_ms / 1000.0) AS ts, r.value, r.quality
        FROM gf_readings r JOIN gf_series s USING (series_id);
    `,
  },
];
