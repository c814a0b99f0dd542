import type { Database } from '../../kit/index.js';
import {
  InsufficientStockError,
  UnknownProductError,
  replayReservation,
  transition,
  type Line,
  type PricedLine,
  type Product,
  type Reservation,
  type ReservationStatus,
} from '../domain/catalog.js';
import type { InventoryStore } from '../domain/inventory.js';

interface ProductRow {
  id: string;
  name: string;
  description: string;
  price_cents: number;
  currency: string;
  available: number;
}

interface ReservationRow {
  order_id: string;
  status: ReservationStatus;
  items: PricedLine[];
  total_cents: number;
  currency: string;
}

const toProduct = (r: ProductRow): Product => ({
  id: r.id,
  name: r.name,
  description: r.description,
  priceCents: r.price_cents,
  currency: r.currency,
  available: r.available,
});
const toReservation = (r: ReservationRow): Reservation => ({
  orderId: r.order_id,
  status: r.status,
  items: r.items,
  totalCents: r.total_cents,
  currency: r.currency,
});

const PRODUCT_COLUMNS = 'p.id, p.name, p.description, p.price_cents, p.currency, i.available';

export class PgInventoryStore implements InventoryStore {
  constructor(private readonly db: Database) {}

  async listProducts(limit: number, offset: number): Promise<Product[]> {
    const rows = await this.db.query<ProductRow>(
      `SELECT ${PRODUCT_COLUMNS} FROM products p JOIN inventory i ON i.product_id = p.id ORDER BY p.id LIMIT $1 OFFSET $2`,
      [limit, offset],
    );
    return rows.map(toProduct);
  }

  async findProduct(id: string): Promise<Product | undefined> {
    const [row] = await this.db.query<ProductRow>(`SELECT ${PRODUCT_COLUMNS} FROM products p JOIN inventory i ON i.product_id = p.id WHERE p.id = $1`, [id]);
    return row ? toProduct(row) : undefined;
  }

  /**
   * One statement when the reservation is new: the claim of the order id (with the priced lines)
   * and the stock taken. Stock is decremented without a condition: a line short of it breaks
   * inventory's CHECK (available >= 0), which fails the whole statement, claim included, so a
   * reservation takes all its lines or nothing and stock never goes below zero. The claim waits
   * for a concurrent duplicate to commit, then finds its row: one reservation per order.
   */
  async reserve(orderId: string, lines: readonly Line[]): Promise<{ reservation: Reservation; created: boolean }> {
    const productIds = lines.map((l) => l.productId);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
      let claimed: ReservationRow | undefined;
      try {
        [claimed] = await this.db.query<ReservationRow>(RESERVE_SQL, [orderId, productIds, lines.map((l) => l.quantity)]);
      } catch (err) {
        if ((err as { code?: unknown }).code !== CHECK_VIOLATION) throw err;
        const stock = await this.db.query<{ product_id: string; available: number }>('SELECT product_id, available FROM inventory WHERE product_id = ANY($1)', [
          productIds,
        ]);
        const short = lines.find((l) => (stock.find((s) => s.product_id === l.productId)?.available ?? 0) < l.quantity);
        if (short) throw new InsufficientStockError(short.productId, short.quantity, stock.find((s) => s.product_id === short.productId)?.available ?? 0);
        continue; // stock came back meanwhile (a release): try again
      }
      if (claimed) return { reservation: toReservation(claimed), created: true };
      // Nothing claimed: the order has a reservation already, or a product is unknown.
      const [existing] = await this.db.query<ReservationRow>('SELECT * FROM reservations WHERE order_id = $1', [orderId]);
      if (existing) return { reservation: replayReservation(toReservation(existing), lines), created: false };
      const known = await this.db.query<{ product_id: string }>('SELECT product_id FROM inventory WHERE product_id = ANY($1)', [productIds]);
      const unknown = productIds.find((id) => !known.some((k) => k.product_id === id));
      if (unknown) throw new UnknownProductError(unknown);
    }
    throw new Error(`reserve ${orderId}: the reservation and the stock kept changing under ${MAX_ATTEMPTS} attempts`);
  }

  /**
   * One statement when the reservation is RESERVED: the status changes (and, on release, the
   * stock returns) only from RESERVED, so of concurrent settles one wins and the others see
   * its result. Repeats, conflicts and a release of an unknown order (a RELEASED tombstone,
   * so a late reserve is refused) take one more.
   */
  async settle(orderId: string, action: 'commit' | 'release'): Promise<Reservation | undefined> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
      const [row] = await this.db.query<ReservationRow & { changed: boolean }>(SETTLE_SQL, [orderId, action === 'commit' ? 'COMMITTED' : 'RELEASED']);
      if (row?.changed) return toReservation(row);
      if (row) {
        const current = toReservation(row);
        // Read in the statement's snapshot: still RESERVED there means a concurrent settle won meanwhile; read again.
        if (transition(current, action).kind === 'unchanged') return current;
        continue;
      }
      if (action === 'commit') return undefined;
      const [tombstone] = await this.db.query<ReservationRow>(
        `INSERT INTO reservations (order_id, status, items, total_cents, currency) VALUES ($1, 'RELEASED', '[]', 0, 'EUR')
         ON CONFLICT (order_id) DO NOTHING RETURNING *`,
        [orderId],
      );
      if (tombstone) return toReservation(tombstone);
      // A concurrent reserve or release created the row meanwhile: settle that one.
    }
    throw new Error(`settle ${orderId}: the reservation kept changing under ${MAX_ATTEMPTS} attempts`);
  }
}

