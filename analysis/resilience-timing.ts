/**
 * What one VirtualService route costs its caller in the worst case: how many
 * tries Envoy makes, how many of them can reach the application, and how long
 * the caller can wait for the answer. The model itself is the library's
 * (mesh/worst-case.ts), shared with the construct validation; this adds what only
 * the analyzer needs.
 */
import { conditionsAfterReachingApp, triesOf } from '../mesh/worst-case.js';
import type { RetrySpec } from './resilience-model.js';

export { backoffBoundMs, conditionsAfterReachingApp, formatMs, triesOf, tryBudgetMs, worstCase, type WorstCase } from '../mesh/worst-case.js';

/** Tries that can reach the app: all of them when a retry can follow a processed request, else one. */
export function appRequestsPerCall(retry: RetrySpec): number {
  return conditionsAfterReachingApp(retry).length > 0 ? triesOf(retry) : 1;
}
