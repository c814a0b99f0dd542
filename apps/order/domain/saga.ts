import type { Logger } from '../../kit/index.js';
import type { Order, OrderLine } from './orders.js';

/** A call whose effect is unknown (timeout, 5xx, unexpected answer): the step may or may not have happened. */
export class StepOutcomeUnknown extends Error {
  constructor(step: string, detail: string) {
    super(`${step}: outcome unknown (${detail})`);
    this.name = 'StepOutcomeUnknown';
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
 */
export interface SagaParticipants {
  userExists(userId: string): Promise<boolean>;
  reserve(orderId: string, items: readonly OrderLine[]): Promise<ReserveResult>;
  /** Same order, same idempotency key, same body: repeating it returns the first outcome. */
  charge(order: Order): Promise<ChargeResult>;
  refund(orderId: string, chargeId: string): Promise<void>;
  /** 'released' when the reservation was released before it could be committed. */
  commit(orderId: string): Promise<'committed' | 'released'>;
  /** 'committed' when the reservation was already committed (then the order did succeed). */
  release(orderId: string): Promise<'released' | 'committed'>;
}

/** Saga state changes; each is one transaction that also writes the matching outbox event. */
export interface SagaLog {
  reserved(orderId: string, priced: ReserveResult & { ok: true }): Promise<Order>;
  charging(orderId: string): Promise<Order>;
  charged(orderId: string, chargeId: string): Promise<Order>;
  confirmed(orderId: string): Promise<Order>;
  cancelled(orderId: string, reason: string): Promise<Order>;
  /** Compensation did not finish: keep PENDING with the reason, for the sweep. */
  compensationPending(orderId: string, reason: string): Promise<Order>;
}

/**
 * The order saga, orchestrated: verify the user, reserve stock, charge, commit
 * the reservation, confirm. Any failure compensates (release the reservation,
 * refund the charge) and cancels. If a compensation cannot finish either, the
 * order stays PENDING and the recovery sweep runs `compensate` again until it
 * does, so every order ends CONFIRMED or CANCELLED.
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
      current = await this.log.reserved(current.id, reservation);

      current = await this.log.charging(current.id);
      const charge = await this.participants.charge(current);
      // A decline is definite: no charge exists, so compensation need not look for one.
      if (!charge.ok) return await this.compensate({ ...current, step: 'RESERVED' }, charge.reason);
      current = await this.log.charged(current.id, charge.chargeId);

      if ((await this.participants.commit(current.id)) === 'released') return await this.compensate(current, 'RESERVATION_LOST');
      return await this.log.confirmed(current.id);
    } catch (err) {
      this.logger.warn({ err, orderId: current.id, step: current.step }, 'saga step failed; compensating');
      return this.compensate(current, err instanceof StepOutcomeUnknown ? 'STEP_FAILED' : 'INTERNAL_ERROR');
    }
  }

  /**
   * Undoes whatever may have happened, newest first, and cancels. Safe to run
   * any number of times: every call it makes is idempotent.
   */
  async compensate(order: Order, reason: string): Promise<Order> {
    try {
      if ((await this.participants.release(order.id)) === 'committed') {
        // Only a commit whose answer was lost gets here: stock and payment both went through.
        if (order.chargeId) return await this.log.confirmed(order.id);
      }
      if (order.step === 'CHARGING' || order.step === 'CHARGED') {
        // Without a charge id the first charge's fate is unknown: repeating it with the same
        // idempotency key returns that outcome (or charges now), and either way the refund follows.
        const chargeId = order.chargeId ?? (await this.knownCharge(order));
        if (chargeId) await this.participants.refund(order.id, chargeId);
      }
      return await this.log.cancelled(order.id, reason);
    } catch (err) {
      this.logger.warn({ err, orderId: order.id, reason }, 'compensation incomplete; the recovery sweep will finish it');
      return this.log.compensationPending(order.id, reason);
    }
  }

  private async knownCharge(order: Order): Promise<string | undefined> {
    const result = await this.participants.charge(order);
    return result.ok ? result.chargeId : undefined;
  }
}
