import { Chart, Duration, Lazy } from 'cdk8s';
import { Construct } from 'constructs';
import {
  DestinationRule,
  type DestinationRuleSpecSubsets,
  type DestinationRuleSpecTrafficPolicy,
  VirtualService,
  type VirtualServiceSpecHttp,
  type VirtualServiceSpecHttpMatch,
  type VirtualServiceSpecHttpMatchMethod,
  type VirtualServiceSpecHttpRouteDestination,
} from '../imports/istio-networking.istio.io.js';
import { PropsValidator } from '../constructs/validation.js';
import { describeDuration, istioDuration } from './istio-duration.js';
import { Retry } from './retry.js';
import { formatMs, triesCost, type RouteTiming } from './worst-case.js';
import { Route, RouteClass } from './route.js';
import {
  type ConnectionPoolOptions,
  type OutlierDetectionOptions,
  type ResolvedConnectionPool,
  type ResolvedOutlierDetection,
  type RetryBudgetOptions,
  ejectablePods,
  resolveConnectionPool,
  resolveOutlierDetection,
  resolveRetryBudget,
} from './traffic-policy.js';

export interface ResiliencePolicyProps {
  /** Kubernetes Service name the policy applies to (the mesh host). */
  readonly service: string;
  /** Service port that carries HTTP. */
  readonly port: number;
  /** The service's API, one Route per operation, most specific first; `addRoute` appends more. */
  readonly routes: readonly Route[];
  /**
   * Replicas that are always running (minReplicas with an autoscaler); decides
   * how many pods outlier detection can eject.
   */
  readonly replicas: number;
  /**
   * Namespace of the Service.
   * @default - the chart's namespace, else 'default'
   */
  readonly namespace?: string;
  /**
   * Pod label value of `version` that the single subset selects.
   * @default 'v1'
   */
  readonly version?: string;
  /**
   * Outlier detection (DestinationRule `trafficPolicy.outlierDetection`).
   * @default - eject after 3 consecutive 5xx for 30s, at most replicas - 1 pods
   */
  readonly outlierDetection?: OutlierDetectionOptions;
  /**
   * Connection pool / circuit breaking (DestinationRule `trafficPolicy.connectionPool`).
   * @default - per replica 16 connections, 8 pending, 24 concurrent requests; 16 concurrent retries
   */
  readonly connectionPool?: ConnectionPoolOptions;
  /**
   * Retry budget (DestinationRule `trafficPolicy.retryBudget`, Istio 1.26+); `false` leaves it out.
   * @default - 20% of active requests, at least 3
   */
  readonly retryBudget?: RetryBudgetOptions | false;
  /**
   * Route for requests that match no declared operation.
   * @default - a WRITE-class route: 3s timeout, retried only on connect failures
   */
  readonly fallbackTimeout?: Duration;
}

const MAX_ATTEMPTS = 10;

/**
 * Istio resilience for one service: a DestinationRule (subsets, connection pool,
 * outlier detection, retry budget) and a VirtualService with one HTTP route per
 * declared operation, each with the timeout and retries of its route class.
 * Both are named after the service and rendered at synthesis, so routes added with
 * `addRoute`, subsets added with `addSubset` and traffic policy set with the `configure*`
 * methods after construction are included. Invalid props throw at construction, an invalid
 * route or setting at the call that adds it.
 *
 * @example
 * const policy = new ResiliencePolicy(chart, 'payment', { service: 'payment', port: 8080, replicas: 2, routes: [Route.read('/charges/{id}')] });
 * policy.addRoute(Route.idempotentWrite('POST', '/charges', { keyHeader: 'idempotency-key' }));
 * policy.configureOutlierDetection({ consecutive5xxErrors: 5 });
 */
