/**
 * kafkajs 2.2.4 re-arms a 1 ms timer on every broker connection forever once the connection has
 * answered anything: RequestQueue.scheduleCheckPendingRequests schedules a check even when nothing
 * is pending and nothing is throttled (`throttledUntil` is -1, so the delay is negative, so 1 ms),
 * and the check schedules the next one (tulios/kafkajs#1556, #1604, #1704; fixes proposed in PRs
 * #1667 and #1768, unreleased). Measured on the bench shop (strace, 2026-12-03): order, payment and
 * notification each woke ~900 times a second and burned ~40 ms of CPU per second while idle; user
 * and product, which do not use Kafka, ~100 times and 4 ms.
 *
 * The replacement schedules a check only when one can do something: a request waits (at the end of
 * a throttle, or kafkajs's 10 ms interval) or a throttle is running. A request pushed later either
 * goes out at once or is queued and schedules its own check; a response re-checks the queue itself.
 */
import RequestQueue from 'kafkajs/src/network/requestQueue/index.js';

/** kafkajs's CHECK_PENDING_REQUESTS_INTERVAL. */
const CHECK_PENDING_REQUESTS_INTERVAL_MS = 10;

interface QueueState {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  checkPendingRequests(): void;
}

export const kafkaRequestQueue = RequestQueue as unknown as { prototype: QueueState & { scheduleCheckPendingRequests(this: QueueState): void } };

/** kafkajs's own method, kept for the test that shows the loop it makes. */
export const kafkajsScheduleCheckPendingRequests = kafkaRequestQueue.prototype.scheduleCheckPendingRequests;

kafkaRequestQueue.prototype.scheduleCheckPendingRequests = function scheduleCheckPendingRequests(this: QueueState) {
  if (this.throttleCheckTimeoutId) return;
  const throttledForMs = this.throttledUntil - Date.now();
  if (this.pending.length === 0 && throttledForMs <= 0) return;
  const delayMs = this.pending.length > 0 && throttledForMs <= 0 ? CHECK_PENDING_REQUESTS_INTERVAL_MS : throttledForMs;
  this.throttleCheckTimeoutId = setTimeout(() => {
    this.throttleCheckTimeoutId = null;
    this.checkPendingRequests();
  }, delayMs);
};
