import { ProductNotFoundError, ReservationNotFoundError, normalizeLines, type Line, type Product, type Reservation } from './catalog.js';

/** Storage of the catalog and reservations; every method is one transaction. */
export interface InventoryStore {
  listProducts(limit: number, offset: number): Promise<Product[]>;
  findProduct(id: string): Promise<Product | undefined>;
  /** Takes stock for a new reservation, or returns the stored one (`created: false`). Lines arrive normalized. */
  reserve(orderId: string, lines: readonly Line[]): Promise<{ reservation: Reservation; created: boolean }>;
  /** Commits or releases; releasing an unknown order stores a RELEASED tombstone. */
  settle(orderId: string, action: 'commit' | 'release'): Promise<Reservation | undefined>;
}

export class Inventory {
  constructor(private readonly store: InventoryStore) {}

  listProducts(limit: number, offset: number): Promise<Product[]> {
    return this.store.listProducts(limit, offset);
  }

  async getProduct(id: string): Promise<Product> {
    const product = await this.store.findProduct(id);
    if (!product) throw new ProductNotFoundError(id);
    return product;
  }

  /** Idempotent per order id: a retry gets the same reservation, never a second one. */
  reserve(orderId: string, lines: readonly Line[]): Promise<{ reservation: Reservation; created: boolean }> {
    return this.store.reserve(orderId, normalizeLines(lines));
  }

  async commit(orderId: string): Promise<Reservation> {
    const reservation = await this.store.settle(orderId, 'commit');
    if (!reservation) throw new ReservationNotFoundError(orderId);
    return reservation;
  }

  /**
   * Returns the stock. Releasing an order that never reserved records the release,
   * so a reservation request arriving late (a slow retry) is refused, not held forever.
   */
  async release(orderId: string): Promise<Reservation> {
    const reservation = await this.store.settle(orderId, 'release');
    if (!reservation) throw new ReservationNotFoundError(orderId);
    return reservation;
  }
}