export class ResiliencePolicy extends Construct {
  /** Name of the Kubernetes Service the policy applies to. */
  readonly service: string;
  /** Namespace of the Service. */
  readonly namespace: string;
  /** Fully qualified host of the Service (`<service>.<namespace>.svc.cluster.local`). */
  readonly host: string;
  /** Name of the subset (the pods' `version` label). */
  readonly version: string;
  /** Service port the routes go to. */
  readonly port: number;
  /** The route for requests no declared operation matches. */
  readonly fallback: Route;
  /** Replicas always running, which size outlier detection. */
  readonly replicas: number;
  /** The DestinationRule (subsets, pool, outlier detection, retry budget), rendered at synthesis. */
  readonly destinationRule: DestinationRule;
  /** The VirtualService (one HTTP route per operation, then the fallback), rendered at synthesis. */
  readonly virtualService: VirtualService;
  private readonly declared: Route[] = [];
  private readonly subsetVersions: string[];
  private od: ResolvedOutlierDetection;
  private pool: ResolvedConnectionPool;
  private budget: Required<RetryBudgetOptions> | undefined;

  constructor(scope: Construct, id: string, props: ResiliencePolicyProps) {
    super(scope, id);
    this.service = props.service;
    this.namespace = props.namespace ?? Chart.of(this).namespace ?? 'default';
    this.host = `${this.service}.${this.namespace}.svc.cluster.local`;
    this.version = props.version ?? 'v1';
    this.port = props.port;
    this.fallback = Route.write('POST', '/', {
      timeout: props.fallbackTimeout ?? RouteClass.WRITE.defaultTimeout,
      retry: Retry.onConnectFailure({ attempts: 2 }),
    });
    this.replicas = props.replicas;
    this.subsetVersions = [this.version];
    this.od = resolveOutlierDetection(props.outlierDetection ?? {}, props.replicas);
    this.pool = resolveConnectionPool(props.connectionPool ?? {}, props.replicas);
    this.budget = props.retryBudget === false ? undefined : resolveRetryBudget(props.retryBudget ?? {});

    const v = new PropsValidator(this.subject);
    checkRoutes(v, [...props.routes, this.fallback], []);
    v.check(Number.isInteger(props.replicas) && props.replicas >= 1, () => `'replicas' (${props.replicas}) must be a whole number of at least 1`);
    checkOutlierDetection(v, this.od, props.replicas);
    checkConnectionPool(v, this.pool);
    checkRetryBudget(v, this.budget);
    checkSubsetVersion(v, 'version', this.version, []);
    v.throwIfInvalid();
    this.declared.push(...props.routes);

    this.destinationRule = new DestinationRule(this, 'DestinationRule', {
      metadata: { name: this.service, namespace: this.namespace },
      spec: {
        host: this.host,
        // Read at synthesis, so settings and subsets added after construction are included.
        trafficPolicy: Lazy.any({ produce: () => this.trafficPolicy() }),
        subsets: Lazy.any({ produce: () => this.subsetSpecs() }),
      },
    });

    this.virtualService = new VirtualService(this, 'VirtualService', {
      metadata: { name: this.service, namespace: this.namespace },
      spec: {
        hosts: [this.host],
        // Read at synthesis, so routes added with addRoute are included.
        http: Lazy.any({ produce: () => this.httpRoutes() }),
      },
    });
  }

  /** The declared operations, in route order. */
  get routes(): readonly Route[] {
    return [...this.declared];
  }

  /** Outlier detection with its defaults applied, as last configured. */
  get outlierDetection(): ResolvedOutlierDetection {
    return this.od;
  }

  /** Connection pool with its defaults applied, as last configured. */
  get connectionPool(): ResolvedConnectionPool {
    return this.pool;
  }

  /** Retry budget with its defaults applied, as last configured; undefined when left out. */
  get retryBudget(): Required<RetryBudgetOptions> | undefined {
    return this.budget;
  }

  /** The `version` label values with a subset, the policy's own `version` first. */
  get subsets(): readonly string[] {
    return [...this.subsetVersions];
  }

