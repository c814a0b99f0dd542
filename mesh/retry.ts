import { Duration } from 'cdk8s';

/**
 * Envoy retry conditions Istio accepts in `retries.retryOn`
 * (https://istio.io/latest/docs/reference/config/networking/virtual-service/#HTTPRetry).
 */
export type RetryCondition =
  | '5xx'
  | 'gateway-error'
  | 'reset'
  | 'reset-before-request'
  | 'connect-failure'
  | 'refused-stream'
  | 'retriable-4xx'
  | 'retriable-status-codes'
  | 'envoy-ratelimited';

/**
 * Conditions under which the request cannot have reached the application, so a
 * retry can never apply a write twice. Everything else may repeat a side effect.
 */
export const NEVER_REACHED_APP: ReadonlySet<RetryCondition> = new Set<RetryCondition>([
  'connect-failure',
  'refused-stream',
  'reset-before-request',
  'envoy-ratelimited',
]);

export interface RetryOptions {
  /**
   * Retries after the first try (Istio `attempts`; total tries = attempts + 1).
   * @default 2
   */
  readonly attempts?: number;
  /**
   * Budget of each try (Istio `perTryTimeout`).
   * @default - the route's timeout divided by the number of tries
   */
  readonly perTryTimeout?: Duration;
  /**
   * Base interval between tries (Istio `backoff`), jittered by Envoy.
   * @default Duration.millis(25)
   */
  readonly backoff?: Duration;
}

/**
 * A route's retry policy. Choose by what the call can safely repeat:
 * `Retry.onGatewayErrors` for reads, `Retry.onTransientErrors` for writes that
 * carry an idempotency key, `Retry.onConnectFailure` for other writes,
 * `Retry.none()` to switch Istio's default retries off.
 */
export class Retry {
  /** Retries on 502/503/504, resets and refused connections: for reads. */
  static onGatewayErrors(options: RetryOptions = {}): Retry {
    return new Retry(['gateway-error', 'connect-failure', 'refused-stream', 'reset'], options);
  }

  /** Same conditions as reads, for writes made safe by an idempotency key. */
  static onTransientErrors(options: RetryOptions = {}): Retry {
    return new Retry(['gateway-error', 'connect-failure', 'refused-stream', 'reset'], options);
  }

  /** Retries only when the request cannot have reached the app: for non-idempotent writes. */
  static onConnectFailure(options: RetryOptions = {}): Retry {
    return new Retry(['connect-failure', 'refused-stream', 'reset-before-request'], options);
  }

  /** Explicit conditions, for policies the factories don't cover. */
  static on(conditions: readonly RetryCondition[], options: RetryOptions = {}): Retry {
    return new Retry(conditions, options);
  }

  /** No retries at all (renders `attempts: 0`, which turns Istio's default retry policy off). */
  static none(): Retry {
    return new Retry([], { attempts: 0 });
  }

  readonly attempts: number;
  readonly perTryTimeout?: Duration;
  readonly backoff: Duration;

  private constructor(
    readonly conditions: readonly RetryCondition[],
    options: RetryOptions,
  ) {
    this.attempts = options.attempts ?? 2;
    this.perTryTimeout = options.perTryTimeout;
    this.backoff = options.backoff ?? Duration.millis(25);
  }

  /** Total tries including the first. */
  get tries(): number {
    return this.attempts + 1;
  }

  /** Conditions that may repeat a request the application already processed. */
  get unsafeConditions(): RetryCondition[] {
    return this.attempts === 0 ? [] : this.conditions.filter((c) => !NEVER_REACHED_APP.has(c));
  }

  get retryOn(): string {
    return this.conditions.join(',');
  }
}
