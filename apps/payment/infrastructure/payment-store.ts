import { OUTBOX_COLUMNS, outboxEntry, outboxValues, recordEvent, type Database, type NewEvent, type Queryable } from '../../kit/index.js';
import { IdempotencyKeyReusedError, type StoredOutcome } from '../domain/idempotency.js';
import { ChargeVoidedError, type Charge, type ChargeStatus, type PaymentLedger, type PaymentStore } from '../domain/payments.js';

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
    async lockCharge(id) {
      const [row] = await tx.query<Row>('SELECT * FROM payments WHERE id = $1 FOR UPDATE', [id]);
      return row ? toCharge(row) : undefined;
    },
    async markRefunded(id) {
      const [row] = await tx.query<Row>("UPDATE payments SET status = 'REFUNDED', refunded_at = now() WHERE id = $1 RETURNING *", [id]);
      return toCharge(row!);
    },
    async recordEvent(type, charge) {
      await recordEvent(tx, paymentEvent(type, charge));
    },
  };
}

function paymentEvent(type: 'PaymentCharged' | 'PaymentRefunded', charge: Charge): NewEvent<unknown> {
  return {
    topic: PAYMENTS_TOPIC,
    key: charge.id,
    type,
    source: 'payment',
    data: { chargeId: charge.id, amountCents: charge.amountCents, currency: charge.currency, reference: charge.reference, status: charge.status },
  };
}

/** The request hash of a voided charge key: it matches no request, and every request under the key gets the tombstone. */
const VOIDED = 'voided';

const voidedOutcome = (): StoredOutcome => {
  const error = new ChargeVoidedError();
  return { status: error.status, error: { code: error.code, message: error.message } };
};

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
      if (claimed.length === 0) return replayed(tx, scope, key, fingerprint);
      const outcome = await operation(ledger(tx));
      await tx.query('UPDATE idempotency_keys SET outcome = $3 WHERE scope = $1 AND key = $2', [scope, key, JSON.stringify(outcome)]);
      return { outcome, replayed: false };
    });
  }

  /**
   * One statement: the key's claim with its outcome, the charge and (when it succeeded) its
   * event are written only when the claim is; a concurrent request under the key blocks on the
   * claim until the first commits, then reads its outcome (a second statement, in a new snapshot).
   */
  async recordCharge(key: string, fingerprint: string, charge: Charge, outcome: StoredOutcome) {
    const event = charge.status === 'SUCCEEDED' ? outboxEntry(paymentEvent('PaymentCharged', charge)).params : [null, null, null, null, null, null];
    const claimed = await this.db.query(
      `WITH k AS (
         INSERT INTO idempotency_keys (scope, key, request_hash, outcome) VALUES ('charge', $1, $2, $3)
         ON CONFLICT (scope, key) DO NOTHING RETURNING key
       ), c AS (
         INSERT INTO payments (id, amount_cents, currency, reference, status, decline_code, created_at)
         SELECT $4, $5, $6, $7, $8, $9, $10 FROM k
       ), e AS (
         INSERT INTO outbox (${OUTBOX_COLUMNS}) SELECT ${outboxValues(11)} FROM k WHERE $11::uuid IS NOT NULL
       )
       SELECT key FROM k`,
      [
        key,
        fingerprint,
        JSON.stringify(outcome),
        charge.id,
        charge.amountCents,
        charge.currency,
        charge.reference,
        charge.status,
        charge.declineCode,
        charge.createdAt,
        ...event,
      ],
    );
    if (claimed.length === 0) return replayed(this.db, 'charge', key, fingerprint);
    return { outcome, replayed: false };
  }

  /**
   * The tombstone claims the same row as the charge's key: a charge in flight under this key
   * commits first (then the claim fails and the charge is read in a second statement, a new
   * snapshot), or comes later and finds the tombstone.
   */
  async chargeUnderKey(chargeKey: string): Promise<Charge | undefined> {
    const tombstone = await this.db.query(
      "INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ('charge', $1, $2) ON CONFLICT (scope, key) DO NOTHING RETURNING key",
      [chargeKey, VOIDED],
    );
    if (tombstone.length > 0) return undefined;
    // The charge a stored outcome names: the 201 body's id, or a decline's details.chargeId.
    const [row] = await this.db.query<Row>(
      `SELECT p.* FROM idempotency_keys k
       JOIN payments p ON p.id = coalesce(k.outcome -> 'body' ->> 'id', k.outcome -> 'error' -> 'details' ->> 'chargeId')::uuid
       WHERE k.scope = 'charge' AND k.key = $1 AND k.request_hash <> $2`,
      [chargeKey, VOIDED],
    );
    return row ? toCharge(row) : undefined;
  }

  /** A compare-and-set on SUCCEEDED with the event in the same statement: of concurrent refunds one writes, the others read its result. */
  async refund(charge: Charge): Promise<Charge> {
    // The event carries no refund time: built before the write, from the charge as it will be.
    const event = outboxEntry(paymentEvent('PaymentRefunded', { ...charge, status: 'REFUNDED' })).params;
    const [row] = await this.db.query<Row>(
      `WITH r AS (
         UPDATE payments SET status = 'REFUNDED', refunded_at = now() WHERE id = $1 AND status = 'SUCCEEDED' RETURNING *
       ), e AS (
         INSERT INTO outbox (${OUTBOX_COLUMNS}) SELECT ${outboxValues(2)} FROM r
       )
       SELECT * FROM r`,
      [charge.id, ...event],
    );
    if (row) return toCharge(row);
    const current = await this.findCharge(charge.id);
    if (!current) throw new Error(`charge ${charge.id} vanished`);
    return current;
  }

  async findCharge(id: string): Promise<Charge | undefined> {
    const [row] = await this.db.query<Row>('SELECT * FROM payments WHERE id = $1', [id]);
    return row ? toCharge(row) : undefined;
  }
}

/** The outcome stored under a key that was claimed before: replayed, refused as voided, or refused as another request's key. */
async function replayed(q: Queryable, scope: string, key: string, fingerprint: string): Promise<{ outcome: StoredOutcome; replayed: true }> {
  const [stored] = await q.query<{ request_hash: string; outcome: StoredOutcome }>(
    'SELECT request_hash, outcome FROM idempotency_keys WHERE scope = $1 AND key = $2',
    [scope, key],
  );
  // A voided key answers every request under it with the refusal, whatever the request.
  if (stored?.request_hash === VOIDED) return { outcome: voidedOutcome(), replayed: true };
  if (!stored || stored.request_hash !== fingerprint) throw new IdempotencyKeyReusedError();
  return { outcome: stored.outcome, replayed: true };
}
