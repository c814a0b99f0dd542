/**
 * One model of what a route costs its caller in the worst case, shared by the construct
 * validation (resilience-policy.ts) and the offline analyzer (analysis/resilience-timing.ts):
 * how many tries Envoy makes, how long each failed try can last, and the backoff Envoy waits
 * between tries. Pure functions of plain numbers, so both the typed constructs and parsed
 * manifests feed it.
 *
 * Envoy's retry backoff is fully jittered exponential: before retry n it waits a random time in
 * [0, (2^n - 1) x base] ("the first retry will be delayed randomly between 0-24ms, the 2nd between
 * 0-74ms, the 3rd between 0-174ms", Envoy's router docs), capped at max_interval, which defaults
 * to 10 x base (Envoy's BackoffStrategy). Istio sets the base from `retries.backoff`, else Envoy's
 * default of 25 ms: at most 25 + 75 = 100 ms for 2 retries, 275 ms for 3, 775 ms for 5.
 */
import { NEVER_REACHED_APP } from './retry.js';

/** Envoy's default base interval between tries when a route sets no backoff. */
export const ENVOY_DEFAULT_BACKOFF_MS = 25;

/** Envoy caps the jittered exponential backoff at ten times the base interval (default max_interval). */
export const BACKOFF_MAX_FACTOR = 10;

/** A route's retries as plain numbers (the analyzer's RetrySpec has this shape). */
export interface RetryTiming {
  /** Retries after the first try (Istio `attempts`). */
  readonly attempts: number;
  /** Budget of one try; undefined means the route timeout (Istio's default). */
  readonly perTryTimeoutMs?: number;
  readonly retryOn: readonly string[];
  /** Base backoff interval (Istio `backoff`). */
  readonly backoffMs: number;
}

export interface RouteTiming {
  /** Whole-request timeout including retries; undefined means none. */
  readonly timeoutMs?: number;
  readonly retry: RetryTiming;
}

export function triesOf(retry: Pick<RetryTiming, 'attempts'>): number {
  return Math.max(0, retry.attempts) + 1;
}

/**
 * Retry conditions that fire after the request may have reached the app
 * (5xx, gateway-error, reset, retriable-*, status codes...). Only these repeat
 * a handler's work, and they are also the ones that re-send after a per-try
 * timeout, so a failing try can last its whole budget.
 */
export function conditionsAfterReachingApp(retry: Pick<RetryTiming, 'attempts' | 'retryOn'>): string[] {
  if (retry.attempts <= 0) return [];
  return retry.retryOn.filter((c) => !(NEVER_REACHED_APP as ReadonlySet<string>).has(c));
}

/** Upper bound of Envoy's backoff waits: retry n waits below (2^n - 1) x base, capped at 10 x base. */
export function backoffBoundMs(retry: Pick<RetryTiming, 'attempts' | 'backoffMs'>): number {
  let total = 0;
  for (let n = 1; n <= retry.attempts; n++) total += Math.min((2 ** n - 1) * retry.backoffMs, BACKOFF_MAX_FACTOR * retry.backoffMs);
  return total;
}

/** Budget of one try: perTryTimeout, bounded by the route timeout; Infinity when neither is set. */
export function tryBudgetMs(route: RouteTiming): number {
  return Math.min(route.retry.perTryTimeoutMs ?? Infinity, route.timeoutMs ?? Infinity);
}

export interface WorstCase {
  /** Longest time the caller waits, retries included, capped by the route timeout (Infinity: nothing bounds it). */
  readonly ms: number;
  /** How the number came about, for messages: "3 tries x 900ms + 100ms backoff". */
  readonly explanation: string;
}

export interface TriesCost {
  /** What the tries and the backoff between them add up to, before the route timeout caps it. */
  readonly ms: number;
  /** Whether failed tries last their whole budget (the route retries after the app may have answered). */
  readonly slowFailures: boolean;
  /** The per-try budget used. */
  readonly perTryMs: number;
  /** Upper bound of the backoff waits included. */
  readonly backoffMs: number;
  /** "3 tries x 900ms + 100ms backoff". */
  readonly detail: string;
}

/**
 * What a route's tries cost in the worst case, uncapped. Failed tries last their whole
 * budget when the route retries after the app may have answered (a slow 503,
 * a per-try timeout); otherwise a retried try failed before reaching the app,
 * within the connect timeout. Envoy's backoff bound is added between tries.
 */
export function triesCost(route: RouteTiming, connectTimeoutMs: number): TriesCost {
  const perTry = tryBudgetMs(route);
  const { retry } = route;
  if (retry.attempts <= 0) return { ms: perTry, slowFailures: false, perTryMs: perTry, backoffMs: 0, detail: `1 try of ${formatMs(perTry)}` };
  const slowFailures = conditionsAfterReachingApp(retry).length > 0;
  const failedTry = slowFailures ? perTry : Math.min(perTry, connectTimeoutMs);
  const backoff = backoffBoundMs(retry);
  const tries = triesOf(retry);
  const detail = slowFailures
    ? `${tries} tries x ${formatMs(perTry)} + ${formatMs(backoff)} backoff`
    : `${retry.attempts} failed connect${retry.attempts === 1 ? '' : 's'} x ${formatMs(failedTry)} + ${formatMs(backoff)} backoff + 1 try of ${formatMs(perTry)}`;
  return { ms: retry.attempts * failedTry + backoff + perTry, slowFailures, perTryMs: perTry, backoffMs: backoff, detail };
}

/** Worst case of a route as its caller sees it: the cost of its tries, capped by the route timeout. */
export function worstCase(route: RouteTiming, connectTimeoutMs: number): WorstCase {
  const cost = triesCost(route, connectTimeoutMs);
  const cap = route.timeoutMs ?? Infinity;
  if (route.retry.attempts <= 0) return { ms: cost.ms, explanation: cost.detail };
  return cost.ms > cap ? { ms: cap, explanation: `the ${formatMs(cap)} timeout (${cost.detail} would be longer)` } : { ms: cost.ms, explanation: cost.detail };
}

/** "250ms", "2s", "2.8s", "unbounded". */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return 'unbounded';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  return `${Number((ms / 1000).toFixed(3))}s`;
}
