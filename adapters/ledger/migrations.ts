import type { Migration } from '../../core/index.js';

export const ledgerMigrations: Migration[] = [
  {
    version: 1,
    name: 'ledger journal, deployments, wallets, event mirror',
    up: `
      CREATE TABLE ledger_meta (key text PRIMARY KEY, value text NOT NULL);
      -- Embedded EVM only: every mined block, to rebuild the in-memory chain at start.
      CREATE TABLE ledger_journal (
        block bigint PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('tx', 'mine')),
        raw text,
        ts bigint NOT NULL
      );
      CREATE TABLE ledger_deployments (
        chain_id bigint NOT NULL,
        name text NOT NULL,
        address text NOT NULL,
        code_hash text NOT NULL,
        tx_hash text NOT NULL,
        block_number bigint NOT NULL,
        deployed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (chain_id, name)
      );
      CREATE TABLE ledger_wallets (
        address text PRIMARY KEY,
        label text NOT NULL,
        key_enc text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      -- The mirror: contract events for queries, rebuilt from the chain when lost.
      CREATE TABLE ledger_events (
        id bigserial PRIMARY KEY,
        chain_id bigint NOT NULL,
        block_number bigint NOT NULL,
        log_index integer NOT NULL,
        block_time bigint NOT NULL,
        tx_hash text NOT NULL,
        contract text NOT NULL,
        event text NOT NULL,
        args jsonb NOT NULL,
        UNIQUE (chain_id, block_number, log_index)
      );
      CREATE INDEX ledger_events_by_name ON ledger_events (contract, event, id);
      CREATE TABLE ledger_mirror_state (chain_id bigint PRIMARY KEY, last_block bigint NOT NULL);
    `,
  },
];
