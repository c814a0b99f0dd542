import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Order, OrderLine } from '../../apps/order/domain/orders.js';
import { OrderSaga, StepOutcomeUnknown, type ChargeResult, type ReserveResult, type SagaLog, type SagaParticipants } from '../../apps/order/domain/saga.js';

/** In-memory saga log: applies the same state changes as the SQL store. */
class MemoryLog implements SagaLog {
  constructor(public order: Order) {}
  private set(patch: Partial<Order>): Promise<Order> {
    this.order = { ...this.order, ...patch };
    return Promise.resolve(this.order);
  }
  reserved(_id: string, priced: ReserveResult & { ok: true }) {
    return this.set({ step: 'RESERVED', totalCents: priced.totalCents, currency: priced.currency });
  }
  charging() {
    return this.set({ step: 'CHARGING' });
  }
  charged(_id: string, chargeId: string) {
    return this.set({ step: 'CHARGED', chargeId });
  }
  confirmed() {
    return this.order.status === 'PENDING' ? this.set({ status: 'CONFIRMED' }) : Promise.resolve(this.order);
  }
  cancelled(_id: string, reason: string) {
    return this.order.status === 'PENDING' ? this.set({ status: 'CANCELLED', cancelReason: reason }) : Promise.resolve(this.order);
  }
  compensationPending(_id: string, reason: string) {
    return this.set({ cancelReason: reason });
  }
}

type Call = 'userExists' | 'reserve' | 'charge' | 'refund' | 'commit' | 'release';

/** Scripted participants that record every call. */
class Script implements SagaParticipants {
  calls: Call[] = [];
  user: boolean | Error = true;
  reservation: ReserveResult | Error = { ok: true, items: [{ productId: 'mug', quantity: 2, unitPriceCents: 500 }], totalCents: 1000, currency: 'EUR' };
  charges: Array<ChargeResult | Error> = [{ ok: true, chargeId: 'ch-1' }];
  commitAnswer: 'committed' | 'released' | Error = 'committed';
  releaseAnswer: 'released' | 'committed' | Error = 'released';
  refundAnswer: undefined | Error = undefined;
  refunded: string[] = [];

  private answer<T>(call: Call, value: T | Error): Promise<T> {
    this.calls.push(call);
    return value instanceof Error ? Promise.reject(value) : Promise.resolve(value);
  }
  userExists() {
    return this.answer('userExists', this.user);
  }
  reserve(_id: string, _items: readonly OrderLine[]) {
    return this.answer('reserve', this.reservation);
  }
  charge() {
    return this.answer('charge', this.charges.length > 1 ? this.charges.shift()! : this.charges[0]!);
  }
  refund(_id: string, chargeId: string) {
    this.refunded.push(chargeId);
    return this.answer('refund', this.refundAnswer);
  }
  commit() {
    return this.answer('commit', this.commitAnswer);
  }
  release() {
    return this.answer('release', this.releaseAnswer);
  }
}

const unknown = (step: string) => new StepOutcomeUnknown(step, 'HTTP 503');

const newOrder = (): Order => ({
  id: 'o-1',
  userId: 'u-1',
  status: 'PENDING',
  step: 'NEW',
  items: [{ productId: 'mug', quantity: 2, unitPriceCents: null }],
  paymentToken: 'tok_visa',
  totalCents: null,
  currency: null,
  chargeId: null,
  cancelReason: null,
  createdAt: new Date(),
  updatedAt: new Date(),
});

let script: Script;
let log: MemoryLog;
let saga: OrderSaga;

beforeEach(() => {
  script = new Script();
  log = new MemoryLog(newOrder());
  saga = new OrderSaga(script, log, pino({ level: 'silent' }));
});

