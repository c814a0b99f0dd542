/**
 * The two ways of driving load, whatever is sent: an open loop (requests leave on a fixed
 * schedule, as wrk2 does) and a closed loop (N connections, each sending when the last answer
 * came, as wrk does). Both are bounded by a duration; what a request is and how its answer
 * counts is the caller's (load/http.ts sends it).
 */

export interface OpenLoopOptions {
  readonly ratePerSecond: number;
  /** Requests due at or after this many milliseconds from the start are never sent. */
  readonly durationMs: number;
  /** @default - no bound but the duration */
  readonly maxRequests?: number;
  /** Requests in flight at most: one due while they are is handed to `dropped` instead of `fire`. */
  readonly maxInFlight: number;
  /**
   * Sends request `index`, due at `dueAt` (performance.now() time; latency counts from it, so a
   * server's queueing is not hidden by the generator waiting for it). Must not reject.
   */
  fire(index: number, dueAt: number): Promise<void>;
  dropped(index: number, dueAt: number): void;
  /** Called about every `everyMs` while requests are due (progress output). */
  readonly tick?: { readonly everyMs: number; run(): void };
}

export interface OpenLoopEnd {
  /** Requests due (fired or dropped). */
  readonly scheduled: number;
  /** Which bound ended the schedule. */
  readonly ended: 'stopped' | 'duration' | 'requests';
}

export interface OpenLoop {
  /** performance.now() when request 0 was due. */
  readonly startedAt: number;
  readonly inFlight: number;
  /** No further request is due; `done` still waits for those in flight. */
  stop(): void;
  /** Settles once no request is due any more and every fired one has settled. */
  readonly done: Promise<OpenLoopEnd>;
}

/**
 * Request k is due k / rate seconds after the start, whatever the answers do (a slow server
 * does not slow the load down). Requests are fired when due, never before, and those due
 * while the loop slept leave at once, late: their latency still counts from when they were due.
 */
export function openLoop(options: OpenLoopOptions): OpenLoop {
  const intervalMs = 1000 / options.ratePerSecond;
  const dueInDuration = Math.ceil(options.durationMs / intervalMs);
  const limit = Math.min(dueInDuration, options.maxRequests ?? Number.POSITIVE_INFINITY);
  const startedAt = performance.now();
  let scheduled = 0;
  let inFlight = 0;
  let stopped = false;
  let wake: (() => void) | undefined;
  let drained: (() => void) | undefined;
  const settle = () => {
    inFlight -= 1;
    if (inFlight === 0) drained?.();
  };

  const done = (async (): Promise<OpenLoopEnd> => {
    // The first requests leave a microtask later, once the caller holds the returned handle.
    await Promise.resolve();
    let nextTick = options.tick?.everyMs ?? Number.POSITIVE_INFINITY;
    while (!stopped && scheduled < limit) {
      const now = performance.now() - startedAt;
      const due = Math.min(limit, Math.floor(now / intervalMs) + 1);
      for (; scheduled < due; scheduled += 1) {
        const dueAt = startedAt + scheduled * intervalMs;
        if (inFlight >= options.maxInFlight) {
          options.dropped(scheduled, dueAt);
          continue;
        }
        inFlight += 1;
        void options.fire(scheduled, dueAt).then(settle);
      }
      if (options.tick && now >= nextTick) {
        nextTick = now + options.tick.everyMs;
        options.tick.run();
      }
      if (scheduled >= limit) break;
      const waitMs = Math.max(0, Math.min(scheduled * intervalMs, nextTick) - (performance.now() - startedAt));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
    const ended = scheduled < limit ? 'stopped' : scheduled >= dueInDuration ? 'duration' : 'requests';
    if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
    return { scheduled, ended };
  })();

  return {
    startedAt,
    get inFlight() {
      return inFlight;
    },
    stop() {
      stopped = true;
      wake?.();
    },
    done,
  };
}

export interface ClosedLoopOptions {
  /** Workers, each with one request in flight: with a keep-alive agent of as many sockets, one connection each. */
  readonly connections: number;
  /** No request is sent after this many milliseconds from the start. */
  readonly durationMs: number;
  /** Sends one request of `worker` and settles when it is answered. Must not reject. */
  fire(worker: number): Promise<void>;
}

/** Runs `connections` workers back to back until the duration is over; resolves with the requests fired. */
export async function closedLoop(options: ClosedLoopOptions): Promise<number> {
  const end = performance.now() + options.durationMs;
  let fired = 0;
  const worker = async (index: number) => {
    while (performance.now() < end) {
      fired += 1;
      await options.fire(index);
    }
  };
  await Promise.all(Array.from({ length: options.connections }, (_, index) => worker(index)));
  return fired;
}
