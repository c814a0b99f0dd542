/**
 * Round trips to PostgreSQL per saga call of product and payment (reserve, commit, release,
 * charge, void), counted at the kit's Database: each query is one, a transaction adds BEGIN and
 * COMMIT. Runs the stores and domain classes on a throwaway PostgreSQL (infra/postgres.ts).
 *
 * Usage: tsx bench/servers/saga-statements.ts [--from <dir>]
 * --from: a directory holding other versions of the files read here under the same relative
 * paths (apps/product/..., apps/payment/...), e.g. the previous commit's, to count those.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { startPostgres } from '../../infra/postgres.js';
import { migrate, openDatabase, type Database, type Queryable } from '../../apps/kit/index.js';
import { migrations as paymentMigrations } from '../../apps/payment/infrastructure/migrations.js';
import { migrations as productMigrations } from '../../apps/product/infrastructure/migrations.js';
import { repoRoot } from '../lib/results.js';

const { values } = parseArgs({ options: { from: { type: 'string', default: repoRoot } } });
const from = values.from;
const { Inventory } = (await import(join(from, 'apps/product/domain/inventory.ts'))) as typeof import('../../apps/product/domain/inventory.js');
const { PgInventoryStore } = (await import(
  join(from, 'apps/product/infrastructure/inventory-store.ts')
)) as typeof import('../../apps/product/infrastructure/inventory-store.js');
const { Payments } = (await import(join(from, 'apps/payment/domain/payments.ts'))) as typeof import('../../apps/payment/domain/payments.js');
const { PgPaymentStore } = (await import(
  join(from, 'apps/payment/infrastructure/payment-store.ts')
)) as typeof import('../../apps/payment/infrastructure/payment-store.js');

/** A Database that counts its round trips in `counter.trips`. */
function counted(db: Database, counter: { trips: number }): Database {
  const wrap = (q: Queryable): Queryable => ({
    query: (sql, params) => {
      counter.trips += 1;
      return q.query(sql, params);
    },
    exec: (sql) => {
      counter.trips += 1;
      return q.exec(sql);
    },
  });
  return {
    ...wrap(db),
    kind: db.kind,
    transaction: (fn) => {
      counter.trips += 2;
      return db.transaction((tx) => fn(wrap(tx)));
    },
    ping: () => db.ping(),
    close: () => db.close(),
  };
}

const logger = pino({ level: 'silent' });
const postgres = await startPostgres();
try {
  const productTrips = { trips: 0 };
  const paymentTrips = { trips: 0 };
  const productDb = counted(await openDatabase({ url: await postgres.createDatabase('saga_statements_product'), pgliteDataDir: '', logger }), productTrips);
  const paymentDb = counted(await openDatabase({ url: await postgres.createDatabase('saga_statements_payment'), pgliteDataDir: '', logger }), paymentTrips);
  await migrate(productDb, productMigrations, logger);
  await migrate(paymentDb, paymentMigrations, logger);
  const inventory = new Inventory(new PgInventoryStore(productDb));
  const payments = new Payments(new PgPaymentStore(paymentDb));
  const trips: Record<string, number> = {};
  const count = async (name: string, db: { trips: number }, call: () => Promise<unknown>) => {
    db.trips = 0;
    await call();
    trips[name] = db.trips;
  };
  const confirmed = randomUUID();
  const cancelled = randomUUID();
  const line = [{ productId: 'espresso-beans', quantity: 1 }];
  await count('reserve (1 line)', productTrips, () => inventory.reserve(confirmed, line));
  await count('reserve, repeated', productTrips, () => inventory.reserve(confirmed, line));
  await count('commit', productTrips, () => inventory.commit(confirmed));
  await count('reserve (2 lines)', productTrips, () => inventory.reserve(cancelled, [...line, { productId: 'ceramic-mug', quantity: 1 }]));
  await count('release', productTrips, () => inventory.release(cancelled));
  await count('release of an order never reserved (tombstone)', productTrips, () => inventory.release(randomUUID()));
  const charge = { amountCents: 2490, currency: 'EUR', source: 'tok_visa', reference: confirmed };
  await count('charge', paymentTrips, () => payments.charge(`order-${confirmed}-charge`, charge));
  await count('charge, repeated', paymentTrips, () => payments.charge(`order-${confirmed}-charge`, charge));
  await count('void of a succeeded charge (refund)', paymentTrips, () => payments.voidCharge(`order-${confirmed}-charge`));
  await count('void with nothing charged (tombstone)', paymentTrips, () => payments.voidCharge(`order-${randomUUID()}-charge`));
  process.stdout.write(`round trips per call (${from === repoRoot ? 'this checkout' : from}):\n`);
  for (const [name, n] of Object.entries(trips)) process.stdout.write(`${String(n).padStart(3)}  ${name}\n`);
  await productDb.close();
  await paymentDb.close();
} finally {
  await postgres.stop();
}
