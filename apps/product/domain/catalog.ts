import { AppError, ConflictError, NotFoundError } from '../../kit/index.js';

export interface Product {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly priceCents: number;
  readonly currency: string;
  /** Units that can still be reserved. */
  readonly available: number;
}

export interface Line {
  readonly productId: string;
  readonly quantity: number;
}

export interface PricedLine extends Line {
  readonly unitPriceCents: number;
}

export type ReservationStatus = 'RESERVED' | 'COMMITTED' | 'RELEASED';

export interface Reservation {
  readonly orderId: string;
  readonly status: ReservationStatus;
  readonly items: readonly PricedLine[];
  readonly totalCents: number;
  readonly currency: string;
}

export class ProductNotFoundError extends NotFoundError {
  constructor(id: string) {
    super('PRODUCT_NOT_FOUND', `product ${id} does not exist`);
  }
}

export class UnknownProductError extends AppError {
  constructor(productId: string) {
    super(422, 'UNKNOWN_PRODUCT', `product ${productId} does not exist`, { productId });
  }
}

export class InsufficientStockError extends ConflictError {
  constructor(productId: string, requested: number, available: number) {
    super('INSUFFICIENT_STOCK', `only ${available} of ${productId} left, ${requested} requested`, { productId, requested, available });
  }
}

export class ReservationNotFoundError extends NotFoundError {
  constructor(orderId: string) {
    super('RESERVATION_NOT_FOUND', `no reservation for order ${orderId}`);
  }
}

export class ReservationConflictError extends ConflictError {}

/**
 * One line per product, sorted by product id. Sorting makes every reservation
 * lock inventory rows in the same order, so two concurrent orders cannot deadlock.
 */
export function normalizeLines(lines: readonly Line[]): Line[] {
  const merged = new Map<string, number>();
  for (const { productId, quantity } of lines) merged.set(productId, (merged.get(productId) ?? 0) + quantity);
  return [...merged]
    .map(([productId, quantity]) => ({ productId, quantity }))
    .sort((a, b) => (a.productId < b.productId ? -1 : a.productId > b.productId ? 1 : 0));
}

/** Whether a repeated reservation request asks for the same thing as the stored one. */
export function sameLines(a: readonly Line[], b: readonly Line[]): boolean {
  const x = normalizeLines(a);
  const y = normalizeLines(b);
  return x.length === y.length && x.every((l, i) => l.productId === y[i]!.productId && l.quantity === y[i]!.quantity);
}

/**
 * What a repeated POST /reservations for an existing order gets: the stored
 * reservation when it is the same request (a retry), an error otherwise.
 */
export function replayReservation(existing: Reservation, requested: readonly Line[]): Reservation {
  if (existing.status === 'RELEASED') {
    throw new ReservationConflictError('RESERVATION_RELEASED', `the reservation of order ${existing.orderId} was released; the order cannot reserve again`);
  }
  if (!sameLines(existing.items, requested)) {
    throw new ReservationConflictError('RESERVATION_MISMATCH', `order ${existing.orderId} already holds a reservation for other items`, {
      items: existing.items,
    });
  }
  return existing;
}

export type Transition = { readonly kind: 'change'; readonly to: ReservationStatus } | { readonly kind: 'unchanged' };

/** The reservation state machine: RESERVED -> COMMITTED | RELEASED, both final; repeating a step changes nothing. */
export function transition(current: Reservation, action: 'commit' | 'release'): Transition {
  const target: ReservationStatus = action === 'commit' ? 'COMMITTED' : 'RELEASED';
  if (current.status === target) return { kind: 'unchanged' };
  if (current.status === 'RESERVED') return { kind: 'change', to: target };
  throw new ReservationConflictError(
    `RESERVATION_${current.status}`,
    `cannot ${action} the reservation of order ${current.orderId}: it is already ${current.status.toLowerCase()}`,
  );
}

export const totalOf = (lines: readonly PricedLine[]) => lines.reduce((sum, l) => sum + l.quantity * l.unitPriceCents, 0);
