import { createProducer, kafkaDeadLetters, KafkaConsumerWorker, type ServiceDefinition, type Worker } from '../kit/index.js';
import { migrations } from './infrastructure/migrations.js';
import { orderEventProcessor } from './infrastructure/order-events.js';
import { notificationRoutes } from './routes/notifications.js';

export const ORDER_EVENTS_TOPIC = 'orders.events';
export const DEAD_LETTER_TOPIC = 'notifications.dlq';

/** notification: one notification per order event, deduplicated by event id; poison messages to the DLQ. */
export const notificationService: ServiceDefinition = {
  name: 'notification',
  migrations,
  create({ db, logger, kafka, config, metrics }) {
    const workers: Worker[] = [];
    if (kafka && config.kafka) {
      const producer = createProducer(kafka);
      const topics = config.kafka.consumeTopics.length > 0 ? config.kafka.consumeTopics : [ORDER_EVENTS_TOPIC];
      const processor = orderEventProcessor(db, logger.child({ component: 'consumer' }), kafkaDeadLetters(producer, DEAD_LETTER_TOPIC), metrics.registry);
      workers.push(
        new KafkaConsumerWorker({ kafka, groupId: config.kafka.groupId, topics, producer, processor, logger: logger.child({ component: 'consumer' }) }),
      );
    } else {
      logger.warn('KAFKA_BROKERS is unset: not consuming order events');
    }
    return { routes: notificationRoutes(db), workers };
  },
};
