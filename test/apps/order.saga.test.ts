import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import type { ServiceClient } from '../../apps/kit/index.js';
import { pathMatcher } from '../../apps/kit/routes.js';
import type { Order, OrderLine } from '../../apps/order/domain/orders.js';
import { HttpParticipants } from '../../apps/order/infrastructure/participants.js';
import { describeRoute, orderSaga, payment, product, routesOf, user, type ApiRoute, type ShopService } from '../../contract/index.js';
import {
  LeaseLost,
  OrderSaga,
  StepOutcomeUnknown,
  type ChargeResult,
  type ReserveResult,
  type SagaLog,
  type SagaParticipants,
} from '../../apps/order/domain/saga.js';

/** In-memory saga log: the same compare-and-set on (PENDING, lease) as the SQL store. */
class MemoryLog implements SagaLog {
  constructor(public order: Order) {}
  private set(by: Order, patch: Partial<Order>): Promise<Order> {
    if (this.order.status !== 'PENDING' || this.order.lease !== by.lease) return Promise.reject(new LeaseLost(by.id));
    this.order = { ...this.order, ...patch };
    return Promise.resolve(this.order);
  }
  /** What the recovery sweep's claim does: a new lease, so the old holder can no longer write. */
  takeOver(): Order {
    this.order = { ...this.order, lease: `lease-${Math.random()}` };
    return this.order;
  }
  reserved(by: Order, priced: ReserveResult & { ok: true }) {
    return this.set(by, { step: 'RESERVED', totalCents: priced.totalCents, currency: priced.currency });
  }
  charging(by: Order) {
    return this.set(by, { step: 'CHARGING' });
  }
  charged(by: Order, chargeId: string) {
    return this.set(by, { step: 'CHARGED', chargeId });
  }
  confirmed(by: Order) {
    return this.set(by, { status: 'CONFIRMED' });
  }
  cancelled(by: Order, reason: string, refunded: boolean) {
    return this.set(by, { status: 'CANCELLED', cancelReason: reason, refunded });
  }
  compensationPending(by: Order, reason: string) {
    return this.set(by, { cancelReason: reason });
  }
  current() {
    return Promise.resolve(this.order);
  }
}

type Call = 'userExists' | 'reserve' | 'charge' | 'void' | 'commit' | 'release';

/** Scripted participants that record every call. */
class Script implements SagaParticipants {
  calls: Call[] = [];
  user: boolean | Error = true;
  reservation: ReserveResult | Error = { ok: true, items: [{ productId: 'mug', quantity: 2, unitPriceCents: 500 }], totalCents: 1000, currency: 'EUR' };
  charges: Array<ChargeResult | Error> = [{ ok: true, chargeId: 'ch-1' }];
  commitAnswer: 'committed' | 'released' | Error = 'committed';
  releaseAnswer: 'released' | 'committed' | Error = 'released';
  /** What payment says a void found: set to 'nothing-charged' when no charge went through. */
  voidAnswer: 'refunded' | 'nothing-charged' | Error = 'refunded';
  /** Called before answering a call: lets a test act at that moment (e.g. take the order over). */
  before: Partial<Record<Call, () => void>> = {};

