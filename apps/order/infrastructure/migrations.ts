import { outboxMigration, type Migration } from '../../kit/index.js';

export const migrations: readonly Migration[] = [
  {
    id: '0001_orders',
    sql: `
      CREATE TABLE orders (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL,
        status text NOT NULL CHECK (status IN ('PENDING', 'CONFIRMED', 'CANCELLED')),
        step text NOT NULL CHECK (step IN ('NEW', 'RESERVED', 'CHARGING', 'CHARGED')),
        payment_token text NOT NULL,
        total_cents integer,
        currency text,
        charge_id uuid,
        cancel_reason text,
        client_key text,
        request_hash text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (user_id, client_key)
      );
      CREATE INDEX orders_by_user ON orders (user_id, created_at DESC);
      CREATE INDEX orders_pending ON orders (updated_at) WHERE status = 'PENDING';
      CREATE TABLE order_items (
        order_id uuid NOT NULL REFERENCES orders (id),
        product_id text NOT NULL,
        quantity integer NOT NULL CHECK (quantity > 0),
        unit_price_cents integer,
        PRIMARY KEY (order_id, product_id)
      );
    `,
  },
  outboxMigration,
  {
    // Whoever may move a PENDING order (its saga, or the sweep that took it over) holds its lease
    // token; every saga write is a compare-and-set on it. See apps/order/README.md.
    id: '0101_saga_lease',
    sql: `
      ALTER TABLE orders ADD COLUMN lease uuid NOT NULL DEFAULT gen_random_uuid();
      ALTER TABLE orders ADD COLUMN charge_refunded boolean NOT NULL DEFAULT false;
    `,
  },
  {
    // Every saga step rewrites updated_at (the lease's heartbeat). With the sweep's index on
    // updated_at none of those updates could be HOT: each wrote a new entry into all four indexes
    // of orders (saga-cost, 2026-12-02: 3.95 updates per order, 0 HOT). Keyed on created_at, which
    // never changes, the index still finds the PENDING orders (the in-flight few) for the sweep,
    // which filters on updated_at; the steps short of the final status become HOT updates, for which
    // fillfactor leaves room on the row's page.
    id: '0102_orders_hot_updates',
    sql: `
      DROP INDEX orders_pending;
      CREATE INDEX orders_pending ON orders (created_at) WHERE status = 'PENDING';
      ALTER TABLE orders SET (fillfactor = 70);
    `,
  },
];