  /**
   * Appends an operation after those declared so far (before the fallback). Throws here, naming the
   * prop, value and fix, when the route is invalid or already declared.
   */
  addRoute(route: Route): void {
    const v = new PropsValidator(`${this.subject}: addRoute(${route.description})`);
    checkRoutes(v, [route], [...this.declared, this.fallback]);
    v.throwIfInvalid();
    this.declared.push(route);
  }

  /**
   * Changes outlier detection after construction: the given fields replace the current ones, the
   * others stay. Throws here, naming the prop, value and fix, when the result is invalid for the
   * policy's replicas; the policy is then unchanged.
   */
  configureOutlierDetection(options: OutlierDetectionOptions): void {
    const od = resolveOutlierDetection({ ...this.od, ...options }, this.replicas);
    const v = new PropsValidator(`${this.subject}: configureOutlierDetection`);
    checkOutlierDetection(v, od, this.replicas);
    v.throwIfInvalid();
    this.od = od;
  }

  /**
   * Changes the connection pool after construction: the given fields replace the current ones, the
   * others stay. Throws here, naming the prop, value and fix, when the result is invalid; the
   * policy is then unchanged.
   */
  configureConnectionPool(options: ConnectionPoolOptions): void {
    const pool = resolveConnectionPool({ ...this.pool, ...options }, this.replicas);
    const v = new PropsValidator(`${this.subject}: configureConnectionPool`);
    checkConnectionPool(v, pool);
    v.throwIfInvalid();
    this.pool = pool;
  }

  /**
   * Changes the retry budget after construction (`false` leaves it out): the given fields replace
   * the current ones, the others stay (or take their defaults when the budget was left out). Throws
   * here, naming the prop, value and fix, when the result is invalid; the policy is then unchanged.
   */
  configureRetryBudget(options: RetryBudgetOptions | false): void {
    const budget = options === false ? undefined : resolveRetryBudget({ ...this.budget, ...options });
    const v = new PropsValidator(`${this.subject}: configureRetryBudget`);
    checkRetryBudget(v, budget);
    v.throwIfInvalid();
    this.budget = budget;
  }

  /**
   * Adds a subset for the pods whose `version` label is `version` (e.g. a canary Deployment), for
   * other routing to name; the VirtualService keeps sending to the policy's own `version`. Throws
   * here, naming the value and fix, when it is not a valid subset name or already has a subset.
   */
  addSubset(version: string): void {
    const v = new PropsValidator(`${this.subject}: addSubset(${version})`);
    checkSubsetVersion(v, 'version', version, this.subsetVersions);
    v.throwIfInvalid();
    this.subsetVersions.push(version);
  }

  private get subject(): string {
    return `ResiliencePolicy '${this.service}'`;
  }

  private trafficPolicy(): DestinationRuleSpecTrafficPolicy {
    const { od, pool } = this;
    return {
      connectionPool: {
        tcp: { maxConnections: pool.maxConnections, connectTimeout: istioDuration(pool.connectTimeout) },
        http: {
          http1MaxPendingRequests: pool.maxPendingRequests,
          http2MaxRequests: pool.maxRequests,
          maxRetries: pool.maxRetries,
          idleTimeout: istioDuration(pool.idleTimeout),
        },
      },
      outlierDetection: {
        consecutive5XxErrors: od.consecutive5xxErrors,
        interval: istioDuration(od.interval),
        baseEjectionTime: istioDuration(od.baseEjectionTime),
        maxEjectionPercent: od.maxEjectionPercent,
      },
      retryBudget: this.budget,
    };
  }

  private subsetSpecs(): DestinationRuleSpecSubsets[] {
    return this.subsetVersions.map((version) => ({ name: version, labels: { version } }));
  }

  private httpRoutes(): VirtualServiceSpecHttp[] {
    const destination = { host: this.host, subset: this.version, port: { number: this.port } };
    return [
      ...this.declared.map((route) => httpRoute(route.name, route, destination, matchesOf(route))),
      httpRoute('fallback', this.fallback, destination, undefined),
    ];
  }
}

