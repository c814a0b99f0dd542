import { orderEventTypes, type OrderEventData } from '../../../contract/order-events.js';
import type { EventEnvelope } from '../../kit/index.js';

export type { OrderEventData };

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
    case orderEventTypes.created:
      return `We received your order ${short}.`;
    case orderEventTypes.confirmed:
      return `Your order ${short} is confirmed${money(totalCents, currency)}.`;
    case orderEventTypes.cancelled:
      return `Your order ${short} was cancelled: ${REASONS[reason ?? ''] ?? 'it could not be completed'}. ${refunded ? `Your payment${money(totalCents, currency)} has been refunded in full.` : 'You have not been charged.'}`;
    default:
      return undefined;
  }
}