/** SQLSTATE of a CHECK constraint violation: inventory's available >= 0. */
const CHECK_VIOLATION = '23514';

/** Rounds of a store method that met a concurrent change it must re-read; one more is already rare. */
const MAX_ATTEMPTS = 5;

/**
 * $1 order id, $2 product ids, $3 quantities (normalized: one line per product, sorted). Claims
 * the order only when every product is stocked, then takes the stock of rows locked in product
 * order, as every reservation and release does, so two of them cannot deadlock.
 */
const RESERVE_SQL = `
  WITH wanted AS (
    SELECT w.product_id, w.quantity, w.ord FROM unnest($2::text[], $3::int[]) WITH ORDINALITY AS w (product_id, quantity, ord)
  ), priced AS (
    SELECT w.product_id, w.quantity, w.ord, p.price_cents, p.currency
    FROM wanted w JOIN products p ON p.id = w.product_id JOIN inventory i ON i.product_id = w.product_id
  ), claimed AS (
    INSERT INTO reservations (order_id, status, items, total_cents, currency)
    SELECT $1, 'RESERVED',
      jsonb_agg(jsonb_build_object('productId', product_id, 'quantity', quantity, 'unitPriceCents', price_cents) ORDER BY ord),
      sum(quantity * price_cents)::int,
      (array_agg(currency ORDER BY ord DESC))[1]
    FROM priced HAVING count(*) = cardinality($2::text[])
    ON CONFLICT (order_id) DO NOTHING
    RETURNING *
  ), locked AS (
    SELECT product_id FROM inventory WHERE product_id = ANY($2::text[]) AND EXISTS (SELECT 1 FROM claimed) ORDER BY product_id FOR UPDATE
  ), taken AS (
    UPDATE inventory i SET available = i.available - w.quantity FROM wanted w, locked l
    WHERE i.product_id = w.product_id AND l.product_id = w.product_id
  )
  SELECT * FROM claimed`;

/**
 * $1 order id, $2 the target status (COMMITTED or RELEASED). Changes a RESERVED reservation and,
 * on release, returns its stock (rows locked in product order); otherwise answers the
 * reservation as it is (changed = false), or nothing when there is none.
 */
const SETTLE_SQL = `
  WITH changed AS (
    UPDATE reservations SET status = $2, updated_at = now() WHERE order_id = $1 AND status = 'RESERVED' RETURNING *
  ), returned AS (
    SELECT l."productId" AS product_id, l.quantity FROM changed c, jsonb_to_recordset(c.items) AS l ("productId" text, quantity int) WHERE c.status = 'RELEASED'
  ), locked AS (
    SELECT product_id FROM inventory WHERE product_id IN (SELECT product_id FROM returned) ORDER BY product_id FOR UPDATE
  ), restocked AS (
    UPDATE inventory i SET available = i.available + r.quantity FROM returned r, locked l WHERE i.product_id = r.product_id AND l.product_id = r.product_id
  )
  SELECT *, true AS changed FROM changed
  UNION ALL
  SELECT *, false AS changed FROM reservations WHERE order_id = $1 AND NOT EXISTS (SELECT 1 FROM changed)`;