/** One VirtualService HTTP route to `destination` with the route's timeout and retries; `match` undefined matches every request. */
export function httpRoute(
  name: string,
  route: Route,
  destination: VirtualServiceSpecHttpRouteDestination,
  match: VirtualServiceSpecHttpMatch[] | undefined,
): VirtualServiceSpecHttp {
  return { name, match, route: [{ destination }], timeout: istioDuration(route.timeout), retries: istioRetries(route.retry, route.perTryTimeout) };
}

/** A VirtualService route's `retries`: none (`attempts: 0`), or the retry with its per-try timeout, conditions and backoff. */
export function istioRetries(retry: Retry, perTryTimeout: Duration): VirtualServiceSpecHttp['retries'] {
  return retry.attempts === 0
    ? { attempts: 0 }
    : { attempts: retry.attempts, perTryTimeout: istioDuration(perTryTimeout), retryOn: retry.retryOn, backoff: istioDuration(retry.backoff) };
}

/** A declared route as the shared worst-case model reads it (the numbers its VirtualService route renders). */
export function routeTiming(route: Route): RouteTiming {
  const { retry } = route;
  return {
    timeoutMs: route.timeout.toMilliseconds(),
    retry: {
      attempts: retry.attempts,
      perTryTimeoutMs: retry.attempts === 0 ? undefined : route.perTryTimeout.toMilliseconds(),
      retryOn: retry.conditions,
      backoffMs: retry.backoff.toMilliseconds(),
    },
  };
}

/** Istio match entries for a route: one per method, with the key header required when it has one. */
export function matchesOf(route: Route): VirtualServiceSpecHttpMatch[] {
  const uri = route.isTemplate ? { regex: route.pathRegex } : { exact: route.path };
  const headers = route.keyHeader ? { [route.keyHeader]: { regex: '.+' } } : undefined;
  return route.methods.map((method) => ({
    method: { exact: method } satisfies VirtualServiceSpecHttpMatchMethod,
    uri,
    headers,
  }));
}

function checkOutlierDetection(v: PropsValidator, od: ResolvedOutlierDetection, replicas: number): void {
  v.check(
    od.maxEjectionPercent >= 0 && od.maxEjectionPercent <= 100,
    () => `'outlierDetection.maxEjectionPercent' (${od.maxEjectionPercent}) must be between 0 and 100`,
  );
  if (replicas >= 2) {
    const ejectable = ejectablePods(replicas, od.maxEjectionPercent);
    v.check(
      ejectable >= 1,
      () =>
        `'outlierDetection.maxEjectionPercent' (${od.maxEjectionPercent}) with 'replicas' (${replicas}) ejects no pod at all (Envoy ejects floor(${replicas} x ${od.maxEjectionPercent}%) = 0): raise it to at least ${Math.ceil(100 / replicas)}`,
    );
    v.check(
      ejectable < replicas,
      () =>
        `'outlierDetection.maxEjectionPercent' (${od.maxEjectionPercent}) with 'replicas' (${replicas}) can eject every pod, leaving none to serve: lower it to at most ${Math.floor((100 * (replicas - 1)) / replicas)}`,
    );
  }
  v.check(od.consecutive5xxErrors >= 1, () => `'outlierDetection.consecutive5xxErrors' (${od.consecutive5xxErrors}) must be at least 1`);
}

function checkConnectionPool(v: PropsValidator, pool: ResolvedConnectionPool): void {
  for (const field of ['maxConnections', 'maxPendingRequests', 'maxRequests', 'maxRetries'] as const) {
    v.check(Number.isInteger(pool[field]) && pool[field] >= 1, () => `'connectionPool.${field}' (${pool[field]}) must be a whole number of at least 1`);
  }
}

function checkRetryBudget(v: PropsValidator, budget: Required<RetryBudgetOptions> | undefined): void {
  if (!budget) return;
  const { percent } = budget;
  v.check(percent > 0 && percent <= 100, () => `'retryBudget.percent' (${percent}) must be above 0 and at most 100`);
}

