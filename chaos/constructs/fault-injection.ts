import { Duration } from 'cdk8s';
import { Construct } from 'constructs';
import { VirtualService, type VirtualServiceSpecHttp, type VirtualServiceSpecHttpFault } from '../../imports/istio-networking.istio.io.js';
import type { MeshedService } from '../../constructs/meshed-service.js';
import { PropsValidator } from '../../constructs/validation.js';
import type { EdgeGateway } from '../../mesh/edge-gateway.js';
import { describeDuration, istioDuration } from '../../mesh/istio-duration.js';
import { istioRetries, matchesOf } from '../../mesh/resilience-policy.js';
import { Retry, type RetryCondition } from '../../mesh/retry.js';
import { RouteClass, type Route } from '../../mesh/route.js';

/*
 * Fault injection and the naive-retry anti-pattern for the chaos demos (chaos/README.md).
 * Both render VirtualServices bound to the edge gateway for a dedicated virtual host, so
 * only requests that carry that Host header take them: the shipped routes (and their
 * retries) stay exactly as synthesized, and deleting the VirtualService reverts the fault.
 */

export interface AbortFaultOptions {
  /**
   * Share of requests aborted, in percent (`abort.percentage.value`,
   * https://istio.io/latest/docs/reference/config/networking/virtual-service/#HTTPFaultInjection-Abort).
   */
  readonly percent: number;
  /**
   * Status code returned instead of forwarding (`abort.httpStatus`).
   * @default 503
   */
  readonly httpStatus?: number;
}

export interface DelayFaultOptions {
  /** Delay before forwarding (`delay.fixedDelay`, https://istio.io/latest/docs/reference/config/networking/virtual-service/#HTTPFaultInjection-Delay). */
  readonly fixedDelay: Duration;
  /**
   * Share of requests delayed, in percent (`delay.percentage.value`).
   * @default 100
   */
  readonly percent?: number;
}

/**
 * An Istio HTTP fault (https://istio.io/latest/docs/reference/config/networking/virtual-service/#HTTPFaultInjection).
 * Istio documents that "timeouts or retries will not be enabled when faults are enabled" on a
 * route. On real Envoy (Istio 1.30, test/mesh-runtime/edge-faults.ts) the route keeps its retry
 * policy and timeout in the config, and the effect is the same for another reason: Envoy's fault
 * filter answers an abort before the router (so it is never retried) and holds a delayed request
 * before the router starts the route's timeout (so the delay is not cut).
 */
export class Fault {
  /** Answers `percent`% of requests with `httpStatus` (503) without forwarding them. */
  static abort(options: AbortFaultOptions): Fault {
    return new Fault('abort', options.percent, options.httpStatus ?? 503, undefined);
  }

  /** Holds `percent`% (100) of requests for `fixedDelay` before forwarding them. */
  static delay(options: DelayFaultOptions): Fault {
    return new Fault('delay', options.percent ?? 100, undefined, options.fixedDelay);
  }

  private constructor(
    readonly kind: 'abort' | 'delay',
    readonly percent: number,
    readonly httpStatus: number | undefined,
    readonly fixedDelay: Duration | undefined,
  ) {}

  /** "abort 50% with 503", "delay 100% by 3s". */
  get description(): string {
    return this.kind === 'abort' ? `abort ${this.percent}% with ${this.httpStatus}` : `delay ${this.percent}% by ${describeDuration(this.fixedDelay!)}`;
  }

  /** Problems with the fault's own values, in the "'prop' (value) ...: fix" form. */
  problems(): string[] {
    const problems: string[] = [];
    if (!(this.percent > 0 && this.percent <= 100)) problems.push(`'percent' (${this.percent}) must be above 0 and at most 100`);
    if (this.httpStatus !== undefined && !(Number.isInteger(this.httpStatus) && this.httpStatus >= 200 && this.httpStatus <= 599))
      problems.push(`'httpStatus' (${this.httpStatus}) must be an HTTP status from 200 to 599`);
    if (this.fixedDelay !== undefined && !(this.fixedDelay.toMilliseconds() >= 1))
      problems.push(`'fixedDelay' (${describeDuration(this.fixedDelay)}) must be at least 1ms`);
    return problems;
  }

  /** The `fault` block of an Istio HTTP route. */
  toIstio(): VirtualServiceSpecHttpFault {
    return this.kind === 'abort'
      ? { abort: { httpStatus: this.httpStatus, percentage: { value: this.percent } } }
      : { delay: { fixedDelay: istioDuration(this.fixedDelay!), percentage: { value: this.percent } } };
  }
}

