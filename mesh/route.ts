import { Duration } from 'cdk8s';
import { pathTemplateRegex } from './istio-match.js';
import { Retry } from './retry.js';
import { backoffBoundMs } from './worst-case.js';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * What a route may safely repeat, which decides its default timeout and retries
 * (documented in mesh/README.md):
 * - READ: GET/HEAD; retried on gateway errors, resets and connect failures.
 * - IDEMPOTENT_WRITE: a write carrying an idempotency key (or PUT/DELETE); same retries.
 * - WRITE: any other write; retried only when the request cannot have reached the app.
 */
export class RouteClass {
  static readonly READ = new RouteClass('read', Duration.seconds(2), () => Retry.onGatewayErrors({ attempts: 2, perTryTimeout: Duration.millis(600) }));
  static readonly IDEMPOTENT_WRITE = new RouteClass('idempotent-write', Duration.seconds(3), () =>
    Retry.onTransientErrors({ attempts: 2, perTryTimeout: Duration.millis(900) }),
  );
  static readonly WRITE = new RouteClass('write', Duration.seconds(3), () => Retry.onConnectFailure({ attempts: 2 }));

  private constructor(
    readonly name: 'read' | 'idempotent-write' | 'write',
    readonly defaultTimeout: Duration,
    readonly defaultRetry: () => Retry,
  ) {}

  /** Whether repeating a request of this class can duplicate an effect. */
  get repeatable(): boolean {
    return this !== RouteClass.WRITE;
  }
}

export interface RouteOptions {
  /**
   * Whole-request budget including retries (Istio `HTTPRoute.timeout`).
   * @default - the route class default: 2s for reads, 3s for writes
   */
  readonly timeout?: Duration;
  /**
   * Retry policy (Istio `HTTPRoute.retries`).
   * @default - the route class default (see RouteClass)
   */
  readonly retry?: Retry;
}

export interface IdempotentWriteOptions extends RouteOptions {
  /**
   * Request header carrying the idempotency key. The mesh route matches only
   * requests that carry it, so a write without a key falls to the conservative
   * default route and is never retried after it reached the app.
   * @default - required for POST and PATCH; PUT and DELETE are idempotent by HTTP semantics
   */
  readonly keyHeader?: string;
}

/**
 * A route declared elsewhere (an API contract): its method, path template, class and key header.
 * Structural, so the library reads any contract without importing it.
 */
export interface RouteShape {
  /** The declared method; a GET route answers HEAD too. */
  readonly method: Exclude<HttpMethod, 'HEAD'>;
  /** Path template with `{param}` for one segment. */
  readonly path: string;
  /** What the route may safely repeat (see RouteClass). */
  readonly class: 'read' | 'idempotent-write' | 'write';
  /**
   * Request header carrying the idempotency key of an idempotent write.
   * @default - none: required for POST and PATCH idempotent writes (ResiliencePolicy reports its absence)
   */
  readonly keyHeader?: string;
}

/**
 * One operation of a service's HTTP API: method, path template and route class.
 * Path templates use `{param}` for one segment: `/charges/{id}/refund`.
 */
export class Route {
  /** The mesh route of a contract route, with its budget (default: the route class's). */
  static of(shape: RouteShape, options: RouteOptions = {}): Route {
    const misfit = `Route.of(${shape.method} ${shape.path})`;
    switch (shape.class) {
      case 'read':
        if (shape.method !== 'GET') throw new Error(`${misfit}: 'class' is 'read' but 'method' is ${shape.method}: declare reads with GET`);
        return Route.read(shape.path, options);
      case 'idempotent-write':
        if (shape.method === 'GET') throw new Error(`${misfit}: 'class' is 'idempotent-write' but 'method' is GET: declare it as a read`);
        return Route.idempotentWrite(shape.method, shape.path, { ...options, keyHeader: shape.keyHeader });
      case 'write':
        if (shape.method === 'GET') throw new Error(`${misfit}: 'class' is 'write' but 'method' is GET: declare it as a read`);
        return Route.write(shape.method, shape.path, options);
    }
  }

  static read(path: string, options: RouteOptions = {}): Route {
    return new Route(['GET', 'HEAD'], path, RouteClass.READ, options);
  }

  static idempotentWrite(method: Exclude<HttpMethod, 'GET' | 'HEAD'>, path: string, options: IdempotentWriteOptions = {}): Route {
    return new Route([method], path, RouteClass.IDEMPOTENT_WRITE, options, options.keyHeader?.toLowerCase());
  }

  static write(method: Exclude<HttpMethod, 'GET' | 'HEAD'>, path: string, options: RouteOptions = {}): Route {
    return new Route([method], path, RouteClass.WRITE, options);
  }

  readonly timeout: Duration;
  readonly retry: Retry;

  private constructor(
    readonly methods: readonly HttpMethod[],
    readonly path: string,
    readonly routeClass: RouteClass,
    options: RouteOptions,
    readonly keyHeader?: string,
  ) {
    this.timeout = options.timeout ?? routeClass.defaultTimeout;
    this.retry = options.retry ?? routeClass.defaultRetry();
  }

  /** "POST /charges/{id}/refund", used in messages and docs. */
  get description(): string {
    return `${this.methods.join('|')} ${this.path}`;
  }

  /** A DNS-safe route name: "post-charges-id-refund". */
  get name(): string {
    const slug = `${this.methods[0]} ${this.path}`
      .toLowerCase()
      .replace(/[{}]/g, '')
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '');
    return slug.slice(0, 63).replace(/-$/, '');
  }

  /** Whether the path has `{param}` segments (matched by regex rather than exactly). */
  get isTemplate(): boolean {
    return this.path.includes('{');
  }

  /** Anchored RE2 regex for the path template (Istio `uri.regex`). */
  get pathRegex(): string {
    return pathTemplateRegex(this.path);
  }

  /**
   * Per-try budget: explicit, or, when retries re-send on timeouts, what the timeout leaves each
   * try after Envoy's backoff bound between them (mesh/worst-case.ts), so the tries fit the timeout.
   */
  get perTryTimeout(): Duration {
    if (this.retry.perTryTimeout) return this.retry.perTryTimeout;
    if (this.retry.unsafeConditions.length === 0) return this.timeout;
    const backoff = backoffBoundMs({ attempts: this.retry.attempts, backoffMs: this.retry.backoff.toMilliseconds() });
    return Duration.millis(Math.floor((this.timeout.toMilliseconds() - backoff) / this.retry.tries));
  }
}
