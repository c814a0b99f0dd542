import { randomUUID } from 'node:crypto';
import { recordEvent, type Database, type Queryable } from '../../kit/index.js';
import { IdempotencyKeyReusedError, type StoredOutcome } from '../domain/idempotency.js';
import { ChargeVoidedError, type Charge, type ChargeStatus, type PaymentLedger, type PaymentStore, type VoidOutcome } from '../domain/payments.js';

export const PAYMENTS_TOPIC = 'payments.events';

interface Row {
  id: string;
  amount_cents: number;
  currency: string;
  reference: string | null;
  status: ChargeStatus;
  decline_code: string | null;
  created_at: Date;
  refunded_at: Date | null;
}

const toCharge = (r: Row): Charge => ({
  id: r.id,
  amountCents: r.amount_cents,
  currency: r.currency,
  reference: r.reference,
  status: r.status,
  declineCode: r.decline_code,
  createdAt: r.created_at,
  refundedAt: r.refunded_at,
});

function ledger(tx: Queryable): PaymentLedger {
  return {
    async insertCharge(c) {
      const [row] = await tx.query<Row>(
        'INSERT INTO payments (id, amount_cents, currency, reference, status, decline_code) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *',
        [randomUUID(), c.amountCents, c.currency, c.reference, c.status, c.declineCode],
      );
      return toCharge(row!);
    },
    async lockCharge(id) {
      const [row] = await tx.query<Row>('SELECT * FROM payments WHERE id = $1 FOR UPDATE', [id]);
      return row ? toCharge(row) : undefined;
    },
    async markRefunded(id) {
      const [row] = await tx.query<Row>("UPDATE payments SET status = 'REFUNDED', refunded_at = now() WHERE id = $1 RETURNING *", [id]);
      return toCharge(row!);
    },
    async recordEvent(type, charge) {
      await recordEvent(tx, {
        topic: PAYMENTS_TOPIC,
        key: charge.id,
        type,
        source: 'payment',
        data: { chargeId: charge.id, amountCents: charge.amountCents, currency: charge.currency, reference: charge.reference, status: charge.status },
      });
    },
  };
}

/** The request hash of a voided charge key: it matches no request, and every request under the key gets the tombstone. */
const VOIDED = 'voided';

const voidedOutcome = (): StoredOutcome => {
  const error = new ChargeVoidedError();
  return { status: error.status, error: { code: error.code, message: error.message } };
};

/** The charge id a stored charge outcome names (201 body, or a decline's details). */
function chargeIdOf(outcome: StoredOutcome): string | undefined {
  const id = 'error' in outcome ? (outcome.error.details as { chargeId?: unknown } | undefined)?.chargeId : (outcome.body as { id?: unknown }).id;
  return typeof id === 'string' ? id : undefined;
}

export class PgPaymentStore implements PaymentStore {
  constructor(private readonly db: Database) {}

  idempotent(scope: string, key: string, fingerprint: string, operation: (ledger: PaymentLedger) => Promise<StoredOutcome>) {
    return this.db.transaction(async (tx) => {
      // A concurrent request with the same key blocks on this insert until the first one commits,
      // then finds its outcome below: the operation runs once.
      const claimed = await tx.query(
        'INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3) ON CONFLICT (scope, key) DO NOTHING RETURNING key',
        [scope, key, fingerprint],
      );
      if (claimed.length === 0) {
        const [stored] = await tx.query<{ request_hash: string; outcome: StoredOutcome }>(
          'SELECT request_hash, outcome FROM idempotency_keys WHERE scope = $1 AND key = $2',
          [scope, key],
        );
        // A voided key answers every request under it with the refusal, whatever the request.
        if (stored?.request_hash === VOIDED) return { outcome: voidedOutcome(), replayed: true };
        if (!stored || stored.request_hash !== fingerprint) throw new IdempotencyKeyReusedError();
        return { outcome: stored.outcome, replayed: true };
      }
      const outcome = await operation(ledger(tx));
      await tx.query('UPDATE idempotency_keys SET outcome = $3 WHERE scope = $1 AND key = $2', [scope, key, JSON.stringify(outcome)]);
      return { outcome, replayed: false };
    });
  }

  voidCharge(chargeKey: string, action: (ledger: PaymentLedger, charge: Charge | undefined) => Promise<VoidOutcome>) {
    return this.db.transaction(async (tx) => {
      // Same row as the charge's key claim: a charge in flight under this key commits first
      // (and is found below), or waits for the tombstone and is refused.
      const [tombstone] = await tx.query(
        "INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ('charge', $1, $2) ON CONFLICT (scope, key) DO NOTHING RETURNING key",
        [chargeKey, VOIDED],
      );
      if (tombstone) return { outcome: 'NOTHING_CHARGED' as const, charge: undefined };
      const [stored] = await tx.query<{ request_hash: string; outcome: StoredOutcome }>(
        "SELECT request_hash, outcome FROM idempotency_keys WHERE scope = 'charge' AND key = $1 FOR UPDATE",
        [chargeKey],
      );
      const chargeId = stored && stored.request_hash !== VOIDED ? chargeIdOf(stored.outcome) : undefined;
      const book = ledger(tx);
      const charge = chargeId ? await book.lockCharge(chargeId) : undefined;
      const outcome = await action(book, charge);
      return { outcome, charge: charge ? await book.lockCharge(charge.id) : undefined };
    });
  }

  async findCharge(id: string): Promise<Charge | undefined> {
    const [row] = await this.db.query<Row>('SELECT * FROM payments WHERE id = $1', [id]);
    return row ? toCharge(row) : undefined;
  }
}
