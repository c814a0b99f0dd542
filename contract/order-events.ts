/**
 * orders.events v1: what the order service publishes (apps/order/domain/orders.ts builds it) and the
 * notification service consumes (apps/notification validates it against `orderEventDataSchema`).
 * The envelope (event id, type, version, source, time) is the kit's, the same on every topic.
 */

export const orderEventVersion = 1;

export const orderEventTypes = { created: 'OrderCreated', confirmed: 'OrderConfirmed', cancelled: 'OrderCancelled' } as const;

export type OrderEventType = (typeof orderEventTypes)[keyof typeof orderEventTypes];

/** The payload shared by every order event type. */
export interface OrderEventData {
  readonly orderId: string;
  readonly userId: string;
  /** PENDING, CONFIRMED or CANCELLED; a consumer must tolerate a newer status. */
  readonly status: string;
  readonly totalCents: number | null;
  readonly currency: string | null;
  readonly items?: ReadonlyArray<{ readonly productId: string; readonly quantity: number }>;
  /** OrderCancelled: why, as the saga's reason code. */
  readonly reason?: string | null;
  /** OrderCancelled: the charge had gone through and was refunded in full. */
  readonly refunded?: boolean;
}

const uuid = { type: 'string', pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' } as const;

/** JSON schema of `OrderEventData`: what a consumer may rely on; anything else is a poison message. */
export const orderEventDataSchema = {
  type: 'object',
  required: ['orderId', 'userId', 'status'],
  properties: {
    orderId: uuid,
    userId: uuid,
    status: { type: 'string' },
    totalCents: { type: ['integer', 'null'] },
    currency: { type: ['string', 'null'] },
    items: {
      type: 'array',
      items: { type: 'object', required: ['productId', 'quantity'], properties: { productId: { type: 'string' }, quantity: { type: 'integer' } } },
    },
    reason: { type: ['string', 'null'] },
    refunded: { type: 'boolean' },
  },
} as const;
