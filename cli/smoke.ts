import { randomUUID } from 'node:crypto';
import { idempotencyKeyHeader } from '../contract/headers.js';
import { pathOf, type RouteDeclaration } from '../contract/route.js';
import { notification, order, product, user } from '../contract/services.js';
import { formatDuration } from './plan.js';

interface ApiCall {
  readonly method: RouteDeclaration['method'];
  readonly path: string;
  readonly body?: unknown;
  /** Statuses that count as success. */
  readonly expect: readonly number[];
}

type Json = Record<string, unknown>;

/** Method and concrete path of a contract route. */
export const callOf = (route: RouteDeclaration, params?: Readonly<Record<string, string>>) => ({ method: route.method, path: pathOf(route, params) });

/** "POST /orders", for messages. */
export const named = (route: RouteDeclaration) => `${route.method} ${route.path}`;

/**
 * The shop's public API as the smoke test drives it: routes from the contract (contract/services.ts),
 * bodies and answers from apps/user/routes (users, sessions), apps/product/routes/products.ts,
 * apps/order/routes/orders.ts (201 settled, 202 compensating, 200 repeat) and
 * apps/notification/routes/notifications.ts. Everything the smoke test assumes about the API
 * is in this object; adjust it here when a route or a shape changes.
 */
export const smokeApi = {
  register: (email: string, password: string): ApiCall => ({ ...callOf(user.routes.register), body: { email, password, name: 'Smoke Test' }, expect: [201] }),
  login: (email: string, password: string): ApiCall => ({ ...callOf(user.routes.login), body: { email, password }, expect: [200, 201] }),
  listProducts: (): ApiCall => ({ ...callOf(product.routes.list), expect: [200] }),
  // Payment test tokens other than tok_decline / tok_insufficient_funds are approved (apps/payment/domain/payments.ts).
  placeOrder: (productId: string): ApiCall => ({
    ...callOf(order.routes.place),
    body: { items: [{ productId, quantity: 1 }], paymentToken: 'tok_visa' },
    expect: [200, 201, 202],
  }),
  getOrder: (id: string): ApiCall => ({ ...callOf(order.routes.get, { id }), expect: [200] }),
  listNotifications: (): ApiCall => ({ ...callOf(notification.routes.list), expect: [200] }),

  userId: (body: Json) => body.id as string | undefined,
  accessToken: (body: Json) => body.accessToken as string | undefined,
  products: (body: Json | unknown[]) =>
    (Array.isArray(body) ? body : (body.products as unknown[] | undefined)) as { id: string; available?: number }[] | undefined,
  orderId: (body: Json) => (body.id ?? (body.order as Json | undefined)?.id) as string | undefined,
  orderStatus: (body: Json) => (body.status ?? (body.order as Json | undefined)?.status) as string | undefined,
  /** Notifications as a list, whatever the envelope; one "about" the order mentions its id. */
  notifications: (body: Json | unknown[]) => (Array.isArray(body) ? body : ((body.notifications ?? body.items) as unknown[] | undefined)) ?? [],
} as const;

export interface SmokeResult {
  readonly name: string;
  readonly outcome: 'pass' | 'fail' | 'skip';
  readonly ms: number;
  readonly detail: string;
}

export interface SmokeOptions {
  /** The ingress gateway, `http://localhost:8080` on kind. */
  readonly baseUrl: string;
  readonly fetch?: typeof fetch;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** How long the order may take to settle and its notification to arrive (saga + Kafka). */
  readonly settleTimeoutMs?: number;
  readonly pollMs?: number;
  readonly requestTimeoutMs?: number;
}

class SmokeFailure extends Error {}

interface Response {
  readonly status: number;
  readonly body: unknown;
  readonly server: string | null;
}

/** What an unexpected answer usually means when it comes from the Istio ingress gateway. */
function hint(status: number, server: string | null, body: unknown): string {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  if (status === 404 && server === 'istio-envoy' && !text)
    return ' (no route on the ingress gateway for this path: the Gateway and VirtualServices must expose it)';
  if (status === 503 && /no healthy upstream/.test(text)) return ' (the service has no ready pods: `make status`)';
  if (status === 401 || status === 403) return ' (the gateway or the service refused the credentials: RequestAuthentication / AuthorizationPolicy)';
  return '';
}

/**
 * Drives the shop end to end through the ingress gateway: register, log in, list products,
 * place an order, wait until the saga settles it, and wait for the notification the
 * order's Kafka event produces. Each check passes, fails with the answer that broke it,
 * or is skipped because an earlier one failed.
 */
