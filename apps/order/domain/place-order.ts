import { createHash } from 'node:crypto';
import { OrderKeyReusedError, OrderNotFoundError, type Order } from './orders.js';
import type { OrderSaga } from './saga.js';

export interface PlaceOrder {
  readonly items: ReadonlyArray<{ productId: string; quantity: number }>;
  /** Payment method token handed to the payment service (tok_decline is declined there). */
  readonly paymentToken: string;
}

/** Storage the use cases need; implemented by infrastructure/order-store.ts. */
export interface OrderRepository {
  create(input: {
    userId: string;
    items: PlaceOrder['items'];
    paymentToken: string;
    clientKey: string | undefined;
    requestHash: string;
  }): Promise<{ order: Order; created: boolean; requestHash: string }>;
  find(id: string): Promise<Order | undefined>;
  listByUser(userId: string, limit: number): Promise<Order[]>;
}

/** Same items (in any order) and same token: the same order request. */
export function orderRequestHash(input: PlaceOrder): string {
  const items = [...input.items].map((i) => `${i.productId}:${i.quantity}`).sort();
  return createHash('sha256')
    .update(JSON.stringify({ items, paymentToken: input.paymentToken }))
    .digest('hex');
}

export class Orders {
  constructor(
    private readonly repository: OrderRepository,
    private readonly saga: OrderSaga,
  ) {}

  /**
   * Creates the order (PENDING, OrderCreated) and runs the saga to its end. With a
   * client idempotency key, a repeat returns the order the first request made.
   */
  async place(userId: string, input: PlaceOrder, clientKey: string | undefined): Promise<{ order: Order; created: boolean }> {
    const requestHash = orderRequestHash(input);
    const {
      order,
      created,
      requestHash: stored,
    } = await this.repository.create({ userId, items: input.items, paymentToken: input.paymentToken, clientKey, requestHash });
    if (!created) {
      if (stored !== requestHash) throw new OrderKeyReusedError();
      return { order, created };
    }
    return { order: await this.saga.run(order), created };
  }

  /** Someone else's order is as invisible as a missing one. */
  async get(userId: string, id: string): Promise<Order> {
    const order = await this.repository.find(id);
    if (!order || order.userId !== userId) throw new OrderNotFoundError(id);
    return order;
  }

  list(userId: string, limit: number): Promise<Order[]> {
    return this.repository.listByUser(userId, limit);
  }
}
