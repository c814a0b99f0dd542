import { Duration } from 'cdk8s';

/** Outlier detection (https://istio.io/latest/docs/reference/config/networking/destination-rule/#OutlierDetection). */
export interface OutlierDetectionOptions {
  /**
   * 5xx responses in a row that eject a pod (`consecutive5xxErrors`).
   * @default 3
   */
  readonly consecutive5xxErrors?: number;
  /**
   * How often ejections are evaluated (`interval`).
   * @default Duration.seconds(5)
   */
  readonly interval?: Duration;
  /**
   * Minimum ejection time, multiplied by the number of ejections (`baseEjectionTime`).
   * @default Duration.seconds(30)
   */
  readonly baseEjectionTime?: Duration;
  /**
   * Upper bound of pods ejected at once, in percent (`maxEjectionPercent`). Envoy
   * ejects floor(replicas x percent / 100) pods at most, so small replica counts
   * need a high percentage to eject anything at all.
   * @default - the largest percentage that always leaves one pod: floor(100 x (replicas - 1) / replicas); 0 for one replica
   */
  readonly maxEjectionPercent?: number;
}

/** Connection pool / circuit breaker (https://istio.io/latest/docs/reference/config/networking/destination-rule/#ConnectionPoolSettings). */
export interface ConnectionPoolOptions {
  /**
   * TCP connections to the whole service (`tcp.maxConnections`), from each calling proxy.
   * @default - 16 per replica (`connectionsPerReplica`)
   */
  readonly maxConnections?: number;
  /**
   * TCP connect timeout (`tcp.connectTimeout`).
   * @default Duration.millis(500)
   */
  readonly connectTimeout?: Duration;
  /**
   * Requests queued while waiting for a connection (`http.http1MaxPendingRequests`);
   * beyond it Envoy sheds load with 503 (response flag UO) instead of queueing.
   * @default - half the connections: 8 per replica
   */
  readonly maxPendingRequests?: number;
  /**
   * Concurrent requests to the service (`http.http2MaxRequests`; Envoy applies it to HTTP/1.1 too).
   * @default - connections plus pending: 24 per replica
   */
  readonly maxRequests?: number;
  /**
   * Concurrent retries outstanding to the service (`http.maxRetries`).
   * @default 16
   */
  readonly maxRetries?: number;
  /**
   * Idle time after which Envoy closes an upstream connection (`http.idleTimeout`). Keep it
   * below the app's keep-alive timeout (65s in the service kit), so Envoy never sends on a
   * connection the app is closing.
   * @default Duration.seconds(30)
   */
  readonly idleTimeout?: Duration;
}

/** Retry budget (https://istio.io/latest/docs/reference/config/networking/destination-rule/#TrafficPolicy-RetryBudget). */
export interface RetryBudgetOptions {
  /**
   * Concurrent retries as a percentage of active plus pending requests (`percent`).
   * @default 20
   */
  readonly percent?: number;
  /**
   * Retries always allowed regardless of the percentage (`minRetryConcurrency`).
   * @default 3
   */
  readonly minRetryConcurrency?: number;
}

/** Outlier detection with defaults applied. */
export interface ResolvedOutlierDetection {
  readonly consecutive5xxErrors: number;
  readonly interval: Duration;
  readonly baseEjectionTime: Duration;
  readonly maxEjectionPercent: number;
}

export function resolveOutlierDetection(options: OutlierDetectionOptions, replicas: number): ResolvedOutlierDetection {
  return {
    consecutive5xxErrors: options.consecutive5xxErrors ?? 3,
    interval: options.interval ?? Duration.seconds(5),
    baseEjectionTime: options.baseEjectionTime ?? Duration.seconds(30),
    maxEjectionPercent: options.maxEjectionPercent ?? defaultMaxEjectionPercent(replicas),
  };
}

/** The largest percentage that always leaves one pod serving. */
export function defaultMaxEjectionPercent(replicas: number): number {
  return replicas <= 1 ? 0 : Math.floor((100 * (replicas - 1)) / replicas);
}

/** How many pods Envoy may eject at once for a percentage (it never rounds up). */
export function ejectablePods(replicas: number, maxEjectionPercent: number): number {
  return Math.floor((replicas * maxEjectionPercent) / 100);
}

export interface ResolvedConnectionPool {
  readonly maxConnections: number;
  readonly connectTimeout: Duration;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
  readonly maxRetries: number;
  readonly idleTimeout: Duration;
}

/**
 * Requests one replica is allowed at once by default. A service of the kit serves from one event
 * loop with a database pool of 5 connections: more requests at once only queue inside it. The pool
 * exists to shed what the replicas cannot serve, fast, before it queues. The first default, a fixed
 * 100 connections + 32 pending whatever the replicas, bound only once two cores had saturated on
 * the local mesh: product's reads queued in CPU at the overload scenario's baseline (chaos/README.md).
 */
export const connectionsPerReplica = 16;

export function resolveConnectionPool(options: ConnectionPoolOptions, replicas: number): ResolvedConnectionPool {
  const connections = Math.max(1, replicas) * connectionsPerReplica;
  return {
    maxConnections: options.maxConnections ?? connections,
    connectTimeout: options.connectTimeout ?? Duration.millis(500),
    maxPendingRequests: options.maxPendingRequests ?? connections / 2,
    maxRequests: options.maxRequests ?? connections + connections / 2,
    maxRetries: options.maxRetries ?? 16,
    idleTimeout: options.idleTimeout ?? Duration.seconds(30),
  };
}

export function resolveRetryBudget(options: RetryBudgetOptions): Required<RetryBudgetOptions> {
  return { percent: options.percent ?? 20, minRetryConcurrency: options.minRetryConcurrency ?? 3 };
}
