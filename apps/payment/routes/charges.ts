import { defineRoute, requireIdempotencyKey, schemas, type AnyRoute, type Reply } from '../../kit/index.js';
import { payment } from '../../../contract/services.js';
import { replay, type StoredOutcome } from '../domain/idempotency.js';
import { chargeView, type ChargeRequest, type Payments } from '../domain/payments.js';

const chargeBody = {
  type: 'object',
  additionalProperties: false,
  required: ['amountCents', 'currency', 'source'],
  properties: {
    amountCents: { type: 'integer', minimum: 1, maximum: 100_000_000 },
    currency: { type: 'string', pattern: '^[A-Z]{3}$' },
    source: { type: 'string', pattern: '^tok_[a-z0-9_]{1,60}$' },
    reference: { type: 'string', minLength: 1, maxLength: 100 },
  },
} as const;

const refundBody = {
  type: 'object',
  additionalProperties: false,
  properties: { reason: { type: 'string', minLength: 1, maxLength: 200 } },
} as const;

const voidBody = {
  type: 'object',
  additionalProperties: false,
  required: ['chargeKey'],
  properties: { chargeKey: schemas.idempotencyKey },
} as const;

const idParams = { type: 'object', required: ['id'], properties: { id: schemas.uuid } } as const;

function reply({ outcome, replayed }: { outcome: StoredOutcome; replayed: boolean }): Reply {
  // A stored error (a decline) is raised again so its body carries this request's id.
  const answer = replay(outcome);
  return replayed ? { ...answer, headers: { 'idempotent-replayed': 'true' } } : answer;
}

export function chargeRoutes(payments: Payments): AnyRoute[] {
  return [
    defineRoute<ChargeRequest>(payment.routes.charge, {
      body: chargeBody,
      handle: async ({ body, headers }) => reply(await payments.charge(requireIdempotencyKey(headers), body)),
    }),
    defineRoute<{ reason?: string }, Record<string, unknown>, { id: string }>(payment.routes.refund, {
      params: idParams,
      body: refundBody,
      bodyOptional: true,
      handle: async ({ body, params, headers }) => reply(await payments.refund(requireIdempotencyKey(headers), params.id.toLowerCase(), body)),
    }),
    // Voids the charge made (or not yet made) under an idempotency key: refunds it if it went
    // through, otherwise makes sure it never will. Idempotent by nature; the key header is what
    // lets the mesh retry it.
    defineRoute<{ chargeKey: string }>(payment.routes.voidCharge, {
      body: voidBody,
      handle: async ({ body, headers }) => {
        requireIdempotencyKey(headers);
        const { outcome, charge } = await payments.voidCharge(body.chargeKey);
        return { body: { chargeKey: body.chargeKey, outcome, charge: charge ? chargeView(charge) : null } };
      },
    }),
    defineRoute<undefined, Record<string, unknown>, { id: string }>(payment.routes.get, {
      params: idParams,
      handle: async ({ params }) => ({ body: chargeView(await payments.get(params.id.toLowerCase())) }),
    }),
  ];
}
