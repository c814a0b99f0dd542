import { orderEventDataSchema, orderEventVersion } from './order-events.js';
import type { ServiceName } from './services.js';

export interface TopicContract {
  readonly name: string;
  readonly producers: readonly ServiceName[];
  readonly consumers: readonly ServiceName[];
  /** Consumers of the topic scale up to this many members of one group. */
  readonly partitions: number;
  /** What travels on it. */
  readonly summary: string;
}

/** A topic whose events the contract describes: version and JSON schema of the payload. */
export interface EventTopicContract extends TopicContract {
  readonly version: number;
  readonly dataSchema: object;
}

export const ordersEvents = {
  name: 'orders.events',
  producers: ['order'],
  consumers: ['notification'],
  partitions: 3,
  summary: 'OrderCreated, OrderConfirmed, OrderCancelled (v1 JSON, event id)',
  version: orderEventVersion,
  dataSchema: orderEventDataSchema,
} as const satisfies EventTopicContract;

export const paymentsEvents = {
  name: 'payments.events',
  producers: ['payment'],
  consumers: [],
  partitions: 3,
  summary: 'PaymentCharged, PaymentRefunded (v1 JSON, event id)',
} as const satisfies TopicContract;

export const notificationsDeadLetters = {
  name: 'notifications.dlq',
  producers: ['notification'],
  consumers: [],
  partitions: 1,
  summary: 'order events notification could not process (poison messages)',
} as const satisfies TopicContract;

export const topics: readonly TopicContract[] = [ordersEvents, paymentsEvents, notificationsDeadLetters];
