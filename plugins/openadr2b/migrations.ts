import type { Migration } from '../../core/index.js';

/** The 2.0b VTN's own state; events themselves live in the 3.1 object store (`oa3_objects`). */
export const oa2Migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'vens, queue, event versions, opts, reports',
    up: `
      CREATE TABLE oa2_vens (
        ven_id            text PRIMARY KEY,
        ven_name          text NOT NULL UNIQUE,
        fingerprint       text UNIQUE,
        registration_id   text UNIQUE,
        profile           text,
        transport_address text,
        http_pull         boolean NOT NULL DEFAULT true,
        xml_signature     boolean NOT NULL DEFAULT false,
        report_only       boolean NOT NULL DEFAULT false,
        view_hash         text,
        created_ms        bigint NOT NULL,
        registered_ms     bigint,
        last_seen_ms      bigint
      );
      CREATE TABLE oa2_queue (
        seq        bigserial PRIMARY KEY,
        ven_id     text NOT NULL REFERENCES oa2_vens(ven_id) ON DELETE CASCADE,
        name       text NOT NULL,
        body       jsonb NOT NULL,
        created_ms bigint NOT NULL
      );
      CREATE INDEX oa2_queue_ven ON oa2_queue (ven_id, seq);
      CREATE TABLE oa2_events (
        event_id   text PRIMARY KEY,
        mod_number integer NOT NULL,
        hash       text NOT NULL,
        cancelled  boolean NOT NULL DEFAULT false,
        snapshot   jsonb NOT NULL,
        end_ms     bigint,
        updated_ms bigint NOT NULL
      );
      CREATE TABLE oa2_ven_events (
        ven_id        text NOT NULL REFERENCES oa2_vens(ven_id) ON DELETE CASCADE,
        event_id      text NOT NULL,
        delivered_mod integer NOT NULL,
        opt_type      text,
        opt_mod       integer,
        response_ms   bigint,
        PRIMARY KEY (ven_id, event_id)
      );
      CREATE TABLE oa2_opts (
        opt_id         text PRIMARY KEY,
        ven_id         text NOT NULL REFERENCES oa2_vens(ven_id) ON DELETE CASCADE,
        opt_type       text NOT NULL,
        opt_reason     text NOT NULL,
        market_context text,
        event_id       text,
        mod_number     integer,
        periods        jsonb NOT NULL,
        targets        jsonb NOT NULL,
        created_ms     bigint NOT NULL,
        cancelled_ms   bigint
      );
      CREATE TABLE oa2_report_metadata (
        ven_id              text NOT NULL REFERENCES oa2_vens(ven_id) ON DELETE CASCADE,
        report_specifier_id text NOT NULL,
        report_name         text,
        body                jsonb NOT NULL,
        updated_ms          bigint NOT NULL,
        PRIMARY KEY (ven_id, report_specifier_id)
      );
      CREATE TABLE oa2_report_requests (
        report_request_id   text PRIMARY KEY,
        ven_id              text NOT NULL REFERENCES oa2_vens(ven_id) ON DELETE CASCADE,
        report_specifier_id text NOT NULL,
        body                jsonb NOT NULL,
        status              text NOT NULL CHECK (status IN ('requested', 'active', 'cancelled')),
        created_ms          bigint NOT NULL
      );
      CREATE TABLE oa2_reports (
        id                  bigserial PRIMARY KEY,
        ven_id              text NOT NULL REFERENCES oa2_vens(ven_id) ON DELETE CASCADE,
        report_request_id   text NOT NULL,
        report_specifier_id text NOT NULL,
        report_name         text,
        body                jsonb NOT NULL,
        received_ms         bigint NOT NULL
      );
      CREATE INDEX oa2_reports_ven ON oa2_reports (ven_id, id);
    `,
  },
  {
    version: 2,
    name: 'a VEN is bound to a credential: a certificate fingerprint or a registration secret (hashed)',
    up: `ALTER TABLE oa2_vens ADD COLUMN secret_hash text;`,
  },
];
