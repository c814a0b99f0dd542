import { serviceUrlEnv } from '../../contract/env.js';
import { payment, product, user } from '../../contract/services.js';
import { outboxWorkers, ServiceClient, type ServiceDefinition } from '../kit/index.js';
import { Orders } from './domain/place-order.js';
import { OrderSaga } from './domain/saga.js';
import { migrations } from './infrastructure/migrations.js';
import { ORDERS_TOPIC, OrderStore } from './infrastructure/order-store.js';
import { HttpParticipants } from './infrastructure/participants.js';
import { RecoverySweep } from './infrastructure/recovery-sweep.js';
import { orderRoutes } from './routes/orders.js';

export interface OrderSettings {
  readonly userUrl: string;
  readonly productUrl: string;
  readonly paymentUrl: string;
  readonly sweepIntervalMs: number;
  readonly staleOrderMs: number;
}

/** order: orders and the order saga (user -> product -> payment), events through the outbox. */
export const orderService: ServiceDefinition<OrderSettings> = {
  name: 'order',
  migrations,
  readSettings: (env) => ({
    userUrl: env.httpUrl(serviceUrlEnv(user.name)),
    productUrl: env.httpUrl(serviceUrlEnv(product.name)),
    paymentUrl: env.httpUrl(serviceUrlEnv(payment.name)),
    sweepIntervalMs: env.int('SWEEP_INTERVAL_MS', 10_000, { min: 100, max: 3_600_000 }),
    // Well above the longest saga (four calls and three compensations at the client timeout each).
    // A saga paused longer loses its lease to the sweep and stops: shorter only cancels more orders.
    staleOrderMs: env.int('STALE_ORDER_MS', 60_000, { min: 1_000, max: 86_400_000 }),
  }),
  create(ctx) {
    const { settings, config, db, logger } = ctx;
    const timeout = config.httpClientTimeoutMs;
    const participants = new HttpParticipants(
      new ServiceClient(user.name, settings.userUrl, timeout),
      new ServiceClient(product.name, settings.productUrl, timeout),
      new ServiceClient(payment.name, settings.paymentUrl, timeout),
    );
    const store = new OrderStore(db);
    const saga = new OrderSaga(participants, store, logger.child({ component: 'saga' }));
    const sweep = new RecoverySweep({
      store,
      saga,
      logger: logger.child({ component: 'recovery-sweep' }),
      intervalMs: settings.sweepIntervalMs,
      staleMs: settings.staleOrderMs,
    });
    return { routes: orderRoutes(new Orders(store, saga)), workers: [sweep, ...outboxWorkers(ctx, [ORDERS_TOPIC])] };
  },
};
