import { describe, expect, it } from 'vitest';
import { normalizeLines, replayReservation, sameLines, transition, type Reservation } from '../../apps/product/domain/catalog.js';

const reservation = (status: Reservation['status']): Reservation => ({
  orderId: 'o-1',
  status,
  items: [{ productId: 'mug', quantity: 2, unitPriceCents: 100 }],
  totalCents: 200,
  currency: 'EUR',
});

describe('reservation lines', () => {
  it('merges repeated products and sorts by product id so locks are always taken in one order', () => {
    expect(
      normalizeLines([
        { productId: 'mug', quantity: 1 },
        { productId: 'beans', quantity: 2 },
        { productId: 'mug', quantity: 3 },
      ]),
    ).toEqual([
      { productId: 'beans', quantity: 2 },
      { productId: 'mug', quantity: 4 },
    ]);
  });

  it('treats the same items in another order or split differently as the same request', () => {
    expect(
      sameLines(
        [
          { productId: 'a', quantity: 2 },
          { productId: 'b', quantity: 1 },
        ],
        [
          { productId: 'b', quantity: 1 },
          { productId: 'a', quantity: 1 },
          { productId: 'a', quantity: 1 },
        ],
      ),
    ).toBe(true);
    expect(sameLines([{ productId: 'a', quantity: 2 }], [{ productId: 'a', quantity: 3 }])).toBe(false);
    expect(
      sameLines(
        [{ productId: 'a', quantity: 2 }],
        [
          { productId: 'a', quantity: 2 },
          { productId: 'b', quantity: 1 },
        ],
      ),
    ).toBe(false);
  });
});

describe('reservation state machine', () => {
  it('moves RESERVED to COMMITTED or RELEASED', () => {
    expect(transition(reservation('RESERVED'), 'commit')).toEqual({ kind: 'change', to: 'COMMITTED' });
    expect(transition(reservation('RESERVED'), 'release')).toEqual({ kind: 'change', to: 'RELEASED' });
  });

  it('leaves a repeated step unchanged', () => {
    expect(transition(reservation('COMMITTED'), 'commit')).toEqual({ kind: 'unchanged' });
    expect(transition(reservation('RELEASED'), 'release')).toEqual({ kind: 'unchanged' });
  });

  it('refuses to leave a final state for the other one', () => {
    expect(() => transition(reservation('COMMITTED'), 'release')).toThrow(expect.objectContaining({ code: 'RESERVATION_COMMITTED', status: 409 }));
    expect(() => transition(reservation('RELEASED'), 'commit')).toThrow(expect.objectContaining({ code: 'RESERVATION_RELEASED', status: 409 }));
  });

  it('replays a retried reservation and refuses one for other items or after release', () => {
    expect(replayReservation(reservation('RESERVED'), [{ productId: 'mug', quantity: 2 }])).toEqual(reservation('RESERVED'));
    expect(() => replayReservation(reservation('RESERVED'), [{ productId: 'mug', quantity: 1 }])).toThrow(
      expect.objectContaining({ code: 'RESERVATION_MISMATCH' }),
    );
    expect(() => replayReservation(reservation('RELEASED'), [{ productId: 'mug', quantity: 2 }])).toThrow(
      expect.objectContaining({ code: 'RESERVATION_RELEASED' }),
    );
  });
});
