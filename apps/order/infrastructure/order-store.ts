import { randomUUID } from 'node:crypto';
import { orderEventTypes, ordersEvents, type OrderEventType } from '../../../contract/index.js';
import { OUTBOX_COLUMNS, outboxEntry, outboxValues, type Database, type Queryable } from '../../kit/index.js';
import { orderEventData, type Order, type OrderEventSource, type OrderLine, type OrderStatus, type SagaStep } from '../domain/orders.js';
import { LeaseLost, type ReserveResult, type SagaLog } from '../domain/saga.js';

export const ORDERS_TOPIC = ordersEvents.name;

interface OrderRow {
  id: string;
  user_id: string;
  status: OrderStatus;
  step: SagaStep;
  payment_token: string;
  total_cents: number | null;
  currency: string | null;
  charge_id: string | null;
  cancel_reason: string | null;
  charge_refunded: boolean;
  lease: string;
  request_hash: string;
  created_at: Date;
  updated_at: Date;
}

interface ItemRow {
  order_id: string;
  product_id: string;
  quantity: number;
  unit_price_cents: number | null;
}

export interface NewOrder {
  readonly userId: string;
  readonly items: ReadonlyArray<{ productId: string; quantity: number }>;
  readonly paymentToken: string;
  /** The client's idempotency key, if it sent one. */
  readonly clientKey: string | undefined;
  readonly requestHash: string;
}

const EVENT_TYPES: Record<OrderStatus, OrderEventType> = {
  PENDING: orderEventTypes.created,
  CONFIRMED: orderEventTypes.confirmed,
  CANCELLED: orderEventTypes.cancelled,
};

/**
 * The status every saga write compares against, passed as a parameter, not written into the
 * statement: a literal `status = 'PENDING'` lets the cached generic plan of these prepared
 * statements walk the partial index orders_pending (every PENDING order's entries, dead versions
 * included) instead of the primary key. Measured on the bench shop at 100 orders/s (2026-12-02,
 * bench/servers/saga-cost.ts): four such scans per order reading 776 index entries per order, a
 * cost that grows with the orders in flight, so a slow saga slowed every other.
 */
const PENDING = 'PENDING';

/**
 * Orders, their lines and their events; every state change and its event share one statement
 * (so one transaction, and one round trip: the event is built from what the change writes and
 * inserted by the same statement, only when the change happened).
 */
export class OrderStore implements SagaLog {
  constructor(private readonly db: Database) {}

  /** Creates the order with OrderCreated, or returns the one already created under the client's key. */
  async create(input: NewOrder): Promise<{ order: Order; created: boolean; requestHash: string }> {
    const id = randomUUID();
    const lines: OrderLine[] = [...input.items]
      .sort((a, b) => (a.productId < b.productId ? -1 : a.productId > b.productId ? 1 : 0))
      .map((i) => ({ productId: i.productId, quantity: i.quantity, unitPriceCents: null }));
    const event = this.eventOf({
      id,
      userId: input.userId,
      status: 'PENDING',
      totalCents: null,
      currency: null,
      items: lines,
      cancelReason: null,
      refunded: false,
    });
    // Order, lines and OrderCreated in one statement; nothing of it when the client's key was used before.
    const [row] = await this.db.query<OrderRow>(
      `WITH o AS (
         INSERT INTO orders (id, user_id, status, step, payment_token, client_key, request_hash) VALUES ($1, $2, 'PENDING', 'NEW', $3, $4, $5)
         ON CONFLICT (user_id, client_key) DO NOTHING RETURNING *
       ), i AS (
         INSERT INTO order_items (order_id, product_id, quantity) SELECT o.id, x.product_id, x.quantity FROM o, unnest($6::text[], $7::int[]) AS x (product_id, quantity)
       ), e AS (
         INSERT INTO outbox (${OUTBOX_COLUMNS}) SELECT ${outboxValues(8)} FROM o
       )
       SELECT * FROM o`,
      [id, input.userId, input.paymentToken, input.clientKey ?? null, input.requestHash, lines.map((l) => l.productId), lines.map((l) => l.quantity), ...event],
    );
    if (!row) {
      const [existing] = await this.db.query<OrderRow>('SELECT * FROM orders WHERE user_id = $1 AND client_key = $2', [input.userId, input.clientKey]);
      return { order: await this.hydrate(this.db, existing!), created: false, requestHash: existing!.request_hash };
    }
    return { order: toOrder(row, lines), created: true, requestHash: row.request_hash };
  }