/** Props shared by the constructs that add a dedicated virtual host to the edge. */
export interface EdgeVirtualHostProps {
  /** The edge gateway the VirtualService is bound to; only operations it exposes can be used. */
  readonly edge: EdgeGateway;
  /**
   * Dedicated virtual host (Host header) of the VirtualService, e.g. `faults.chaos.meshkit.local`.
   * Envoy picks an exact host over the edge's `*`, so nothing else changes.
   */
  readonly host: string;
}

const dnsName = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)+$/;

function checkHost(v: PropsValidator, host: string): void {
  v.check(
    dnsName.test(host),
    () =>
      `'host' (${host}) must be a fully qualified lower-case DNS name without wildcards (e.g. faults.chaos.meshkit.local): a wildcard would take over the edge's own routes`,
  );
}

function checkExposed(v: PropsValidator, edge: EdgeGateway, service: MeshedService, route: Route): void {
  const exposed = edge.exposed.some((e) => e.service === service && e.route === route);
  v.check(
    exposed,
    () =>
      `route '${route.description}' of '${service.name}' is not exposed by the edge '${edge.node.id}': a chaos host must not open a path the edge keeps closed; ` +
      `expose it with edge.expose() or pick one of: ${
        edge.exposed
          .filter((e) => e.service === service)
          .map((e) => e.route.description)
          .join(', ') || '(none of this service)'
      }`,
  );
}

function destination(service: MeshedService): VirtualServiceSpecHttp['route'] {
  return [{ destination: { host: `${service.name}.${service.namespace}.svc.cluster.local`, port: { number: service.port }, subset: service.version } }];
}

/** One faulted operation of an EdgeFaultInjection. */
export interface InjectedFault {
  readonly service: MeshedService;
  readonly route: Route;
  readonly fault: Fault;
  /** Name of the HTTP route in the VirtualService. */
  readonly name: string;
}

/**
 * A VirtualService on the edge gateway for a dedicated host, with a faulted copy of
 * chosen exposed operations: same match, destination, timeout and retries as the edge's
 * own route, plus an Istio `fault`. Requests with `Host: <host>` get the fault; every other
 * request is untouched. The copy keeps the route's retries and timeout on purpose: they do not
 * act on what the fault does (see Fault), and the chaos scenario shows that honestly.
 *
 * ```ts
 * const faults = new EdgeFaultInjection(chart, 'edge-faults', { edge: shop.edge, host: 'faults.chaos.meshkit.local' });
 * faults.inject(product, product.routesNamed(['GET|HEAD /products'])[0]!, Fault.abort({ percent: 50 }));
 * ```
 */
export class EdgeFaultInjection extends Construct {
  readonly host: string;
  readonly namespace: string;
  readonly faults: InjectedFault[] = [];
  readonly virtualService: VirtualService;
  private readonly edge: EdgeGateway;
  private readonly routes: VirtualServiceSpecHttp[] = [];

  constructor(scope: Construct, id: string, props: EdgeVirtualHostProps) {
    super(scope, id);
    const v = new PropsValidator(`EdgeFaultInjection '${id}'`);
    checkHost(v, props.host);
    v.throwIfInvalid();
    this.edge = props.edge;
    this.host = props.host;
    this.namespace = props.edge.namespace;
    this.virtualService = new VirtualService(this, 'Resource', {
      metadata: { name: id, namespace: this.namespace },
      spec: { hosts: [this.host], gateways: [`${props.edge.istioNamespace}/${props.edge.node.id}`], http: this.routes },
    });
    this.node.addValidation({
      validate: () => (this.faults.length === 0 ? [`EdgeFaultInjection '${id}' injects no fault: call inject(service, route, fault) at least once`] : []),
    });
  }

  /** Adds a faulted copy of `route` of `service` (an operation the edge exposes). */
  inject(service: MeshedService, route: Route, fault: Fault): InjectedFault {
    const name = `${service.name}-${route.name}-${fault.kind}`;
    const v = new PropsValidator(`EdgeFaultInjection '${this.node.id}': inject(${service.name}, '${route.description}')`);
    checkExposed(v, this.edge, service, route);
    for (const problem of fault.problems()) v.fail(problem);
    v.check(
      !this.faults.some((f) => f.service === service && f.route === route),
      () => `route '${route.description}' of '${service.name}' already has a fault: one fault per route`,
    );
    v.throwIfInvalid();
    this.routes.push({
      name,
      match: matchesOf(route),
      fault: fault.toIstio(),
      route: destination(service),
      timeout: istioDuration(route.timeout),
      retries: istioRetries(route.retry, route.perTryTimeout),
    });
    const injected = { service, route, fault, name };
    this.faults.push(injected);
    return injected;
  }
}

