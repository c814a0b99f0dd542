import type { Logger } from '../../kit/index.js';
import type { Order, OrderLine } from './orders.js';

/** A call whose effect is unknown (timeout, 5xx, unexpected answer): the step may or may not have happened. */
export class StepOutcomeUnknown extends Error {
  constructor(step: string, detail: string) {
    super(`${step}: outcome unknown (${detail})`);
    this.name = 'StepOutcomeUnknown';
  }
}

/**
 * The order is no longer ours to move: the recovery sweep took it over (this saga was
 * paused past the stale time) or it already ended. Whoever holds the lease now finishes it.
 */
export class LeaseLost extends Error {
  constructor(orderId: string) {
    super(`order ${orderId}: lease lost; its new owner finishes it`);
    this.name = 'LeaseLost';
  }
}

export type ReserveResult =
  | { ok: true; items: Array<{ productId: string; quantity: number; unitPriceCents: number }>; totalCents: number; currency: string }
  | { ok: false; reason: string };
export type ChargeResult = { ok: true; chargeId: string } | { ok: false; reason: string };

/**
 * The other services as the saga sees them. Each call is idempotent (keyed by
 * the order id), answers definitively or throws StepOutcomeUnknown, and is made
 * once: retrying is the mesh's job, finishing later is the recovery sweep's.
 * release and voidCharge also leave a tombstone, so a late reserve or charge of
 * the same order (a paused saga waking up) is refused instead of taking stock or money.
 */
export interface SagaParticipants {
  userExists(userId: string): Promise<boolean>;
  reserve(orderId: string, items: readonly OrderLine[]): Promise<ReserveResult>;
  /** Same order, same idempotency key, same body: repeating it returns the first outcome. */
  charge(order: Order): Promise<ChargeResult>;
  /** Refunds the order's charge if it went through, and makes sure none can follow; never charges. */
  voidCharge(orderId: string): Promise<'refunded' | 'nothing-charged'>;
  /** 'released' when the reservation was released before it could be committed. */
  commit(orderId: string): Promise<'committed' | 'released'>;
  /** 'committed' when the reservation was already committed (then the order did succeed). */
  release(orderId: string): Promise<'released' | 'committed'>;
}

/**
 * Saga state changes; each is one transaction that also writes the matching outbox
 * event, and a compare-and-set on the order being PENDING under `order.lease`: a
 * writer that lost the lease gets LeaseLost and changes nothing.
 */
export interface SagaLog {
  reserved(order: Order, priced: ReserveResult & { ok: true }): Promise<Order>;
  charging(order: Order): Promise<Order>;
  charged(order: Order, chargeId: string): Promise<Order>;
  confirmed(order: Order): Promise<Order>;
  cancelled(order: Order, reason: string, refunded: boolean): Promise<Order>;
  /** Compensation did not finish: keep PENDING with the reason, for the sweep. */
  compensationPending(order: Order, reason: string): Promise<Order>;
  /** The order as stored now (what a saga that lost its lease answers with). */
  current(orderId: string): Promise<Order>;
}

/**
 * The order saga, orchestrated: verify the user, reserve stock, charge, commit
 * the reservation, confirm. Any failure compensates (release the reservation,
 * void the charge) and cancels. If a compensation cannot finish either, the
 * order stays PENDING and the recovery sweep takes it over and runs `compensate`
 * again until it does, so every order ends CONFIRMED or CANCELLED.
 */
export class OrderSaga {
  constructor(
    private readonly participants: SagaParticipants,
    private readonly log: SagaLog,
    private readonly logger: Logger,
  ) {}

  async run(order: Order): Promise<Order> {
    let current = order;
    try {
      if (!(await this.participants.userExists(current.userId))) return await this.compensate(current, 'USER_NOT_FOUND');

      const reservation = await this.participants.reserve(current.id, current.items);
      if (!reservation.ok) return await this.compensate(current, reservation.reason);
      current = await this.log.reserved(current, reservation);

      current = await this.log.charging(current);
      const charge = await this.participants.charge(current);
      // A decline is definite: no charge exists, so compensation need not void one.
      if (!charge.ok) return await this.compensate({ ...current, step: 'RESERVED' }, charge.reason);
      current = await this.log.charged(current, charge.chargeId);

      if ((await this.participants.commit(current.id)) === 'released') return await this.compensate(current, 'RESERVATION_LOST');
      return await this.log.confirmed(current);
    } catch (err) {
      if (err instanceof LeaseLost) return this.handOver(current);
      this.logger.warn({ err, orderId: current.id, step: current.step }, 'saga step failed; compensating');
      return this.compensate(current, err instanceof StepOutcomeUnknown ? 'STEP_FAILED' : 'INTERNAL_ERROR');
    }
  }

  /**
   * Undoes whatever may have happened, newest first, and cancels. Safe to run any
   * number of times and by whoever holds the lease: every call it makes is idempotent,
   * and CANCELLED is written only once nothing is held any more.
   */
  async compensate(order: Order, reason: string): Promise<Order> {
    try {
      if ((await this.participants.release(order.id)) === 'committed') {
        // The saga commits only after recording its charge under the same lease, so a
        // committed reservation means the order went through: confirm it.
        if (order.chargeId) return await this.log.confirmed(order);
        this.logger.error({ orderId: order.id }, 'reservation committed without a recorded charge; cancelling and voiding the charge');
      }
      // From CHARGING on a charge may exist whatever the saga saw; voiding refunds it or
      // forbids it, without charging first.
      const refunded = order.step === 'CHARGING' || order.step === 'CHARGED' ? (await this.participants.voidCharge(order.id)) === 'refunded' : false;
      return await this.log.cancelled(order, reason, refunded);
    } catch (err) {
      if (err instanceof LeaseLost) return this.handOver(order);
      this.logger.warn({ err, orderId: order.id, reason }, 'compensation incomplete; the recovery sweep will finish it');
      try {
        return await this.log.compensationPending(order, reason);
      } catch (markErr) {
        if (markErr instanceof LeaseLost) return this.handOver(order);
        throw markErr;
      }
    }
  }

  private handOver(order: Order): Promise<Order> {
    this.logger.warn({ orderId: order.id, step: order.step }, 'order taken over by the recovery sweep (or already ended); this saga stops');
    return this.log.current(order.id);
  }
}
