import type { Migration } from '../../kit/index.js';

export const migrations: readonly Migration[] = [
  {
    id: '0001_catalog',
    sql: `
      CREATE TABLE products (
        id text PRIMARY KEY,
        name text NOT NULL,
        description text NOT NULL,
        price_cents integer NOT NULL CHECK (price_cents > 0),
        currency text NOT NULL
      );
      CREATE TABLE inventory (
        product_id text PRIMARY KEY REFERENCES products (id),
        -- The CHECK is the last line against overselling; the conditional UPDATE is the first.
        available integer NOT NULL CHECK (available >= 0)
      );
      CREATE TABLE reservations (
        order_id uuid PRIMARY KEY,
        status text NOT NULL CHECK (status IN ('RESERVED', 'COMMITTED', 'RELEASED')),
        items jsonb NOT NULL,
        total_cents integer NOT NULL,
        currency text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    id: '0002_seed_catalog',
    sql: `
      INSERT INTO products (id, name, description, price_cents, currency) VALUES
        ('espresso-beans', 'Espresso beans 1 kg', 'Dark roast, chocolate and hazelnut', 2490, 'EUR'),
        ('filter-beans', 'Filter beans 250 g', 'Light roast, citrus and jasmine', 1190, 'EUR'),
        ('ceramic-mug', 'Ceramic mug', 'Hand-glazed, 300 ml', 1450, 'EUR'),
        ('pour-over-kettle', 'Pour-over kettle', 'Gooseneck, 1 l, stainless steel', 4900, 'EUR'),
        ('hand-grinder', 'Hand grinder', 'Conical steel burrs', 8900, 'EUR'),
        ('anniversary-roast', 'Anniversary roast', 'Limited edition: few bags left', 3500, 'EUR');
      INSERT INTO inventory (product_id, available) VALUES
        ('espresso-beans', 200), ('filter-beans', 150), ('ceramic-mug', 80),
        ('pour-over-kettle', 25), ('hand-grinder', 12), ('anniversary-roast', 5);
    `,
  },
];
