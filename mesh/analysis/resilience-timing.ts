/**
 * What one VirtualService route costs its caller in the worst case: how many
 * tries Envoy makes, how many of them can reach the application, and how long
 * the caller can wait for the answer. Pure functions of a parsed route.
 */
import { NEVER_REACHED_APP } from '../retry.js';
import type { HttpRoute, RetrySpec } from './resilience-model.js';

/** Envoy caps the jittered exponential backoff at ten times the base interval. */
const BACKOFF_MAX_FACTOR = 10;

export function triesOf(retry: RetrySpec): number {
  return Math.max(0, retry.attempts) + 1;
}

/**
 * Retry conditions that fire after the request may have reached the app
 * (5xx, gateway-error, reset, retriable-*, status codes...). Only these repeat
 * a handler's work, and they are also the ones that re-send after a per-try
 * timeout, so a failing try can last its whole budget.
 */
export function conditionsAfterReachingApp(retry: RetrySpec): string[] {
  if (retry.attempts <= 0) return [];
  return retry.retryOn.filter((c) => !(NEVER_REACHED_APP as ReadonlySet<string>).has(c));
}

/** Tries that can reach the app: all of them when a retry can follow a processed request, else one. */
export function appRequestsPerCall(retry: RetrySpec): number {
  return conditionsAfterReachingApp(retry).length > 0 ? triesOf(retry) : 1;
}

/** Upper bound of Envoy's backoff waits: retry n waits below (2^n - 1) x base, capped at 10 x base. */
export function backoffBoundMs(retry: RetrySpec): number {
  let total = 0;
  for (let n = 1; n <= retry.attempts; n++) total += Math.min((2 ** n - 1) * retry.backoffMs, BACKOFF_MAX_FACTOR * retry.backoffMs);
  return total;
}

/** Budget of one try: perTryTimeout, bounded by the route timeout; Infinity when neither is set. */
export function tryBudgetMs(route: Pick<HttpRoute, 'timeoutMs' | 'retry'>): number {
  return Math.min(route.retry.perTryTimeoutMs ?? Infinity, route.timeoutMs ?? Infinity);
}

export interface WorstCase {
  /** Longest time the caller waits, retries included (Infinity: nothing bounds it). */
  readonly ms: number;
  /** How the number came about, for messages: "3 tries x 0.9s + 100ms backoff". */
  readonly explanation: string;
}

/**
 * Worst case of a route as its caller sees it. Failed tries last their whole
 * budget when the route retries after the app may have answered (a slow 503,
 * a per-try timeout); otherwise a retried try failed before reaching the app,
 * within the connect timeout. The route timeout caps the total.
 */
export function worstCase(route: Pick<HttpRoute, 'timeoutMs' | 'retry'>, connectTimeoutMs: number): WorstCase {
  const perTry = tryBudgetMs(route);
  const { retry } = route;
  const cap = route.timeoutMs ?? Infinity;
  if (retry.attempts <= 0) return { ms: perTry, explanation: `1 try of ${formatMs(perTry)}` };
  const slowFailures = conditionsAfterReachingApp(retry).length > 0;
  const failedTry = slowFailures ? perTry : Math.min(perTry, connectTimeoutMs);
  const backoff = backoffBoundMs(retry);
  const total = retry.attempts * failedTry + backoff + perTry;
  const tries = triesOf(retry);
  const detail = slowFailures
    ? `${tries} tries x ${formatMs(perTry)} + ${formatMs(backoff)} backoff`
    : `${retry.attempts} failed connect${retry.attempts === 1 ? '' : 's'} x ${formatMs(failedTry)} + ${formatMs(backoff)} backoff + 1 try of ${formatMs(perTry)}`;
  return total > cap ? { ms: cap, explanation: `the ${formatMs(cap)} timeout (${detail} would be longer)` } : { ms: total, explanation: detail };
}

/** "250ms", "2s", "2.8s", "unbounded". */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return 'unbounded';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  return `${Number((ms / 1000).toFixed(3))}s`;
}
