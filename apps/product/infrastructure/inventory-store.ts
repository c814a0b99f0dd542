import type { Database, Queryable } from '../../kit/index.js';
import {
  InsufficientStockError,
  UnknownProductError,
  replayReservation,
  totalOf,
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

  reserve(orderId: string, lines: readonly Line[]): Promise<{ reservation: Reservation; created: boolean }> {
    return this.db.transaction(async (tx) => {
      // Claim the order id first: a concurrent duplicate waits here for this transaction and then sees its outcome.
      const claimed = await tx.query(
        `INSERT INTO reservations (order_id, status, items, total_cents, currency) VALUES ($1, 'RESERVED', '[]', 0, 'EUR')
         ON CONFLICT (order_id) DO NOTHING RETURNING order_id`,
        [orderId],
      );
      if (claimed.length === 0) {
        const existing = await this.lockReservation(tx, orderId);
        return { reservation: replayReservation(existing!, lines), created: false };
      }
      const priced: PricedLine[] = [];
      let currency = 'EUR';
      for (const line of lines) {
        // Conditional decrement: takes the row lock, and succeeds only while enough stock is left.
        const [row] = await tx.query<{ price_cents: number; currency: string }>(
          `UPDATE inventory i SET available = i.available - $2 FROM products p
           WHERE i.product_id = $1 AND p.id = i.product_id AND i.available >= $2
           RETURNING p.price_cents, p.currency`,
          [line.productId, line.quantity],
        );
        if (!row) {
          const [stock] = await tx.query<{ available: number }>('SELECT available FROM inventory WHERE product_id = $1', [line.productId]);
          if (!stock) throw new UnknownProductError(line.productId);
          throw new InsufficientStockError(line.productId, line.quantity, stock.available);
        }
        currency = row.currency;
        priced.push({ ...line, unitPriceCents: row.price_cents });
      }
      const [stored] = await tx.query<ReservationRow>('UPDATE reservations SET items = $2, total_cents = $3, currency = $4 WHERE order_id = $1 RETURNING *', [
        orderId,
        JSON.stringify(priced),
        totalOf(priced),
        currency,
      ]);
      return { reservation: toReservation(stored!), created: true };
    });
  }

  settle(orderId: string, action: 'commit' | 'release'): Promise<Reservation | undefined> {
    return this.db.transaction(async (tx) => {
      let current = await this.lockReservation(tx, orderId);
      if (!current) {
        if (action === 'commit') return undefined;
        const [tombstone] = await tx.query<ReservationRow>(
          `INSERT INTO reservations (order_id, status, items, total_cents, currency) VALUES ($1, 'RELEASED', '[]', 0, 'EUR')
           ON CONFLICT (order_id) DO NOTHING RETURNING *`,
          [orderId],
        );
        if (tombstone) return toReservation(tombstone);
        // A concurrent reserve or release created the row meanwhile: settle that one.
        current = await this.lockReservation(tx, orderId);
        if (!current) return undefined;
      }
      const step = transition(current, action);
      if (step.kind === 'unchanged') return current;
      if (step.to === 'RELEASED') {
        for (const line of current.items) {
          await tx.query('UPDATE inventory SET available = available + $2 WHERE product_id = $1', [line.productId, line.quantity]);
        }
      }
      const [row] = await tx.query<ReservationRow>('UPDATE reservations SET status = $2, updated_at = now() WHERE order_id = $1 RETURNING *', [
        orderId,
        step.to,
      ]);
      return toReservation(row!);
    });
  }

  private async lockReservation(tx: Queryable, orderId: string): Promise<Reservation | undefined> {
    const [row] = await tx.query<ReservationRow>('SELECT * FROM reservations WHERE order_id = $1 FOR UPDATE', [orderId]);
    return row ? toReservation(row) : undefined;
  }
}
