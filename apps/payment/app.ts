import { outboxWorkers, type ServiceDefinition } from '../kit/index.js';
import { Payments } from './domain/payments.js';
import { migrations } from './infrastructure/migrations.js';
import { PAYMENTS_TOPIC, PgPaymentStore } from './infrastructure/payment-store.js';
import { chargeRoutes } from './routes/charges.js';

/** payment: charges and refunds behind idempotency keys; PaymentCharged/PaymentRefunded via the outbox. */
export const paymentService: ServiceDefinition = {
  name: 'payment',
  migrations,
  create(ctx) {
    const payments = new Payments(new PgPaymentStore(ctx.db));
    return { routes: chargeRoutes(payments), workers: outboxWorkers(ctx, [PAYMENTS_TOPIC]) };
  },
};