export async function smoke(options: SmokeOptions): Promise<SmokeResult[]> {
  const doFetch = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const settleTimeoutMs = options.settleTimeoutMs ?? 60_000;
  const pollMs = options.pollMs ?? 1_000;
  let token: string | undefined;

  async function call(api: ApiCall): Promise<Json> {
    let response: Response;
    try {
      const res = await doFetch(new URL(api.path, options.baseUrl), {
        method: api.method,
        headers: {
          accept: 'application/json',
          ...(api.body !== undefined && { 'content-type': 'application/json' }),
          ...(token && { authorization: `Bearer ${token}` }),
          // One key per order attempt: a client retry of the same request would reuse it.
          ...(api.method === order.routes.place.method && api.path === order.routes.place.path && { [idempotencyKeyHeader]: randomUUID() }),
        },
        body: api.body === undefined ? undefined : JSON.stringify(api.body),
        signal: AbortSignal.timeout(options.requestTimeoutMs ?? 10_000),
      });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = text ? JSON.parse(text) : '';
      } catch {
        // not JSON (an Envoy error page): keep the text
      }
      response = { status: res.status, body, server: res.headers.get('server') };
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error instanceof Error ? error.message : String(error));
      throw new SmokeFailure(
        `${api.method} ${api.path}: no answer (${cause})` +
          (cause === 'ECONNREFUSED' ? `: nothing listens on ${options.baseUrl}; \`make status\` shows whether the cluster and the ingress gateway are up` : ''),
      );
    }
    if (!api.expect.includes(response.status)) {
      const text = typeof response.body === 'string' ? response.body : JSON.stringify(response.body);
      throw new SmokeFailure(
        `${api.method} ${api.path} answered ${response.status}${text ? ` ${text.slice(0, 300)}` : ''}${hint(response.status, response.server, response.body)}`,
      );
    }
    return (typeof response.body === 'object' && response.body !== null ? response.body : {}) as Json;
  }

  async function poll<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
    const deadline = now() + settleTimeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (now() >= deadline) throw new SmokeFailure(`${what} within ${formatDuration(settleTimeoutMs)}`);
      await sleep(pollMs);
    }
  }

  /** `make dev`'s local edge says why there is no Kafka at GET /.meshkit/local (the Istio gateway has no such path: undefined). */
  async function localKafkaMissing(): Promise<string | undefined> {
    try {
      const res = await doFetch(new URL('/.meshkit/local', options.baseUrl), { signal: AbortSignal.timeout(2_000) });
      if (res.status !== 200) return undefined;
      const body = (await res.json()) as { kafka?: { missing?: unknown } };
      return typeof body.kafka?.missing === 'string' ? body.kafka.missing : undefined;
    } catch {
      return undefined;
    }
  }

  const email = `smoke-${randomUUID().slice(0, 8)}@example.com`;
  const password = `Smoke-${randomUUID()}`;
  let productId = '';
  let orderId = '';

  const checks: [string, () => Promise<string>][] = [
    [
      'register',
      async () => {
        const id = smokeApi.userId(await call(smokeApi.register(email, password)));
        if (!id) throw new SmokeFailure(`${named(user.routes.register)} answered without an id`);
        return `user ${id} (${email})`;
      },
    ],
    [
      'log in',
      async () => {
        token = smokeApi.accessToken(await call(smokeApi.login(email, password)));
        if (!token) throw new SmokeFailure(`${named(user.routes.login)} answered without an accessToken`);
        return 'got an access token';
      },
    ],
    [
      'list products',
      async () => {
        const products = smokeApi.products(await call(smokeApi.listProducts())) ?? [];
        const inStock = products.find((p) => p.available === undefined || p.available > 0);
        if (!inStock) throw new SmokeFailure(`${named(product.routes.list)} listed ${products.length} products, none in stock`);
        productId = inStock.id;
        return `${products.length} products; ordering ${productId}`;
      },
    ],
    [
      'place an order',
      async () => {
        const body = await call(smokeApi.placeOrder(productId));
        const id = smokeApi.orderId(body);
        if (!id) throw new SmokeFailure(`${named(order.routes.place)} answered without an order id`);
        orderId = id;
        return `order ${id} ${smokeApi.orderStatus(body) ?? ''}`.trim();
      },
    ],
    [
      'order confirmed',
      async () => {
        const status = await poll(`order ${orderId} was not CONFIRMED`, async () => {
          const body = await call(smokeApi.getOrder(orderId));
          const s = smokeApi.orderStatus(body);
          if (s === 'CANCELLED') throw new SmokeFailure(`order ${orderId} was CANCELLED (${String(body.cancelReason ?? 'no reason given')})`);
          return s === 'CONFIRMED' ? s : undefined;
        });
        return `order ${orderId} ${status}`;
      },
    ],
    [
      'notification',
      async () => {
        const missing = await localKafkaMissing();
        if (missing) throw new SmokeFailure(`notifications wait: the local shop runs without Kafka (${missing}); its events stay in the order outbox`);
        const found = await poll(`no notification mentions order ${orderId}`, async () =>
          smokeApi.notifications(await call(smokeApi.listNotifications())).find((n) => JSON.stringify(n).includes(orderId)),
        );
        return `notification for order ${orderId}: ${JSON.stringify(found).slice(0, 120)}`;
      },
    ],
  ];

  const results: SmokeResult[] = [];
  let failed = false;
  for (const [name, check] of checks) {
    if (failed) {
      results.push({ name, outcome: 'skip', ms: 0, detail: 'an earlier check failed' });
      continue;
    }
    const t0 = now();
    try {
      const detail = await check();
      results.push({ name, outcome: 'pass', ms: now() - t0, detail });
    } catch (error) {
      if (!(error instanceof SmokeFailure)) throw error;
      failed = true;
      results.push({ name, outcome: 'fail', ms: now() - t0, detail: error.message });
    }
  }
  return results;
}

export function printSmoke(print: (line: string) => void, baseUrl: string, results: readonly SmokeResult[]): boolean {
  print(`meshkit smoke against ${baseUrl}`);
  for (const r of results) print(`  ${r.outcome.toUpperCase().padEnd(4)}  ${r.name.padEnd(15)} ${formatDuration(r.ms).padStart(6)}  ${r.detail}`);
  const passed = results.filter((r) => r.outcome === 'pass').length;
  const ok = passed === results.length;
  print(`smoke: ${ok ? 'PASSED' : 'FAILED'} (${passed} of ${results.length} passed)`);
  return ok;
}