  private answer<T>(call: Call, value: T | Error): Promise<T> {
    this.calls.push(call);
    this.before[call]?.();
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
  voidCharge() {
    return this.answer('void', this.voidAnswer);
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
  refunded: false,
  lease: 'lease-saga',
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

  it('releases the reservation when the payment is declined, and voids nothing', async () => {
    script.charges = [
      { ok: false, reason: 'PAYMENT_DECLINED' },
      { ok: false, reason: 'PAYMENT_DECLINED' },
    ];
    expect(await saga.run(log.order)).toMatchObject({ status: 'CANCELLED', cancelReason: 'PAYMENT_DECLINED' });
    expect(script.calls).toEqual(['userExists', 'reserve', 'charge', 'release']);
  });

  it('releases and voids the charge (refunding it) when the reservation was lost before commit', async () => {
    script.commitAnswer = 'released';
    expect(await saga.run(log.order)).toMatchObject({ status: 'CANCELLED', cancelReason: 'RESERVATION_LOST', refunded: true });
    expect(script.calls).toEqual(['userExists', 'reserve', 'charge', 'commit', 'release', 'void']);
  });

  it('voids a charge that timed out instead of repeating it, so nothing is charged just to be refunded', async () => {
    script.charges = [unknown('charge')];
    script.voidAnswer = 'nothing-charged';
    expect(await saga.run(log.order)).toMatchObject({ status: 'CANCELLED', cancelReason: 'STEP_FAILED', refunded: false });
    expect(script.calls).toEqual(['userExists', 'reserve', 'charge', 'release', 'void']);
  });

  it('confirms instead of cancelling when a commit whose answer was lost did happen', async () => {
    script.commitAnswer = unknown('commit');
    script.releaseAnswer = 'committed';
    expect(await saga.run(log.order)).toMatchObject({ status: 'CONFIRMED' });
    expect(script.calls).not.toContain('void');
  });

  it('keeps the order PENDING with its reason when a compensation cannot finish, and finishes on a later run', async () => {
    script.charges = [{ ok: true, chargeId: 'ch-1' }];
    script.commitAnswer = unknown('commit');
    script.releaseAnswer = unknown('release');
    const stuck = await saga.run(log.order);
    expect(stuck).toMatchObject({ status: 'PENDING', cancelReason: 'STEP_FAILED', step: 'CHARGED' });
    expect(script.calls).not.toContain('void');

    script.releaseAnswer = 'released';
    const recovered = await saga.compensate(log.takeOver(), stuck.cancelReason!);
    expect(recovered).toMatchObject({ status: 'CANCELLED', cancelReason: 'STEP_FAILED', refunded: true });
    expect(script.calls.at(-1)).toBe('void');
  });

  it('stops without another write or call once the sweep took the order over while a step was in flight', async () => {
    // The sweep claims the order while the charge call is under way (a paused replica).
    script.before.charge = () => log.takeOver();
    const answered = await saga.run(log.order);
    expect(script.calls).toEqual(['userExists', 'reserve', 'charge']);
    expect(answered).toMatchObject({ status: 'PENDING', step: 'CHARGING' });
    expect(log.order.chargeId).toBeNull();
  });

  it('cannot mark a compensation pending on an order the sweep already finished', async () => {
    script.commitAnswer = unknown('commit');
    // The sweep takes over and cancels while this saga is releasing; then this saga's release fails.
    script.releaseAnswer = unknown('release');
    script.before.release = () => {
      log.order = { ...log.takeOver(), status: 'CANCELLED', cancelReason: 'ABANDONED' };
    };
    const answered = await saga.run(log.order);
    expect(answered).toMatchObject({ status: 'CANCELLED', cancelReason: 'ABANDONED' });
    expect(log.order.cancelReason).toBe('ABANDONED');
  });

  it('treats an unexpected error in a step like an unknown outcome: compensate and cancel', async () => {
    script.user = new Error('bug');
    expect(await saga.run(log.order)).toMatchObject({ status: 'CANCELLED', cancelReason: 'INTERNAL_ERROR' });
  });

  it('compensates an order abandoned before charging without touching payment', async () => {
    log.order = { ...newOrder(), step: 'RESERVED' as const, totalCents: 1000, currency: 'EUR' };
    const abandoned = log.takeOver();
    expect(await saga.compensate(abandoned, 'ABANDONED')).toMatchObject({ status: 'CANCELLED', cancelReason: 'ABANDONED' });
    expect(script.calls).toEqual(['release']);
  });
});

describe("the saga's HTTP calls and the contract", () => {
  /** A stand-in for one callee's ServiceClient: finds the contract route a call hits (by the kit's matcher) and answers for it. */
  function recordingClient(service: ShopService, calls: ApiRoute[], answer: (route: ApiRoute) => { status: number; body: unknown }) {
    return {
      call: async (method: string, path: string, options: { headers?: Record<string, string> } = {}) => {
        const route = routesOf(service).find((r) => r.method === method && pathMatcher(r.path).regex.test(path));
        if (!route) throw new Error(`${method} ${path} is no route of ${service.name} in the contract`);
        // An idempotent write carries its key in the route's header, so the mesh may retry it.
        expect(Object.keys(options.headers ?? {}), describeRoute(route)).toEqual(route.keyHeader ? [route.keyHeader] : []);
        calls.push(route);
        return answer(route);
      },
    } as unknown as ServiceClient;
  }

  async function runOverHttp(commitAnswer: { status: number; body: unknown }): Promise<ApiRoute[]> {
    const calls: ApiRoute[] = [];
    const ok = (route: ApiRoute) =>
      route === product.routes.reserve
        ? { status: 201, body: { items: [{ productId: 'mug', quantity: 2, unitPriceCents: 500 }], totalCents: 1000, currency: 'EUR' } }
        : route === payment.routes.charge
          ? { status: 201, body: { id: 'ch-1' } }
          : route === payment.routes.voidCharge
            ? { status: 200, body: { outcome: 'REFUNDED' } }
            : route === product.routes.commit
              ? commitAnswer
              : { status: 200, body: {} };
    const participants = new HttpParticipants(recordingClient(user, calls, ok), recordingClient(product, calls, ok), recordingClient(payment, calls, ok));
    await new OrderSaga(participants, log, pino({ level: 'silent' })).run(log.order);
    return calls;
  }

  const sequence = (name: string) => orderSaga.sequences.find((s) => s.name === name)!.calls;

  it("confirms with exactly the contract's 'confirm' sequence", async () => {
    expect(await runOverHttp({ status: 200, body: {} })).toEqual(sequence('confirm'));
    expect(log.order.status).toBe('CONFIRMED');
  });

  it("compensates a failed commit with exactly the contract's 'commit fails, compensate' sequence", async () => {
    expect(await runOverHttp({ status: 409, body: { error: { code: 'RESERVATION_RELEASED' } } })).toEqual(sequence('commit fails, compensate'));
    expect(log.order.status).toBe('CANCELLED');
  });
});