describe('order saga', () => {
  it('confirms after verify, reserve, charge and commit, in that order', async () => {
    const order = await saga.run(log.order);
    expect(order).toMatchObject({ status: 'CONFIRMED', chargeId: 'ch-1', totalCents: 1000 });
    expect(script.calls).toEqual(['userExists', 'reserve', 'charge', 'commit']);
  });

  it('cancels an order of an unknown user, releasing so a late reservation cannot hold stock', async () => {
    script.user = false;
    expect(await saga.run(log.order)).toMatchObject({ status: 'CANCELLED', cancelReason: 'USER_NOT_FOUND' });
    expect(script.calls).toEqual(['userExists', 'release']);
  });

  it('cancels with the product service reason when stock is short, never charging', async () => {
    script.reservation = { ok: false, reason: 'INSUFFICIENT_STOCK' };
    expect(await saga.run(log.order)).toMatchObject({ status: 'CANCELLED', cancelReason: 'INSUFFICIENT_STOCK' });
    expect(script.calls).not.toContain('charge');
  });

  it('releases the reservation when the payment is declined, and refunds nothing', async () => {
    script.charges = [
      { ok: false, reason: 'PAYMENT_DECLINED' },
      { ok: false, reason: 'PAYMENT_DECLINED' },
    ];
    expect(await saga.run(log.order)).toMatchObject({ status: 'CANCELLED', cancelReason: 'PAYMENT_DECLINED' });
    expect(script.calls).toEqual(['userExists', 'reserve', 'charge', 'release']);
  });

  it('refunds and releases when the reservation was lost before commit', async () => {
    script.commitAnswer = 'released';
    expect(await saga.run(log.order)).toMatchObject({ status: 'CANCELLED', cancelReason: 'RESERVATION_LOST' });
    expect(script.refunded).toEqual(['ch-1']);
  });

  it('learns the fate of a charge that timed out by repeating it, then refunds it', async () => {
    script.charges = [unknown('charge'), { ok: true, chargeId: 'ch-late' }];
    expect(await saga.run(log.order)).toMatchObject({ status: 'CANCELLED', cancelReason: 'STEP_FAILED' });
    expect(script.calls).toEqual(['userExists', 'reserve', 'charge', 'release', 'charge', 'refund']);
    expect(script.refunded).toEqual(['ch-late']);
  });

  it('confirms instead of cancelling when a commit whose answer was lost did happen', async () => {
    script.commitAnswer = unknown('commit');
    script.releaseAnswer = 'committed';
    expect(await saga.run(log.order)).toMatchObject({ status: 'CONFIRMED' });
    expect(script.refunded).toEqual([]);
  });

  it('keeps the order PENDING with its reason when a compensation cannot finish, and finishes on a later run', async () => {
    script.charges = [{ ok: true, chargeId: 'ch-1' }];
    script.commitAnswer = unknown('commit');
    script.releaseAnswer = unknown('release');
    const stuck = await saga.run(log.order);
    expect(stuck).toMatchObject({ status: 'PENDING', cancelReason: 'STEP_FAILED', step: 'CHARGED' });
    expect(script.refunded).toEqual([]);

    script.releaseAnswer = 'released';
    const recovered = await saga.compensate(stuck, stuck.cancelReason!);
    expect(recovered).toMatchObject({ status: 'CANCELLED', cancelReason: 'STEP_FAILED' });
    expect(script.refunded).toEqual(['ch-1']);
  });

  it('treats an unexpected error in a step like an unknown outcome: compensate and cancel', async () => {
    script.user = new Error('bug');
    expect(await saga.run(log.order)).toMatchObject({ status: 'CANCELLED', cancelReason: 'INTERNAL_ERROR' });
  });

  it('compensates an order abandoned before charging without touching payment', async () => {
    const abandoned = { ...newOrder(), step: 'RESERVED' as const, totalCents: 1000, currency: 'EUR' };
    log.order = abandoned;
    expect(await saga.compensate(abandoned, 'ABANDONED')).toMatchObject({ status: 'CANCELLED', cancelReason: 'ABANDONED' });
    expect(script.calls).toEqual(['release']);
  });
});
