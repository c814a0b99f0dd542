import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger, Worker } from '../../kit/index.js';
import type { OrderSaga } from '../domain/saga.js';
import type { OrderStore } from './order-store.js';

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
 * Finishes orders left PENDING: a saga interrupted by a crash or a restart, or a
 * compensation that failed. It never drives an order forward; it compensates
 * and cancels (or confirms, when it finds the reservation already committed).
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

  /** One pass; returns how many orders it finished. */
  async sweepOnce(): Promise<number> {
    const { store, saga, logger, staleMs } = this.options;
    let finished = 0;
    for (const order of await store.claimStale(staleMs, 20)) {
      const result = await saga.compensate(order, order.cancelReason ?? 'ABANDONED');
      if (result.status !== 'PENDING') finished += 1;
      logger.info({ orderId: order.id, status: result.status, reason: result.cancelReason }, 'recovered a pending order');
    }
    return finished;
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
