import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger, Worker } from '../../kit/index.js';
import type { Order } from '../domain/orders.js';
import type { OrderSaga } from '../domain/saga.js';
import type { OrderStore } from './order-store.js';

/** Orders taken over per claim, and compensated at once: enough to drain a backlog in seconds, few enough not to swamp product and payment. */
const SWEEP_BATCH = 50;
const SWEEP_CONCURRENCY = 8;

export interface RecoverySweepOptions {
  readonly store: OrderStore;
  readonly saga: OrderSaga;
  readonly logger: Logger;
  /** Pause between sweeps. */
  readonly intervalMs: number;
  /** A PENDING order untouched this long has lost its saga (crash) or has a compensation to finish. */
  readonly staleMs: number;
}

/**
 * Finishes orders left PENDING: a saga interrupted by a crash, a restart or a long
 * pause, or a compensation that failed. Taking an order over moves its lease, so the
 * saga that held it can no longer write. It never drives an order forward; it
 * compensates and cancels (or confirms, when it finds the reservation already committed).
 * It makes at most one pass of calls per order per interval: a schedule, not a retry loop.
 */
export class RecoverySweep implements Worker {
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(private readonly options: RecoverySweepOptions) {}

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  /**
   * One pass: takes over stale orders a batch at a time until none is left, compensating
   * a few at once; returns how many it finished.
   */
  async sweepOnce(): Promise<number> {
    const { store, staleMs } = this.options;
    let finished = 0;
    for (;;) {
      const batch = await store.claimStale(staleMs, SWEEP_BATCH);
      for (let i = 0; i < batch.length; i += SWEEP_CONCURRENCY) {
        const settled = await Promise.all(batch.slice(i, i + SWEEP_CONCURRENCY).map((order) => this.recover(order)));
        finished += settled.filter(Boolean).length;
      }
      if (batch.length < SWEEP_BATCH || this.abort.signal.aborted) return finished;
    }
  }

  private async recover(order: Order): Promise<boolean> {
    const result = await this.options.saga.compensate(order, order.cancelReason ?? 'ABANDONED');
    this.options.logger.info({ orderId: order.id, status: result.status, reason: result.cancelReason }, 'recovered a pending order');
    return result.status !== 'PENDING';
  }

  private async run(): Promise<void> {
    while (!this.abort.signal.aborted) {
      try {
        await this.sweepOnce();
      } catch (err) {
        this.options.logger.warn({ err }, 'recovery sweep failed');
      }
      try {
        await sleep(this.options.intervalMs, undefined, { signal: this.abort.signal });
      } catch {
        return;
      }
    }
  }
}
