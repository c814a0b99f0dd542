import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../../apps/kit/index.js';
import { paymentService } from '../../apps/payment/app.js';
import { expectError, expectNo5xxForJunk, oversized, request, startForTest } from './support.js';

let service: RunningService;
const call = (method: string, path: string, options?: Parameters<typeof request>[3]) => request(service.url, method, path, options);
const charge = (key: string, json: unknown) => call('POST', '/charges', { json, headers: { 'idempotency-key': key } });
const countCharges = async () => (await service.db.query<{ n: number }>('SELECT count(*)::int AS n FROM payments'))[0]!.n;
const eventsOf = async (chargeId: string) =>
  (await service.db.query<{ event_type: string }>("SELECT event_type FROM outbox WHERE payload->'data'->>'chargeId' = $1 ORDER BY seq", [chargeId])).map(
    (r) => r.event_type,
  );

beforeAll(async () => {
  service = await startForTest(paymentService);
}, 60_000);
afterAll(() => service?.stop());

const card = { amountCents: 4980, currency: 'EUR', source: 'tok_visa', reference: 'order-1' };

describe('charges', () => {
  it('charges, stores the charge and writes PaymentCharged into the outbox in the same transaction', async () => {
    const res = await charge(randomUUID(), card);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ id: expect.any(String), amountCents: 4980, currency: 'EUR', reference: 'order-1', status: 'SUCCEEDED', refundedAt: null });
    expect((await call('GET', `/charges/${res.body.id}`)).body).toEqual(res.body);
    expect(await eventsOf(res.body.id)).toEqual(['PaymentCharged']);
  });

  it('declines the test token tok_decline with 402 PAYMENT_DECLINED and writes no event', async () => {
    const res = await charge(randomUUID(), { ...card, source: 'tok_decline' });
    expectError(res, 402, 'PAYMENT_DECLINED');
    expect(res.body.error.details).toEqual({ chargeId: expect.any(String), declineCode: 'card_declined' });
    expect((await call('GET', `/charges/${res.body.error.details.chargeId}`)).body.status).toBe('DECLINED');
    expect(await eventsOf(res.body.error.details.chargeId)).toEqual([]);
  });

  it('answers unknown charges with 404 CHARGE_NOT_FOUND and malformed ids with 400', async () => {
    expectError(await call('GET', `/charges/${randomUUID()}`), 404, 'CHARGE_NOT_FOUND');
    expectError(await call('GET', '/charges/123'), 400, 'VALIDATION_FAILED');
  });
});

describe('idempotency keys', () => {
  it('replays a repeated charge with the stored answer and charges once', async () => {
    const key = randomUUID();
    const before = await countCharges();
    const first = await charge(key, card);
    const second = await charge(key, { reference: 'order-1', source: 'tok_visa', currency: 'EUR', amountCents: 4980 });
    expect(second.status).toBe(201);
    expect(second.body).toEqual(first.body);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(await countCharges()).toBe(before + 1);
  });

  it('charges once when the same request arrives several times at once', async () => {
    const key = randomUUID();
    const before = await countCharges();
    const answers = await Promise.all(Array.from({ length: 5 }, () => charge(key, card)));
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    expect(answers.every((a) => a.status === 201)).toBe(true);
    expect(await countCharges()).toBe(before + 1);
  });

  it('refuses the same key with a different body: 409 IDEMPOTENCY_KEY_REUSED, nothing charged', async () => {
    const key = randomUUID();
    await charge(key, card);
    const before = await countCharges();
    expectError(await charge(key, { ...card, amountCents: 1 }), 409, 'IDEMPOTENCY_KEY_REUSED');
    expect(await countCharges()).toBe(before);
  });

  it('replays a decline as a decline, without a second charge attempt', async () => {
    const key = randomUUID();
    const first = await charge(key, { ...card, source: 'tok_insufficient_funds' });
    const before = await countCharges();
    const again = await charge(key, { ...card, source: 'tok_insufficient_funds' });
    expectError(again, 402, 'PAYMENT_DECLINED');
    expect(again.body.error.details).toEqual(first.body.error.details);
    expect(again.body.error.requestId).not.toBe(first.body.error.requestId);
    expect(await countCharges()).toBe(before);
  });

  it('requires the idempotency-key header on writes: 400 IDEMPOTENCY_KEY_MISSING', async () => {
    expectError(await call('POST', '/charges', { json: card }), 400, 'IDEMPOTENCY_KEY_MISSING');
    expectError(await call('POST', `/charges/${randomUUID()}/refund`), 400, 'IDEMPOTENCY_KEY_MISSING');
    expectError(await call('POST', '/charges', { json: card, headers: { 'idempotency-key': 'x'.repeat(300) } }), 400, 'IDEMPOTENCY_KEY_INVALID');
  });

  it('does not burn a key on a request that failed before anything happened', async () => {
    const key = randomUUID();
    const missing = randomUUID();
    expectError(await call('POST', `/charges/${missing}/refund`, { headers: { 'idempotency-key': key } }), 404, 'CHARGE_NOT_FOUND');
    const created = await charge(randomUUID(), card);
    // The same key is free for the refund of a charge that exists.
    const refund = await call('POST', `/charges/${created.body.id}/refund`, { headers: { 'idempotency-key': key } });
    expect(refund.status).toBe(200);
  });
});

