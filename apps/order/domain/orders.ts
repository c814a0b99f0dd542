import type { OrderEventData } from '../../../contract/order-events.js';
import { ConflictError, NotFoundError } from '../../kit/index.js';

export type OrderStatus = 'PENDING' | 'CONFIRMED' | 'CANCELLED';

/**
 * How far the saga got, so compensation knows what may need undoing:
 * NEW (nothing held) -> RESERVED (stock held) -> CHARGING (a charge may exist)
 * -> CHARGED (charge id known). A PENDING order with a cancel reason is one
 * whose compensation has not finished yet; the recovery sweep finishes it.
 * The whole state machine: apps/order/README.md.
 */
export type SagaStep = 'NEW' | 'RESERVED' | 'CHARGING' | 'CHARGED';

export interface OrderLine {
  readonly productId: string;
  readonly quantity: number;
  /** Price from the reservation; null until stock is reserved. */
  readonly unitPriceCents: number | null;
}

export interface Order {
  readonly id: string;
  readonly userId: string;
  readonly status: OrderStatus;
  readonly step: SagaStep;
  readonly items: readonly OrderLine[];
  readonly paymentToken: string;
  readonly totalCents: number | null;
  readonly currency: string | null;
  readonly chargeId: string | null;
  /** Why it was (or is being) cancelled: a stable code such as PAYMENT_DECLINED. */
  readonly cancelReason: string | null;
  /** A cancelled order whose charge went through and was refunded. */
  readonly refunded: boolean;
  /**
   * The lease token of whoever may move this order while it is PENDING: the saga that
   * created it, or the recovery sweep that took it over. Every saga write compares it.
   */
  readonly lease: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export class OrderNotFoundError extends NotFoundError {
  constructor(id: string) {
    super('ORDER_NOT_FOUND', `order ${id} does not exist`);
  }
}

export class OrderKeyReusedError extends ConflictError {
  constructor() {
    super('IDEMPOTENCY_KEY_REUSED', 'this idempotency key was used for a different order; use a new key for a new order');
  }
}

export const orderView = (o: Order) => ({
  id: o.id,
  userId: o.userId,
  status: o.status,
  cancelReason: o.status === 'CONFIRMED' ? null : o.cancelReason,
  items: o.items.map((i) => ({ productId: i.productId, quantity: i.quantity, unitPriceCents: i.unitPriceCents })),
  totalCents: o.totalCents,
  currency: o.currency,
  chargeId: o.chargeId,
  createdAt: o.createdAt.toISOString(),
  updatedAt: o.updatedAt.toISOString(),
});

/** What an order event says about the order. */
export type OrderEventSource = Pick<Order, 'id' | 'userId' | 'status' | 'totalCents' | 'currency' | 'items' | 'cancelReason' | 'refunded'>;

/** Event payload on orders.events (v1, contract/order-events.ts), shared by OrderCreated, OrderConfirmed and OrderCancelled. */
export const orderEventData = (o: OrderEventSource): OrderEventData => ({
  orderId: o.id,
  userId: o.userId,
  status: o.status,
  totalCents: o.totalCents,
  currency: o.currency,
  items: o.items.map((i) => ({ productId: i.productId, quantity: i.quantity })),
  ...(o.status === 'CANCELLED' ? { reason: o.cancelReason, refunded: o.refunded } : {}),
});
