import { describe, expect, it } from 'vitest';
import { canonicalJson, fingerprint, replay } from '../../apps/payment/domain/idempotency.js';
import { authorize, MAX_CHARGE_CENTS } from '../../apps/payment/domain/payments.js';

describe('authorize', () => {
  const ok = { amountCents: 100, currency: 'EUR', source: 'tok_visa' };

  it('approves ordinary charges', () => {
    expect(authorize(ok)).toEqual({ approved: true });
    expect(authorize({ ...ok, amountCents: MAX_CHARGE_CENTS })).toEqual({ approved: true });
  });

  it('declines the test tokens and amounts over the limit with a reason', () => {
    expect(authorize({ ...ok, source: 'tok_decline' })).toEqual({ approved: false, declineCode: 'card_declined' });
    expect(authorize({ ...ok, source: 'tok_insufficient_funds' })).toEqual({ approved: false, declineCode: 'insufficient_funds' });
    expect(authorize({ ...ok, amountCents: MAX_CHARGE_CENTS + 1 })).toEqual({ approved: false, declineCode: 'amount_limit_exceeded' });
  });
});

describe('request fingerprints', () => {
  it('ignore key order and absent optional fields', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null }, e: undefined })).toBe('{"a":{"c":null,"d":[1,{"x":1,"y":2}]},"b":1}');
    expect(fingerprint('charge', '', { a: 1, b: 2 })).toBe(fingerprint('charge', '', { b: 2, a: 1 }));
  });

  it('differ when the body, the target or the operation differs', () => {
    const base = fingerprint('refund', 'c-1', {});
    expect(fingerprint('refund', 'c-2', {})).not.toBe(base);
    expect(fingerprint('charge', 'c-1', {})).not.toBe(base);
    expect(fingerprint('refund', 'c-1', { reason: 'x' })).not.toBe(base);
  });
});

describe('replay', () => {
  it('gives back a stored success and re-raises a stored error', () => {
    expect(replay({ status: 201, body: { id: 'c-1' } })).toEqual({ status: 201, body: { id: 'c-1' } });
    expect(() => replay({ status: 402, error: { code: 'PAYMENT_DECLINED', message: 'declined' } })).toThrow(
      expect.objectContaining({ status: 402, code: 'PAYMENT_DECLINED' }),
    );
  });
});
