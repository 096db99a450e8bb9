import type { Migration } from '../../core/index.js';

/**
 * One table for the six OpenADR object types: their common columns (owner, name, parent, targets)
 * carry the privacy and uniqueness rules in SQL; the rest of the representation is `body`.
 */
export const oa3Migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'clients, signing keys, objects',
    up: `
      CREATE TABLE oa3_clients (
        client_id   text PRIMARY KEY,
        name        text NOT NULL,
        role        text NOT NULL CHECK (role IN ('bl', 'ven')),
        secret_hash text NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE oa3_keys (
        kid        text PRIMARY KEY,
        secret     text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE oa3_objects (
        id          text PRIMARY KEY,
        object_type text NOT NULL,
        created_ms  bigint NOT NULL,
        modified_ms bigint NOT NULL,
        client_id   text,
        name        text,
        parent_id   text,
        program_id  text,
        end_ms      bigint,
        targets     text[] NOT NULL DEFAULT '{}',
        body        jsonb NOT NULL
      );
      CREATE UNIQUE INDEX oa3_program_name ON oa3_objects (name) WHERE object_type = 'PROGRAM';
      CREATE UNIQUE INDEX oa3_ven_name ON oa3_objects (name) WHERE object_type = 'VEN';
      CREATE UNIQUE INDEX oa3_resource_name ON oa3_objects (parent_id, name) WHERE object_type = 'RESOURCE';
      CREATE INDEX oa3_list ON oa3_objects (object_type, created_ms, id);
      CREATE INDEX oa3_by_parent ON oa3_objects (object_type, parent_id, created_ms, id);
      CREATE INDEX oa3_by_client ON oa3_objects (object_type, client_id);
      CREATE INDEX oa3_by_targets ON oa3_objects USING gin (targets);
    `,
  },
  {
    version: 2,
    name: 'webhook outbox',
    // Written in the same transaction as the object change, so an acknowledged change is never
    // without its notifications, even across a crash. A payload is stored once however many
    // subscribers get it; an outbox row is one delivery.
    up: `
      CREATE TABLE oa3_notifications (
        id         bigserial PRIMARY KEY,
        payload    text NOT NULL,
        created_ms bigint NOT NULL
      );
      CREATE TABLE oa3_outbox (
        id              bigserial PRIMARY KEY,
        notification_id bigint NOT NULL REFERENCES oa3_notifications (id) ON DELETE CASCADE,
        subscription_id text NOT NULL,
        client_id       text NOT NULL,
        callback_url    text NOT NULL,
        bearer_token    text,
        attempts        integer NOT NULL DEFAULT 0,
        next_attempt_ms bigint NOT NULL,
        created_ms      bigint NOT NULL,
        delivered_ms    bigint,
        failed          boolean NOT NULL DEFAULT false,
        last_error      text
      );
      CREATE INDEX oa3_outbox_notification ON oa3_outbox (notification_id);
      CREATE INDEX oa3_outbox_due ON oa3_outbox (next_attempt_ms) WHERE delivered_ms IS NULL AND NOT failed;
    `,
  },
];
