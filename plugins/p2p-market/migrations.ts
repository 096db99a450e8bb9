import type { Migration } from '../../core/index.js';

export const marketMigrations: Migration[] = [
  {
    version: 1,
    name: 'prosumers, sessions, orders, trades',
    up: `
      CREATE TABLE mkt_prosumers (
        id text PRIMARY KEY,
        wallet text NOT NULL UNIQUE,
        meter_id text NOT NULL,
        custodial boolean NOT NULL,
        rules jsonb NOT NULL,
        registered_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE mkt_sessions (
        id bigint PRIMARY KEY,
        slot_start bigint NOT NULL,
        slot_end bigint NOT NULL,
        gate_closure bigint NOT NULL,
        state text NOT NULL CHECK (state IN ('open', 'cleared', 'settled')),
        price_signal integer,
        algorithm text,
        clearing jsonb,
        settlement jsonb
      );
      CREATE TABLE mkt_orders (
        id bigint PRIMARY KEY,
        session_id bigint NOT NULL REFERENCES mkt_sessions(id),
        prosumer text NOT NULL REFERENCES mkt_prosumers(id),
        side text NOT NULL CHECK (side IN ('bid', 'offer')),
        qty_wh bigint NOT NULL,
        limit_price bigint NOT NULL,
        green boolean NOT NULL,
        automatic boolean NOT NULL,
        cancelled boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX mkt_orders_session ON mkt_orders (session_id, id);
      CREATE TABLE mkt_trades (
        session_id bigint NOT NULL REFERENCES mkt_sessions(id),
        idx integer NOT NULL,
        bid_id bigint NOT NULL,
        offer_id bigint NOT NULL,
        qty_wh bigint NOT NULL,
        price bigint NOT NULL,
        delivered_wh bigint,
        paid bigint,
        penalty bigint,
        green_reward bigint,
        PRIMARY KEY (session_id, idx)
      );
    `,
  },
  {
    version: 2,
    name: 'token requests: one per payment or payout reference',
    up: `
      CREATE TABLE mkt_token_requests (
        kind text NOT NULL CHECK (kind IN ('payment', 'payout')),
        reference text NOT NULL,
        request jsonb NOT NULL,
        state text NOT NULL CHECK (state IN ('pending', 'done')),
        answer jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        done_at timestamptz,
        PRIMARY KEY (kind, reference)
      );
    `,
  },
  {
    version: 3,
    name: 'one side per prosumer and session; cancelled (voided) sessions',
    up: `
      CREATE TABLE mkt_session_sides (
        session_id bigint NOT NULL REFERENCES mkt_sessions(id),
        prosumer text NOT NULL REFERENCES mkt_prosumers(id),
        side text NOT NULL CHECK (side IN ('bid', 'offer')),
        live integer NOT NULL CHECK (live >= 0),
        PRIMARY KEY (session_id, prosumer)
      );
      INSERT INTO mkt_session_sides (session_id, prosumer, side, live)
        SELECT session_id, prosumer, min(side), count(*) FROM mkt_orders WHERE NOT cancelled GROUP BY session_id, prosumer;
      ALTER TABLE mkt_sessions DROP CONSTRAINT mkt_sessions_state_check;
      ALTER TABLE mkt_sessions ADD CONSTRAINT mkt_sessions_state_check CHECK (state IN ('open', 'cleared', 'settled', 'voided'));
    `,
  },
  {
    version: 4,
    name: "orders' places in the chain's history; the reconciliation watermark",
    up: `
      ALTER TABLE mkt_orders ADD COLUMN submit_block bigint, ADD COLUMN submit_log integer, ADD COLUMN cancel_block bigint, ADD COLUMN cancel_log integer;
      CREATE TABLE mkt_meta (key text PRIMARY KEY, value text NOT NULL);
    `,
  },
];