  async find(id: string): Promise<Order | undefined> {
    const [row] = await this.db.query<OrderRow>('SELECT * FROM orders WHERE id = $1', [id]);
    return row ? this.hydrate(this.db, row) : undefined;
  }

  async listByUser(userId: string, limit: number): Promise<Order[]> {
    const rows = await this.db.query<OrderRow>('SELECT * FROM orders WHERE user_id = $1 ORDER BY created_at DESC, id LIMIT $2', [userId, limit]);
    const items = await this.db.query<ItemRow>('SELECT * FROM order_items WHERE order_id = ANY($1::uuid[]) ORDER BY product_id', [rows.map((r) => r.id)]);
    return rows.map((r) =>
      toOrder(
        r,
        items.filter((i) => i.order_id === r.id),
      ),
    );
  }

  /**
   * Takes over PENDING orders nobody touched for `staleMs` (a crashed or paused saga, or an
   * unfinished compensation): a new lease token each, so the saga that held them can no
   * longer write, and a fresh `updated_at`, so another replica's sweep skips them for a while.
   */
  claimStale(staleMs: number, limit: number): Promise<Order[]> {
    return this.db.transaction(async (tx) => {
      const rows = await tx.query<OrderRow>(
        `UPDATE orders SET updated_at = now(), lease = gen_random_uuid() WHERE id IN (
           SELECT id FROM orders WHERE status = 'PENDING' AND updated_at < now() - $1::int * interval '1 millisecond'
           ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING *`,
        [staleMs, limit],
      );
      if (rows.length === 0) return [];
      const items = await tx.query<ItemRow>('SELECT * FROM order_items WHERE order_id = ANY($1::uuid[]) ORDER BY product_id', [rows.map((r) => r.id)]);
      return rows.map((r) =>
        toOrder(
          r,
          items.filter((i) => i.order_id === r.id),
        ),
      );
    });
  }

  async reserved(order: Order, priced: ReserveResult & { ok: true }): Promise<Order> {
    const prices = new Map(priced.items.map((i) => [i.productId, i.unitPriceCents]));
    const lines = order.items.map((l) => ({ ...l, unitPriceCents: prices.get(l.productId) ?? l.unitPriceCents }));
    const priceUpdates = lines.filter((l) => prices.has(l.productId));
    // The lines are updated only through the order row the compare-and-set returned (locked by it):
    // a lost lease changes neither.
    const [row] = await this.db.query<OrderRow>(
      `WITH u AS (
         UPDATE orders SET step = 'RESERVED', total_cents = $3, currency = $4, updated_at = now()
         WHERE id = $1 AND lease = $2 AND status = $7 RETURNING *
       ), i AS (
         UPDATE order_items oi SET unit_price_cents = x.price FROM u, unnest($5::text[], $6::int[]) AS x (product_id, price)
         WHERE oi.order_id = u.id AND oi.product_id = x.product_id
       )
       SELECT * FROM u`,
      [order.id, order.lease, priced.totalCents, priced.currency, priceUpdates.map((l) => l.productId), priceUpdates.map((l) => l.unitPriceCents), PENDING],
    );
    if (!row) throw new LeaseLost(order.id);
    return toOrder(row, lines);
  }

