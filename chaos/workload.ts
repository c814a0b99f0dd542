import { randomUUID } from 'node:crypto';
import { callOf, smokeApi } from '../cli/smoke.js';
import { notification, order, product, type ApiRoute } from '../contract/index.js';
import type { AnswerEvent, ClientRetryPolicy, LoadTarget } from '../load/generator.js';
import { loadAgent, send, type Answer, type PreparedRequest } from '../load/http.js';
import { checkTarget, type AllowedTarget } from '../load/targets.js';

/** A shop user the load acts as: registered and logged in through the edge. */
export interface ShopUser {
  readonly email: string;
  readonly id: string;
  readonly token: string;
}

export interface OrderView {
  readonly id: string;
  readonly status: 'PENDING' | 'CONFIRMED' | 'CANCELLED';
  readonly cancelReason: string | null;
  readonly items: readonly { productId: string; quantity: number }[];
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface NotificationView {
  readonly id: string;
  readonly type: string;
  readonly orderId: string;
  readonly createdAt: string;
}

/** An order the load placed, as its answer told it. */
export interface PlacedOrder {
  readonly target: string;
  readonly phase: string;
  readonly user: number;
  readonly httpStatus: number;
  readonly orderId: string | undefined;
  readonly status: string | undefined;
}

type Json = Record<string, unknown>;

const asJson = (body: unknown): Json => (typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Json) : {});

/** A listing route's first page of 100, the most a listing returns. */
const listing = (route: ApiRoute): PreparedRequest => {
  const call = callOf(route);
  return { method: call.method, path: `${call.path}?limit=100` };
};

/** Orders listed per user at most (GET /orders caps `limit` at 100); the load spreads orders so no user exceeds it. */
export const ordersPerUser = 40;

/**
 * The shop's public API as the chaos scenarios drive it through the edge (the kind gateway
 * or the local edge): users, products, orders, notifications. Request shapes come from the
 * smoke test's `smokeApi` (cli/smoke.ts), so both agree with the services.
 */
export class ShopWorkload {
  readonly target: AllowedTarget;
  private readonly agent = loadAgent(8);
  /** Every order answer the order targets saw, in arrival order. */
  readonly placed: PlacedOrder[] = [];
  /** POST /orders requests sent, by target and user index (answered or not). */
  readonly sentByTarget = new Map<string, number[]>();

  constructor(
    readonly baseUrl: string,
    private readonly requestTimeoutMs = 15_000,
  ) {
    this.target = checkTarget(baseUrl);
  }

  close(): void {
    this.agent.destroy();
  }

  /** One request outside the load (setup and verification); never rejects, status 0 on failure. */
  call(request: PreparedRequest, timeoutMs = this.requestTimeoutMs): Promise<Answer> {
    return send(this.target, request, { timeoutMs, agent: this.agent });
  }

