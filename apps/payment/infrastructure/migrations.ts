import { outboxMigration, type Migration } from '../../kit/index.js';

export const migrations: readonly Migration[] = [
  {
    id: '0001_payments',
    sql: `
      CREATE TABLE payments (
        id uuid PRIMARY KEY,
        amount_cents integer NOT NULL CHECK (amount_cents > 0),
        currency text NOT NULL,
        reference text,
        status text NOT NULL CHECK (status IN ('SUCCEEDED', 'DECLINED', 'REFUNDED')),
        decline_code text,
        created_at timestamptz NOT NULL DEFAULT now(),
        refunded_at timestamptz
      );
      CREATE TABLE idempotency_keys (
        scope text NOT NULL,
        key text NOT NULL,
        request_hash text NOT NULL,
        outcome jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (scope, key)
      );
    `,
  },
  outboxMigration,
];