export interface NaiveRetryProps extends EdgeVirtualHostProps {
  /** The service behind the write. */
  readonly service: MeshedService;
  /** A non-idempotent write the edge exposes (Route.write), e.g. POST /orders. */
  readonly route: Route;
  /**
   * Retries after the first try.
   * @default 2
   */
  readonly attempts?: number;
  /**
   * Budget of each try: shorter than the write takes is what makes the retry re-send a request the app is still applying.
   * @default Duration.seconds(1)
   */
  readonly perTryTimeout?: Duration;
  /**
   * Whole-request budget.
   * @default - the route's own timeout
   */
  readonly timeout?: Duration;
}

/** What the naive policy retries on: every 5xx and every reset, the way a hurried copy-paste does. */
export const naiveRetryConditions: readonly RetryCondition[] = ['5xx', 'gateway-error', 'reset', 'connect-failure'];

/**
 * THE ANTI-PATTERN, for the chaos demo only: a VirtualService on a dedicated edge host that
 * retries a non-idempotent write on 5xx, resets and per-try timeouts. A try that times out
 * while the app is still working is re-sent, and the app applies the write again. The
 * shipped ResiliencePolicy refuses exactly this combination ("retries on 5xx but the
 * route is not idempotent"); this construct renders it on purpose so the duplicate effects
 * can be measured next to the shipped policy, which does not produce them.
 */
export class NaiveRetryAntiPattern extends Construct {
  readonly host: string;
  readonly namespace: string;
  readonly service: MeshedService;
  readonly route: Route;
  readonly retry: Retry;
  readonly perTryTimeout: Duration;
  readonly timeout: Duration;
  readonly virtualService: VirtualService;

  constructor(scope: Construct, id: string, props: NaiveRetryProps) {
    super(scope, id);
    this.host = props.host;
    this.namespace = props.edge.namespace;
    this.service = props.service;
    this.route = props.route;
    this.perTryTimeout = props.perTryTimeout ?? Duration.seconds(1);
    this.timeout = props.timeout ?? props.route.timeout;
    this.retry = Retry.on(naiveRetryConditions, { attempts: props.attempts ?? 2, perTryTimeout: this.perTryTimeout });

    const v = new PropsValidator(`NaiveRetryAntiPattern '${id}'`);
    checkHost(v, props.host);
    checkExposed(v, props.edge, props.service, props.route);
    v.check(
      props.route.routeClass === RouteClass.WRITE,
      () =>
        `'route' (${props.route.description}) is a ${props.route.routeClass.name} route: retrying it on 5xx is safe, so it demonstrates nothing; pass a Route.write (e.g. POST /orders)`,
    );
    v.check(
      Number.isInteger(this.retry.attempts) && this.retry.attempts >= 1 && this.retry.attempts <= 10,
      () => `'attempts' (${this.retry.attempts}) must be a whole number from 1 to 10`,
    );
    v.check(
      this.perTryTimeout.toMilliseconds() >= 1 && this.perTryTimeout.toMilliseconds() < this.timeout.toMilliseconds(),
      () =>
        `'perTryTimeout' (${describeDuration(this.perTryTimeout)}) must be at least 1ms and shorter than 'timeout' (${describeDuration(this.timeout)}), or no retry is ever made`,
    );
    v.throwIfInvalid();

    this.virtualService = new VirtualService(this, 'Resource', {
      metadata: { name: id, namespace: this.namespace },
      spec: {
        hosts: [this.host],
        gateways: [`${props.edge.istioNamespace}/${props.edge.node.id}`],
        http: [
          {
            name: `${props.service.name}-${props.route.name}-naive-retry`,
            match: matchesOf(props.route),
            route: destination(props.service),
            timeout: istioDuration(this.timeout),
            retries: istioRetries(this.retry, this.perTryTimeout),
          },
        ],
      },
    });
  }

  /** The conditions under which this policy re-sends a request the app may already have applied. */
  get unsafeConditions(): RetryCondition[] {
    return this.retry.unsafeConditions;
  }
}
