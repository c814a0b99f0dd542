import { pathOf, type ApiRoute } from '../../../contract/route.js';
import { payment, product, user } from '../../../contract/services.js';
import type { ServiceClient, ServiceResponse } from '../../kit/index.js';
import type { Order, OrderLine } from '../domain/orders.js';
import { StepOutcomeUnknown, type ChargeResult, type ReserveResult, type SagaParticipants } from '../domain/saga.js';

/** Idempotency keys derived from the order id: every repeat of a step is the same request. */
export const stepKey = (orderId: string, step: 'reserve' | 'charge' | 'commit' | 'release' | 'void') => `order-${orderId}-${step}`;

const errorCode = (res: ServiceResponse): string | undefined => (res.body as { error?: { code?: string } } | undefined)?.error?.code;

function unknown(step: string, res: ServiceResponse): never {
  throw new StepOutcomeUnknown(step, `HTTP ${res.status}${errorCode(res) ? ` ${errorCode(res)}` : ''}`);
}

/**
 * The saga's calls over HTTP, on the contract's routes (contract/calls.ts lists them as the saga's sequences).
 * Definite answers become results; anything else (5xx, timeouts, surprises)
 * becomes StepOutcomeUnknown. Timeouts and network errors arrive as UpstreamError
 * from the client and are turned into the same.
 */
export class HttpParticipants implements SagaParticipants {
  constructor(
    private readonly user: ServiceClient,
    private readonly product: ServiceClient,
    private readonly payment: ServiceClient,
  ) {}

  async userExists(userId: string): Promise<boolean> {
    const res = await this.send(this.user, 'verify user', user.routes.get, { params: { id: userId } });
    if (res.status === 200) return true;
    if (res.status === 404 && errorCode(res) === 'USER_NOT_FOUND') return false;
    return unknown('verify user', res);
  }

  async reserve(orderId: string, items: readonly OrderLine[]): Promise<ReserveResult> {
    const res = await this.send<{ items: Array<{ productId: string; quantity: number; unitPriceCents: number }>; totalCents: number; currency: string }>(
      this.product,
      'reserve',
      product.routes.reserve,
      { body: { orderId, items: items.map((i) => ({ productId: i.productId, quantity: i.quantity })) }, key: stepKey(orderId, 'reserve') },
    );
    if (res.status === 200 || res.status === 201) return { ok: true, items: res.body.items, totalCents: res.body.totalCents, currency: res.body.currency };
    if (res.status === 409 || res.status === 422) return { ok: false, reason: errorCode(res) ?? 'RESERVATION_REFUSED' };
    return unknown('reserve', res);
  }

  async charge(order: Order): Promise<ChargeResult> {
    if (order.totalCents === null || order.currency === null) throw new StepOutcomeUnknown('charge', 'order has no price yet');
    const res = await this.send<{ id: string }>(this.payment, 'charge', payment.routes.charge, {
      body: { amountCents: order.totalCents, currency: order.currency, source: order.paymentToken, reference: order.id },
      key: stepKey(order.id, 'charge'),
    });
    if (res.status === 200 || res.status === 201) return { ok: true, chargeId: res.body.id };
    if (res.status === 402) return { ok: false, reason: 'PAYMENT_DECLINED' };
    // The recovery sweep took this order over and voided its charge key first: definitely no charge.
    if (res.status === 409 && errorCode(res) === 'CHARGE_VOIDED') return { ok: false, reason: 'CHARGE_VOIDED' };
    return unknown('charge', res);
  }

  async voidCharge(orderId: string): Promise<'refunded' | 'nothing-charged'> {
    const res = await this.send<{ outcome: 'REFUNDED' | 'DECLINED' | 'NOTHING_CHARGED' }>(this.payment, 'void charge', payment.routes.voidCharge, {
      body: { chargeKey: stepKey(orderId, 'charge') },
      key: stepKey(orderId, 'void'),
    });
    if (res.status === 200) return res.body.outcome === 'REFUNDED' ? 'refunded' : 'nothing-charged';
    return unknown('void charge', res);
  }

  async commit(orderId: string): Promise<'committed' | 'released'> {
    const res = await this.send(this.product, 'commit', product.routes.commit, { params: { orderId }, key: stepKey(orderId, 'commit') });
    if (res.status === 200) return 'committed';
    const code = errorCode(res);
    if ((res.status === 404 && code === 'RESERVATION_NOT_FOUND') || (res.status === 409 && code === 'RESERVATION_RELEASED')) return 'released';
    return unknown('commit', res);
  }

  async release(orderId: string): Promise<'released' | 'committed'> {
    const res = await this.send(this.product, 'release', product.routes.release, { params: { orderId }, key: stepKey(orderId, 'release') });
    if (res.status === 200) return 'released';
    if (res.status === 409 && errorCode(res) === 'RESERVATION_COMMITTED') return 'committed';
    return unknown('release', res);
  }

  /** Calls `route`; `key` goes in the route's idempotency key header (idempotent writes only). */
  private async send<T = unknown>(
    client: ServiceClient,
    step: string,
    route: ApiRoute,
    request: { params?: Record<string, string>; body?: unknown; key?: string } = {},
  ): Promise<ServiceResponse<T>> {
    try {
      const headers = route.keyHeader && request.key ? { [route.keyHeader]: request.key } : {};
      return await client.call<T>(route.method, pathOf(route, request.params), { body: request.body, headers });
    } catch (err) {
      throw new StepOutcomeUnknown(step, err instanceof Error ? err.message : String(err));
    }
  }
}