/** Istio names a subset with a DNS-1123 label; the pods' `version` label carries the same value. */
function checkSubsetVersion(v: PropsValidator, prop: string, version: string, existing: readonly string[]): void {
  v.check(
    /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(version),
    () => `'${prop}' ('${version}') names a subset, which Istio requires to be a DNS-1123 label (lower case, digits, '-'): rename it, e.g. 'v2'`,
  );
  v.check(!existing.includes(version), () => `'${prop}' ('${version}') already has a subset: add each version once`);
}

/** Checks each of `routes`, and that none repeats another of them or one of `declared` (same methods, path and key header). */
function checkRoutes(v: PropsValidator, routes: readonly Route[], declared: readonly Route[]): void {
  const keyOf = (route: Route) => `${route.description} ${route.keyHeader ?? ''}`;
  const seen = new Set(declared.map(keyOf));
  for (const route of routes) {
    const r = `route '${route.description}'`;
    v.check(!seen.has(keyOf(route)), () => `${r} is declared twice: remove one of them`);
    seen.add(keyOf(route));
    validateRoute(v, route, r);
  }
}

function validateRoute(v: PropsValidator, route: Route, r: string): void {
  const { retry, timeout } = route;
  v.check(timeout.toMilliseconds() >= 1, () => `${r}: 'timeout' (${describeDuration(timeout)}) must be at least 1ms`);
  v.check(
    Number.isInteger(retry.attempts) && retry.attempts >= 0 && retry.attempts <= MAX_ATTEMPTS,
    () => `${r}: 'retry.attempts' (${retry.attempts}) must be a whole number from 0 to ${MAX_ATTEMPTS}`,
  );
  if (retry.attempts === 0) return;
  const perTry = route.perTryTimeout;
  v.check(
    perTry.toMilliseconds() <= timeout.toMilliseconds(),
    () => `${r}: 'perTryTimeout' (${describeDuration(perTry)}) exceeds 'timeout' (${describeDuration(timeout)}): lower perTryTimeout or raise timeout`,
  );
  if (retry.unsafeConditions.length > 0) {
    // The worst case the analyzer reports for this route (mesh/worst-case.ts): every try lasts its
    // whole budget, with Envoy's backoff bound between tries.
    const cost = triesCost(routeTiming(route), Infinity);
    v.check(
      cost.ms <= timeout.toMilliseconds(),
      () =>
        `${r}: 'perTryTimeout' (${describeDuration(perTry)}) x tries (${retry.tries}) + backoff (up to ${formatMs(cost.backoffMs)}) = ${formatMs(cost.ms)} exceeds 'timeout' (${describeDuration(timeout)}), so the last retries are cut off: raise timeout or lower attempts`,
    );
  }
  v.check(
    retry.backoff.toMilliseconds() < perTry.toMilliseconds(),
    () => `${r}: 'retry.backoff' (${describeDuration(retry.backoff)}) must be shorter than 'perTryTimeout' (${describeDuration(perTry)}): lower backoff`,
  );
  if (!route.routeClass.repeatable) {
    v.check(
      retry.unsafeConditions.length === 0,
      () =>
        `${r}: 'retry' retries on ${retry.unsafeConditions.join(',')} but the route is not idempotent, so a retry can apply the write twice: use Retry.onConnectFailure(), or make it Route.idempotentWrite with a keyHeader the service deduplicates on`,
    );
  }
  if (route.routeClass === RouteClass.IDEMPOTENT_WRITE) {
    const needsKey = route.methods.some((m) => m === 'POST' || m === 'PATCH');
    v.check(
      !needsKey || route.keyHeader !== undefined,
      () =>
        `${r}: 'keyHeader' is missing: a POST or PATCH is only safe to retry when it carries an idempotency key; set keyHeader (e.g. 'idempotency-key') or use Route.write`,
    );
  }
}
