import type { EventEnvelope } from '../../kit/index.js';

/** The part of an orders.events payload (v1) notifications need. */
export interface OrderEventData {
  readonly orderId: string;
  readonly userId: string;
  readonly status: string;
  readonly totalCents: number | null;
  readonly currency: string | null;
  readonly reason?: string | null;
  /** OrderCancelled: the charge had gone through and was refunded in full. */
  readonly refunded?: boolean;
}

export interface Notification {
  readonly id: string;
  readonly userId: string;
  readonly orderId: string;
  readonly eventId: string;
  readonly type: string;
  readonly message: string;
  readonly createdAt: Date;
}

const money = (cents: number | null, currency: string | null) => (cents === null || currency === null ? '' : ` (${(cents / 100).toFixed(2)} ${currency})`);

/** Reasons from the order saga, in words a customer understands. */
const REASONS: Record<string, string> = {
  PAYMENT_DECLINED: 'the payment was declined',
  INSUFFICIENT_STOCK: 'an item is out of stock',
  UNKNOWN_PRODUCT: 'an item is no longer sold',
  USER_NOT_FOUND: 'the account was not found',
};

/**
 * The message for an order event, or undefined for event types this service
 * does not notify about (newer producers may add types; they are skipped, not failed).
 */
export function messageFor(event: EventEnvelope<OrderEventData>): string | undefined {
  const { orderId, totalCents, currency, reason, refunded } = event.data;
  const short = orderId.slice(0, 8);
  switch (event.type) {
    case 'OrderCreated':
      return `We received your order ${short}.`;
    case 'OrderConfirmed':
      return `Your order ${short} is confirmed${money(totalCents, currency)}.`;
    case 'OrderCancelled':
      return `Your order ${short} was cancelled: ${REASONS[reason ?? ''] ?? 'it could not be completed'}. ${refunded ? `Your payment${money(totalCents, currency)} has been refunded in full.` : 'You have not been charged.'}`;
    default:
      return undefined;
  }
}
