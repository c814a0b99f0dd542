import { envelopeSchema, EventProcessor, type Database, type DeadLetter, type Logger } from '../../kit/index.js';
import type { Registry } from 'prom-client';
import type { OrderEventData } from '../domain/notifications.js';
import { storeNotification, storeNotifications } from './notification-store.js';

const uuid = envelopeSchema.properties.eventId;

/** orders.events v1 as this consumer needs it; anything else is a poison message. */
export const orderEventSchema = {
  ...envelopeSchema,
  properties: {
    ...envelopeSchema.properties,
    version: { const: 1 },
    data: {
      type: 'object',
      required: ['orderId', 'userId', 'status'],
      properties: {
        orderId: uuid,
        userId: uuid,
        status: { type: 'string' },
        totalCents: { type: ['integer', 'null'] },
        currency: { type: ['string', 'null'] },
        reason: { type: ['string', 'null'] },
        refunded: { type: 'boolean' },
      },
    },
  },
} as const;

export function orderEventProcessor(
  db: Database,
  logger: Logger,
  deadLetter: (letter: DeadLetter) => Promise<void>,
  registry?: Registry,
): EventProcessor<OrderEventData> {
  return new EventProcessor<OrderEventData>({
    db,
    logger,
    schema: orderEventSchema,
    handle: storeNotification,
    handleBatch: storeNotifications,
    deadLetter,
    ...(registry ? { registry } : {}),
  });
}
