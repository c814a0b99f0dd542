import { setTimeout as sleep } from 'node:timers/promises';

/** Exponential backoff with full jitter, for reconnecting to a broker (the one retry loop the kit has). */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly initialMs = 500,
    private readonly maxMs = 30_000,
  ) {}

  /** The next delay: random in [0, min(max, initial * 2^attempt)]. */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** this.attempt);
    this.attempt += 1;
    return Math.round(Math.random() * ceiling);
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** Sleeps unless `signal` aborts first; resolves false when aborted. */
export async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}
