import { randomUUID } from 'node:crypto';
import { NotFoundError, ConflictError } from '../../kit/index.js';
import { fingerprint, type StoredOutcome } from './idempotency.js';

export type ChargeStatus = 'SUCCEEDED' | 'DECLINED' | 'REFUNDED';

export interface Charge {
  readonly id: string;
  readonly amountCents: number;
  readonly currency: string;
  readonly reference: string | null;
  readonly status: ChargeStatus;
  readonly declineCode: string | null;
  readonly createdAt: Date;
  readonly refundedAt: Date | null;
}

export interface ChargeRequest {
  readonly amountCents: number;
  readonly currency: string;
  /** Payment method token. Test tokens: tok_decline and tok_insufficient_funds are declined. */
  readonly source: string;
  /** Caller's reference, e.g. the order id. */
  readonly reference?: string;
}

/** Largest single charge the (simulated) acquirer accepts. */
export const MAX_CHARGE_CENTS = 1_000_000;

/**
 * The simulated acquirer's verdict. Deterministic, so tests and demos can make
 * a charge fail on purpose: two test tokens and an amount limit.
 */
export function authorize(request: ChargeRequest): { approved: true } | { approved: false; declineCode: string } {
  if (request.source === 'tok_decline') return { approved: false, declineCode: 'card_declined' };
  if (request.source === 'tok_insufficient_funds') return { approved: false, declineCode: 'insufficient_funds' };
  if (request.amountCents > MAX_CHARGE_CENTS) return { approved: false, declineCode: 'amount_limit_exceeded' };
  return { approved: true };
}

export class ChargeNotFoundError extends NotFoundError {
  constructor(id: string) {
    super('CHARGE_NOT_FOUND', `charge ${id} does not exist`);
  }
}

/** A charge under a key that was voided first: the caller gave up on it, so no money is taken. */
export class ChargeVoidedError extends ConflictError {
  constructor() {
    super('CHARGE_VOIDED', 'this charge was voided by its caller before it was made; nothing was charged');
  }
}

export class ChargeNotRefundableError extends ConflictError {
  constructor(charge: Charge) {
    super('CHARGE_NOT_REFUNDABLE', `charge ${charge.id} was ${charge.status.toLowerCase()}; only succeeded charges can be refunded`);
  }
}

/** Storage inside one transaction (with the idempotency key already claimed). */
export interface PaymentLedger {
  lockCharge(id: string): Promise<Charge | undefined>;
  markRefunded(id: string): Promise<Charge>;
  recordEvent(type: 'PaymentCharged' | 'PaymentRefunded', charge: Charge): Promise<void>;
}

/** What voiding the charge under a key found: the charge it refunded, a declined one, or none (and none can follow). */
export type VoidOutcome = 'REFUNDED' | 'DECLINED' | 'NOTHING_CHARGED';

export interface PaymentStore {
  /**
   * Runs `operation` once per (scope, key): claims the key and stores the outcome in the
   * same transaction as the charge. A repeat with the same fingerprint gets the stored
   * outcome; another fingerprint gets IDEMPOTENCY_KEY_REUSED. When `operation` throws,
   * nothing is kept and the key stays free.
   */
  idempotent(
    scope: string,
    key: string,
    fingerprint: string,
    operation: (ledger: PaymentLedger) => Promise<StoredOutcome>,
  ): Promise<{ outcome: StoredOutcome; replayed: boolean }>;
  /**
   * Stores a charge already decided, once per charge key, atomically: the key's claim with
   * `outcome`, the charge, and PaymentCharged when it succeeded. A repeat with the same
   * fingerprint gets the stored outcome (nothing is written); another fingerprint gets
   * IDEMPOTENCY_KEY_REUSED; a voided key gets CHARGE_VOIDED.
   */
  recordCharge(key: string, fingerprint: string, charge: Charge, outcome: StoredOutcome): Promise<{ outcome: StoredOutcome; replayed: boolean }>;
  /**
   * The charge made under the charge key `chargeKey`, serialized with any charge under that
   * key (one in flight commits first and is found); when there is none, a tombstone is stored
   * so a later charge with that key is refused (CHARGE_VOIDED) instead of taking money.
   */
  chargeUnderKey(chargeKey: string): Promise<Charge | undefined>;
  /** Refunds a SUCCEEDED charge with its PaymentRefunded event; a charge refunded meanwhile is answered as it is. */
  refund(charge: Charge): Promise<Charge>;
  findCharge(id: string): Promise<Charge | undefined>;
}

export const chargeView = (c: Charge) => ({
  id: c.id,
  amountCents: c.amountCents,
  currency: c.currency,
  reference: c.reference,
  status: c.status,
  declineCode: c.declineCode,
  createdAt: c.createdAt.toISOString(),
  refundedAt: c.refundedAt?.toISOString() ?? null,
});

export class Payments {
  constructor(private readonly store: PaymentStore) {}

  /** Decided before it is stored (the simulated acquirer answers at once), so the whole charge is one write. */
  charge(key: string, request: ChargeRequest) {
    const verdict = authorize(request);
    const charge: Charge = {
      id: randomUUID(),
      amountCents: request.amountCents,
      currency: request.currency,
      reference: request.reference ?? null,
      status: verdict.approved ? 'SUCCEEDED' : 'DECLINED',
      declineCode: verdict.approved ? null : verdict.declineCode,
      createdAt: new Date(),
      refundedAt: null,
    };
    const outcome: StoredOutcome = verdict.approved
      ? { status: 201, body: chargeView(charge) }
      : {
          status: 402,
          error: {
            code: 'PAYMENT_DECLINED',
            message: `the charge was declined (${verdict.declineCode})`,
            details: { chargeId: charge.id, declineCode: verdict.declineCode },
          },
        };
    return this.store.recordCharge(key, fingerprint('charge', '', request), charge, outcome);
  }

  /** Refunds in full. Refunding a refunded charge answers with it again and changes nothing. */
  refund(key: string, chargeId: string, request: { reason?: string }) {
    return this.store.idempotent('refund', key, fingerprint('refund', chargeId, request), async (ledger) => {
      const charge = await ledger.lockCharge(chargeId);
      if (!charge) throw new ChargeNotFoundError(chargeId);
      if (charge.status === 'DECLINED') throw new ChargeNotRefundableError(charge);
      if (charge.status === 'REFUNDED') return { status: 200, body: chargeView(charge) };
      const refunded = await ledger.markRefunded(chargeId);
      await ledger.recordEvent('PaymentRefunded', refunded);
      return { status: 200, body: chargeView(refunded) };
    });
  }

  /**
   * Cancels whatever was or will be charged under `chargeKey` without charging first:
   * the caller's compensation when it cannot know whether its charge went through.
   */
  async voidCharge(chargeKey: string): Promise<{ outcome: VoidOutcome; charge: Charge | undefined }> {
    const charge = await this.store.chargeUnderKey(chargeKey);
    if (!charge) return { outcome: 'NOTHING_CHARGED', charge: undefined };
    if (charge.status === 'DECLINED') return { outcome: 'DECLINED', charge };
    return { outcome: 'REFUNDED', charge: charge.status === 'SUCCEEDED' ? await this.store.refund(charge) : charge };
  }

  async get(id: string): Promise<Charge> {
    const charge = await this.store.findCharge(id);
    if (!charge) throw new ChargeNotFoundError(id);
    return charge;
  }
}