describe('refunds', () => {
  it('refunds once, writes PaymentRefunded once, and answers later refunds with the refunded charge', async () => {
    const created = await charge(randomUUID(), card);
    const key = randomUUID();
    const first = await call('POST', `/charges/${created.body.id}/refund`, { json: { reason: 'order cancelled' }, headers: { 'idempotency-key': key } });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ id: created.body.id, status: 'REFUNDED', refundedAt: expect.any(String) });
    const replayed = await call('POST', `/charges/${created.body.id}/refund`, { json: { reason: 'order cancelled' }, headers: { 'idempotency-key': key } });
    expect(replayed.body).toEqual(first.body);
    const otherKey = await call('POST', `/charges/${created.body.id}/refund`, { headers: { 'idempotency-key': randomUUID() } });
    expect(otherKey.body.status).toBe('REFUNDED');
    expect(await eventsOf(created.body.id)).toEqual(['PaymentCharged', 'PaymentRefunded']);
  });

  it('refuses to refund a declined charge: 409 CHARGE_NOT_REFUNDABLE', async () => {
    const declined = await charge(randomUUID(), { ...card, source: 'tok_decline' });
    expectError(
      await call('POST', `/charges/${declined.body.error.details.chargeId}/refund`, { headers: { 'idempotency-key': randomUUID() } }),
      409,
      'CHARGE_NOT_REFUNDABLE',
    );
  });
});

describe('bad input', () => {
  it('answers malformed, mistyped, incomplete and oversized charges with 4xx and the error shape', async () => {
    const key = { 'idempotency-key': randomUUID() };
    const cases: Array<[Parameters<typeof request>[3], number, string]> = [
      [{ raw: '{"amountCents": 10', headers: key }, 400, 'INVALID_JSON'],
      [{ json: { ...card, amountCents: '10' }, headers: key }, 400, 'VALIDATION_FAILED'],
      [{ json: { ...card, amountCents: -5 }, headers: key }, 400, 'VALIDATION_FAILED'],
      [{ json: { ...card, currency: 'euro' }, headers: key }, 400, 'VALIDATION_FAILED'],
      [{ json: { amountCents: 10 }, headers: key }, 400, 'VALIDATION_FAILED'],
      [{ json: { ...card, cvv: '123' }, headers: key }, 400, 'VALIDATION_FAILED'],
      [{ raw: oversized(), headers: key }, 413, 'PAYLOAD_TOO_LARGE'],
    ];
    for (const [options, status, code] of cases) expectError(await call('POST', '/charges', options), status, code);
    expectError(await call('DELETE', `/charges/${randomUUID()}`), 405, 'METHOD_NOT_ALLOWED');
    const list = await call('GET', '/charges');
    expectError(list, 405, 'METHOD_NOT_ALLOWED');
    expect(list.headers.get('allow')).toBe('POST');
    expectError(await call('GET', '/refunds'), 404, 'NOT_FOUND');
  });
});

describe('junk', () => {
  it('answers junk on every declared route with a 4xx and the error shape, never a 5xx', async () => {
    expect(await expectNo5xxForJunk(service.url, 'payment')).toBeGreaterThan(30);
  });
});

describe('voiding a charge key', () => {
  const voidKey = (chargeKey: string) => call('POST', '/charge-voids', { json: { chargeKey }, headers: { 'idempotency-key': `${chargeKey}-void` } });

  it('refunds a charge that went through under the key, writes PaymentRefunded, and changes nothing when repeated', async () => {
    const key = randomUUID();
    const charged = await charge(key, card);
    const first = await voidKey(key);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ chargeKey: key, outcome: 'REFUNDED', charge: { id: charged.body.id, status: 'REFUNDED' } });
    expect((await voidKey(key)).body).toMatchObject({ outcome: 'REFUNDED', charge: { id: charged.body.id, status: 'REFUNDED' } });
    expect(await eventsOf(charged.body.id)).toEqual(['PaymentCharged', 'PaymentRefunded']);
  });

  it('leaves a tombstone when nothing was charged, so a late charge under the key is refused and takes no money', async () => {
    const key = randomUUID();
    const before = await countCharges();
    expect((await voidKey(key)).body).toEqual({ chargeKey: key, outcome: 'NOTHING_CHARGED', charge: null });
    expectError(await charge(key, card), 409, 'CHARGE_VOIDED');
    expect(await countCharges()).toBe(before);
  });

  it('reports a declined charge as declined and refunds nothing', async () => {
    const key = randomUUID();
    await charge(key, { ...card, source: 'tok_decline' });
    expect((await voidKey(key)).body).toMatchObject({ outcome: 'DECLINED', charge: { status: 'DECLINED' } });
  });

  it('never leaves money taken when a charge and a void of the same key race', async () => {
    for (let round = 0; round < 20; round++) {
      const key = randomUUID();
      const [charged, voided] = await Promise.all([charge(key, card), voidKey(key)]);
      expect(voided.status).toBe(200);
      const rows = await service.db.query<{ status: string }>('SELECT p.status FROM payments p WHERE p.id = $1', [charged.body.id ?? randomUUID()]);
      if (charged.status === 201) {
        // The charge won: the void found it and refunded it.
        expect(voided.body.outcome).toBe('REFUNDED');
        expect(rows).toEqual([{ status: 'REFUNDED' }]);
      } else {
        // The void won: the charge was refused and nothing was stored.
        expectError(charged, 409, 'CHARGE_VOIDED');
        expect(voided.body.outcome).toBe('NOTHING_CHARGED');
      }
    }
  });

  it('requires an idempotency key and a well-formed charge key', async () => {
    expectError(await call('POST', '/charge-voids', { json: { chargeKey: 'k' } }), 400, 'IDEMPOTENCY_KEY_MISSING');
    expectError(await call('POST', '/charge-voids', { json: { chargeKey: '' }, headers: { 'idempotency-key': 'v' } }), 400, 'VALIDATION_FAILED');
  });
});