  private async must(request: PreparedRequest, expect: readonly number[], what: string): Promise<Json> {
    let answer = await this.call(request);
    // A read of the verification may meet the shop still busy with the load (a gateway 503/504): it is asked again, never judged.
    for (let retry = 0; request.method === 'GET' && retry < readRetries && (answer.status === 0 || answer.status >= 502); retry++) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      answer = await this.call(request);
    }
    if (!expect.includes(answer.status)) {
      const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
      throw new Error(
        `${what}: ${request.method} ${request.path} answered ${answer.status === 0 ? (answer.error ?? 'nothing') : answer.status} ${text.slice(0, 200)}`,
      );
    }
    return asJson(answer.body);
  }

  /** Registers and logs in `count` fresh users (a few at a time: password hashing is slow on purpose). */
  async users(count: number, label: string): Promise<ShopUser[]> {
    const run = randomUUID().slice(0, 8);
    const made: ShopUser[] = [];
    for (let start = 0; start < count; start += 4) {
      const batch = Array.from({ length: Math.min(4, count - start) }, async (_, i) => {
        const email = `chaos-${label}-${run}-${start + i}@example.com`;
        const password = `Chaos-${randomUUID()}`;
        const registered = await this.must(smokeApi.register(email, password), [201], `register ${email}`);
        const loggedIn = await this.must(smokeApi.login(email, password), [200, 201], `log in ${email}`);
        const id = smokeApi.userId(registered);
        const token = smokeApi.accessToken(loggedIn);
        if (!id || !token) throw new Error(`register/log in ${email}: no user id or access token in the answers`);
        return { email, id, token };
      });
      made.push(...(await Promise.all(batch)));
    }
    return made;
  }

  /** Products with their available stock. */
  async products(): Promise<{ id: string; available: number }[]> {
    const body = await this.must(listing(product.routes.list), [200], 'list products');
    return (smokeApi.products(body) ?? []).map((p) => ({ id: p.id, available: p.available ?? 0 }));
  }

  /** Up to 100 most recent orders of a user. */
  async ordersOf(user: ShopUser): Promise<OrderView[]> {
    const body = await this.must({ ...listing(order.routes.list), headers: bearer(user) }, [200], `list orders of ${user.email}`);
    return (body.orders as OrderView[] | undefined) ?? [];
  }

  /** Up to 100 most recent notifications of a user. */
  async notificationsOf(user: ShopUser): Promise<NotificationView[]> {
    const body = await this.must({ ...listing(notification.routes.list), headers: bearer(user) }, [200], `list notifications of ${user.email}`);
    return (smokeApi.notifications(body) as NotificationView[] | undefined) ?? [];
  }

  /**
   * POST /orders as a load target: one unit of the product with the most stock left per
   * order, users taken in turn. Success means the order was CONFIRMED unless `succeeded`
   * says otherwise. Every answer is remembered in `placed`.
   */
  ordersTarget(options: {
    readonly name: string;
    readonly users: readonly ShopUser[];
    readonly stock: StockPlan;
    /** @default 'tok_visa' (approved) */
    readonly paymentToken?: string;
    /** Send an Idempotency-Key (one per order request). @default false */
    readonly idempotencyKey?: boolean;
    /** Virtual host at the gateway (a chaos host). @default - the base URL's host */
    readonly host?: string;
    readonly retry?: ClientRetryPolicy;
    readonly weight?: number;
    readonly succeeded?: (answer: Answer) => boolean;
  }): LoadTarget {
    const { users } = options;
    if (users.length === 0) throw new Error(`orders target '${options.name}' has no users`);
    const sent = users.map(() => 0);
    this.sentByTarget.set(options.name, sent);
    return {
      name: options.name,
      weight: options.weight,
      retry: options.retry,
      prepare: (seq) => {
        const user = seq % users.length;
        sent[user] = (sent[user] ?? 0) + 1;
        const productId = options.stock.take();
        const call = smokeApi.placeOrder(productId);
        return {
          method: call.method,
          path: call.path,
          body: { ...(call.body as Json), paymentToken: options.paymentToken ?? 'tok_visa' },
          host: options.host,
          headers: { ...bearer(users[user]!), ...(options.idempotencyKey ? { 'idempotency-key': randomUUID() } : {}) },
        };
      },
      succeeded: options.succeeded ?? orderConfirmed,
      describe: describeOrderAnswer,
      onAnswer: (event: AnswerEvent) => {
        const body = asJson(event.answer.body);
        this.placed.push({
          target: event.target,
          phase: event.phase,
          user: event.seq % users.length,
          httpStatus: event.answer.status,
          orderId: event.answer.status >= 200 && event.answer.status < 300 ? smokeApi.orderId(body) : undefined,
          status: smokeApi.orderStatus(body),
        });
      },
    };
  }

  /**
   * Polls the orders of `users` until none is PENDING or `timeoutMs` passed (the order
   * service's recovery sweep finishes compensations of stale orders). Returns the last listing.
   */
  async settle(users: readonly ShopUser[], timeoutMs: number, sleep: (ms: number) => Promise<void>, now: () => number = Date.now): Promise<OrderView[]> {
    const deadline = now() + timeoutMs;
    for (;;) {
      const orders = (await inBatches(users, (u) => this.ordersOf(u))).flat();
      if (!orders.some((o) => o.status === 'PENDING') || now() >= deadline) return orders;
      await sleep(1_000);
    }
  }
}

export const bearer = (user: ShopUser): Record<string, string> => ({ authorization: `Bearer ${user.token}` });

/** Times a verification read answered 502/503/504 or nothing is asked again (1 s apart). */
const readRetries = 3;

/** Verification reads at most this many at a time: a hundred listings at once would be a load of their own (504s on the mesh, 2026-12-02). */
const readConcurrency = 8;

/** `read` of every item, `readConcurrency` at a time, results in order. */
export async function inBatches<T, R>(items: readonly T[], read: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let start = 0; start < items.length; start += readConcurrency)
    results.push(...(await Promise.all(items.slice(start, start + readConcurrency).map(read))));
  return results;
}

/** `201 CONFIRMED`, `201 CANCELLED STEP_FAILED`, `202 PENDING`, `504`: an order answer for the failure tallies. */
export function describeOrderAnswer(answer: Answer): string {
  const body = asJson(answer.body);
  const status = smokeApi.orderStatus(body);
  if (!status) return String(answer.status);
  const reason = typeof body.cancelReason === 'string' ? ` ${body.cancelReason}` : '';
  return `${answer.status} ${status}${reason}`;
}

/** An order answer that is a confirmed order (201 CONFIRMED, or 200 for a repeated key). */
export function orderConfirmed(answer: Answer): boolean {
  return (answer.status === 201 || answer.status === 200) && smokeApi.orderStatus(asJson(answer.body)) === 'CONFIRMED';
}

/** An order answer the shop gave within its budget: an order that reached an end (201) or is being compensated (202). */
export function orderAnswered(answer: Answer): boolean {
  return answer.status === 201 || answer.status === 202 || answer.status === 200;
}

/**
 * Which product each order takes: the one with the most stock left, counting what this
 * run already ordered, so a run never orders more than there is.
 */
export class StockPlan {
  private readonly left: Map<string, number>;

  constructor(products: readonly { id: string; available: number }[]) {
    this.left = new Map(products.map((p) => [p.id, p.available]));
  }

  get total(): number {
    return [...this.left.values()].reduce((a, b) => a + Math.max(0, b), 0);
  }

  take(): string {
    let best: string | undefined;
    let most = 0;
    for (const [id, n] of this.left) {
      if (n > most) {
        best = id;
        most = n;
      }
    }
    if (!best) throw new Error('the run has ordered all the stock there was');
    this.left.set(best, most - 1);
    return best;
  }
}

/** Users needed so that no user gets more than `ordersPerUser` of `orders` orders. */
export function usersFor(orders: number): number {
  return Math.max(1, Math.ceil(orders / ordersPerUser));
}