  charging(order: Order): Promise<Order> {
    return this.change(order, "step = 'CHARGING'", []);
  }

  charged(order: Order, chargeId: string): Promise<Order> {
    return this.change(order, "step = 'CHARGED', charge_id = $3", [chargeId]);
  }

  confirmed(order: Order): Promise<Order> {
    return this.finish(order, 'CONFIRMED', null, false);
  }

  cancelled(order: Order, reason: string, refunded: boolean): Promise<Order> {
    return this.finish(order, 'CANCELLED', reason, refunded);
  }

  compensationPending(order: Order, reason: string): Promise<Order> {
    return this.change(order, 'cancel_reason = $3', [reason]);
  }

  async current(orderId: string): Promise<Order> {
    const order = await this.find(orderId);
    if (!order) throw new Error(`order ${orderId} vanished`);
    return order;
  }

  /**
   * Ends the order and emits its event, only while `order.lease` still holds it PENDING: one
   * statement, whose event insert runs only for the row the compare-and-set returned. The
   * event describes the order as this write leaves it (the lease holder's copy of the order is
   * the stored one: nobody else may write it).
   */
  private async finish(order: Order, status: 'CONFIRMED' | 'CANCELLED', reason: string | null, refunded: boolean): Promise<Order> {
    const event = this.eventOf({ ...order, status, cancelReason: reason, refunded });
    const [row] = await this.db.query<OrderRow>(
      `WITH u AS (
         UPDATE orders SET status = $3, cancel_reason = $4, charge_refunded = $5, updated_at = now()
         WHERE id = $1 AND lease = $2 AND status = $6 RETURNING *
       ), e AS (
         INSERT INTO outbox (${OUTBOX_COLUMNS}) SELECT ${outboxValues(7)} FROM u
       )
       SELECT * FROM u`,
      [order.id, order.lease, status, reason, refunded, PENDING, ...event],
    );
    if (!row) throw new LeaseLost(order.id);
    return toOrder(row, order.items);
  }

  /** One saga step: a compare-and-set on the lease, which it also renews (updated_at); one statement. */
  private async change(order: Order, assignments: string, params: unknown[]): Promise<Order> {
    const [row] = await this.db.query<OrderRow>(
      `UPDATE orders SET ${assignments}, updated_at = now() WHERE id = $1 AND lease = $2 AND status = $${3 + params.length} RETURNING *`,
      [order.id, order.lease, ...params, PENDING],
    );
    if (!row) throw new LeaseLost(order.id);
    return toOrder(row, order.items);
  }

  private async hydrate(q: Queryable, row: OrderRow): Promise<Order> {
    const items = await q.query<ItemRow>('SELECT * FROM order_items WHERE order_id = $1 ORDER BY product_id', [row.id]);
    return toOrder(row, items);
  }

  /** The outbox row's parameters of the event for an order in the state given. */
  private eventOf(order: OrderEventSource): string[] {
    return outboxEntry({ topic: ORDERS_TOPIC, key: order.id, type: EVENT_TYPES[order.status], source: 'order', data: orderEventData(order) }).params;
  }
}

const toLine = (i: ItemRow): OrderLine => ({ productId: i.product_id, quantity: i.quantity, unitPriceCents: i.unit_price_cents });

/** The order from its row, and its lines as read (rows) or as the lease holder knows them (lines, ordered by product id). */
function toOrder(row: OrderRow, items: readonly ItemRow[] | readonly OrderLine[]): Order {
  const lines: readonly OrderLine[] = items.map((i) => ('product_id' in i ? toLine(i) : i));
  return {
    id: row.id,
    userId: row.user_id,
    status: row.status,
    step: row.step,
    items: lines,
    paymentToken: row.payment_token,
    totalCents: row.total_cents,
    currency: row.currency,
    chargeId: row.charge_id,
    cancelReason: row.cancel_reason,
    refunded: row.charge_refunded,
    lease: row.lease,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
