import { notificationsDeadLetters, ordersEvents } from '../../contract/topics.js';
import { createProducer, kafkaDeadLetters, KafkaConsumerWorker, type ServiceDefinition, type Worker } from '../kit/index.js';
import { migrations } from './infrastructure/migrations.js';
import { orderEventProcessor } from './infrastructure/order-events.js';
import { notificationRoutes } from './routes/notifications.js';

/** notification: one notification per order event, deduplicated by event id; poison messages to the DLQ. */
export const notificationService: ServiceDefinition = {
  name: 'notification',
  migrations,
  create({ db, logger, kafka, config, metrics }) {
    const workers: Worker[] = [];
    if (kafka && config.kafka) {
      const producer = createProducer(kafka);
      const topics = config.kafka.consumeTopics.length > 0 ? config.kafka.consumeTopics : [ordersEvents.name];
      const processor = orderEventProcessor(
        db,
        logger.child({ component: 'consumer' }),
        kafkaDeadLetters(producer, notificationsDeadLetters.name),
        metrics.registry,
      );
      workers.push(
        new KafkaConsumerWorker({ kafka, groupId: config.kafka.groupId, topics, producer, processor, logger: logger.child({ component: 'consumer' }) }),
      );
    } else {
      logger.warn('KAFKA_BROKERS is unset: not consuming order events');
    }
    return { routes: notificationRoutes(db), workers };
  },
};
