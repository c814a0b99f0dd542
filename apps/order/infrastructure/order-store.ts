import { randomUUID } from 'node:crypto';
import { recordEvent, type Database, type Queryable } from '../../kit/index.js';
import { orderEventData, type Order, type OrderLine, type OrderStatus, type SagaStep } from '../domain/orders.js';
import { LeaseLost, type ReserveResult, type SagaLog } from '../domain/saga.js';

export const ORDERS_TOPIC = 'orders.events';

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

const EVENT_TYPES: Record<OrderStatus, string> = { PENDING: 'OrderCreated', CONFIRMED: 'OrderConfirmed', CANCELLED: 'OrderCancelled' };

/** Orders, their lines and their events; every state change and its event share one transaction. */
export class OrderStore implements SagaLog {
  constructor(private readonly db: Database) {}

  /** Creates the order with OrderCreated, or returns the one already created under the client's key. */
  create(input: NewOrder): Promise<{ order: Order; created: boolean; requestHash: string }> {
    return this.db.transaction(async (tx) => {
      const id = randomUUID();
      const [row] = await tx.query<OrderRow>(
        `INSERT INTO orders (id, user_id, status, step, payment_token, client_key, request_hash) VALUES ($1, $2, 'PENDING', 'NEW', $3, $4, $5)
         ON CONFLICT (user_id, client_key) DO NOTHING RETURNING *`,
        [id, input.userId, input.paymentToken, input.clientKey ?? null, input.requestHash],
      );
      if (!row) {
        const [existing] = await tx.query<OrderRow>('SELECT * FROM orders WHERE user_id = $1 AND client_key = $2', [input.userId, input.clientKey]);
        return { order: await this.hydrate(tx, existing!), created: false, requestHash: existing!.request_hash };
      }
      for (const item of input.items) {
        await tx.query('INSERT INTO order_items (order_id, product_id, quantity) VALUES ($1, $2, $3)', [id, item.productId, item.quantity]);
      }
      const order = await this.hydrate(tx, row);
      await this.event(tx, order);
      return { order, created: true, requestHash: row.request_hash };
    });
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

  reserved(order: Order, priced: ReserveResult & { ok: true }): Promise<Order> {
    return this.change(order, async (tx) => {
      for (const item of priced.items) {
        await tx.query('UPDATE order_items SET unit_price_cents = $3 WHERE order_id = $1 AND product_id = $2', [order.id, item.productId, item.unitPriceCents]);
      }
      return ["step = 'RESERVED', total_cents = $3, currency = $4", [priced.totalCents, priced.currency]];
    });
  }

  charging(order: Order): Promise<Order> {
    return this.change(order, async () => ["step = 'CHARGING'", []]);
  }

  charged(order: Order, chargeId: string): Promise<Order> {
    return this.change(order, async () => ["step = 'CHARGED', charge_id = $3", [chargeId]]);
  }

  confirmed(order: Order): Promise<Order> {
    return this.finish(order, 'CONFIRMED', null, false);
  }

  cancelled(order: Order, reason: string, refunded: boolean): Promise<Order> {
    return this.finish(order, 'CANCELLED', reason, refunded);
  }

  compensationPending(order: Order, reason: string): Promise<Order> {
    return this.change(order, async () => ['cancel_reason = $3', [reason]]);
  }

  async current(orderId: string): Promise<Order> {
    const order = await this.find(orderId);
    if (!order) throw new Error(`order ${orderId} vanished`);
    return order;
  }

  /** Ends the order and emits its event, only while `order.lease` still holds it PENDING. */
  private finish(order: Order, status: 'CONFIRMED' | 'CANCELLED', reason: string | null, refunded: boolean): Promise<Order> {
    return this.db.transaction(async (tx) => {
      const [row] = await tx.query<OrderRow>(
        `UPDATE orders SET status = $3, cancel_reason = $4, charge_refunded = $5, updated_at = now()
         WHERE id = $1 AND lease = $2 AND status = 'PENDING' RETURNING *`,
        [order.id, order.lease, status, reason, refunded],
      );
      if (!row) throw new LeaseLost(order.id);
      const ended = await this.hydrate(tx, row);
      await this.event(tx, ended);
      return ended;
    });
  }

  /** One saga step: a compare-and-set on the lease, which it also renews (updated_at). */
  private change(order: Order, apply: (tx: Queryable) => Promise<[string, unknown[]]>): Promise<Order> {
    return this.db.transaction(async (tx) => {
      // Lock and compare first, so the item updates of `apply` never touch an order we do not hold.
      const [held] = await tx.query<{ id: string }>("SELECT id FROM orders WHERE id = $1 AND lease = $2 AND status = 'PENDING' FOR UPDATE", [
        order.id,
        order.lease,
      ]);
      if (!held) throw new LeaseLost(order.id);
      const [assignments, params] = await apply(tx);
      const [row] = await tx.query<OrderRow>(`UPDATE orders SET ${assignments}, updated_at = now() WHERE id = $1 AND lease = $2 RETURNING *`, [
        order.id,
        order.lease,
        ...params,
      ]);
      return this.hydrate(tx, row!);
    });
  }

  private async hydrate(q: Queryable, row: OrderRow): Promise<Order> {
    const items = await q.query<ItemRow>('SELECT * FROM order_items WHERE order_id = $1 ORDER BY product_id', [row.id]);
    return toOrder(row, items);
  }

  private async event(tx: Queryable, order: Order): Promise<void> {
    await recordEvent(tx, { topic: ORDERS_TOPIC, key: order.id, type: EVENT_TYPES[order.status], source: 'order', data: orderEventData(order) });
  }
}

function toOrder(row: OrderRow, items: readonly ItemRow[]): Order {
  const lines: OrderLine[] = items.map((i) => ({ productId: i.product_id, quantity: i.quantity, unitPriceCents: i.unit_price_cents }));
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
