import { envelopeSchema, EventProcessor, type Database, type DeadLetter, type Logger } from '../../kit/index.js';
import type { Registry } from 'prom-client';
import { ordersEvents, type OrderEventData } from '../../../contract/index.js';
import { storeNotification, storeNotifications } from './notification-store.js';

/** orders.events in the kit's envelope, at the version the contract declares; anything else is a poison message. */
export const orderEventSchema = {
  ...envelopeSchema,
  properties: { ...envelopeSchema.properties, version: { const: ordersEvents.version }, data: ordersEvents.dataSchema },
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
