/**
 * Walks every public route through the call graph: which VirtualService route
 * each hop takes (at the edge, then in the caller's sidecar), and what that
 * route costs in tries and time. The rules read the result; nothing here
 * judges.
 */
import type { CallGraph, RouteRef } from './resilience-callgraph.js';
import { serviceByName } from './resilience-callgraph.js';
import {
  ISTIO_DEFAULT_CONNECT_TIMEOUT_MS,
  ISTIO_DEFAULT_RETRY,
  type HttpRoute,
  type MeshModel,
  type RouteMatch,
  type StringMatch,
  describeRef,
  destinationRuleOf,
  effectivePolicy,
  meshVirtualServicesOf,
} from './resilience-model.js';
import { appRequestsPerCall, triesOf, tryBudgetMs, worstCase, type WorstCase } from './resilience-timing.js';

/** Header names whose presence in a route match makes a write safe to re-send. */
export const DEFAULT_IDEMPOTENCY_HEADERS: readonly string[] = ['idempotency-key', 'x-idempotency-key'];

/** One request leg: the route a sidecar (or the edge) applies to reach `service`. */
export interface Hop {
  /** "namespace/name" of the Service reached. */
  readonly service: string;
  /** The operation requested; undefined when the call graph does not say (the costliest route is assumed). */
  readonly route?: string;
  /** The VirtualService route applied; undefined when no VirtualService covers the host (Istio's defaults apply). */
  readonly via?: HttpRoute;
  readonly viaLabel: string;
  readonly tries: number;
  /** Tries that can reach the app (all of them only when a retry can follow a processed request). */
  readonly appRequests: number;
  readonly worst: WorstCase;
  /** Time one try gives the handler behind this hop. */
  readonly budgetMs: number;
}

export interface Chain {
  /** "order POST /orders" */
  readonly publicRoute: string;
  readonly hops: readonly Hop[];
  /** Requests that can reach the last hop's app per public request: the product of appRequests. */
  readonly amplification: number;
  /** The product of all tries, including those that never reached an app. */
  readonly attempts: number;
}

/** A handler reached through a hop: the hop's per-try budget is what the handler's calls must fit in. */
export interface HandlerVisit {
  readonly service: string;
  readonly route?: string;
  readonly deliveredBy: Hop;
  readonly publicRoutes: readonly string[];
}

export interface Unresolved {
  readonly what: string;
  readonly reason: string;
  readonly publicRoutes: readonly string[];
}

export interface ResolvedGraph {
  readonly publicRoutes: readonly RouteRef[];
  readonly edges: readonly { from: string; to: string; routes?: readonly string[]; source: string }[];
  readonly handlers: readonly { service: string; route: string; sequences: readonly { name: string; calls: readonly RouteRef[] }[] }[];
  readonly clientTimeoutsMs: ReadonlyMap<string, number>;
  /** Names the call graph uses that match no Service (or several). */
  readonly unknownNames: readonly string[];
}

/** Rewrites call graph names ("order") to Service keys ("shop/order"); unknown names are dropped and listed. */
export function resolveGraph(model: MeshModel, graph: CallGraph): ResolvedGraph {
  const unknown = new Set<string>();
  const key = (name: string) => {
    const svc = serviceByName(model, name);
    if (!svc) unknown.add(name);
    return svc?.key;
  };
  const ref = (r: RouteRef): RouteRef | undefined => {
    const k = key(r.service);
    return k ? { service: k, route: r.route } : undefined;
  };
  const clientTimeouts = new Map<string, number>();
  for (const [name, ms] of Object.entries(graph.clientTimeoutsMs)) {
    const k = key(name);
    if (k) clientTimeouts.set(k, ms);
  }
  return {
    publicRoutes: graph.publicRoutes.map(ref).filter((r): r is RouteRef => r !== undefined),
    edges: graph.edges.flatMap((e) => {
      const [from, to] = [key(e.from), key(e.to)];
      return from && to ? [{ ...e, from, to }] : [];
    }),
    handlers: graph.handlers.flatMap((h) => {
      const service = key(h.service);
      if (!service) return [];
      const sequences = h.sequences.map((s) => ({ name: s.name, calls: s.calls.map(ref).filter((r): r is RouteRef => r !== undefined) }));
      return [{ service, route: h.route, sequences }];
    }),
    clientTimeoutsMs: clientTimeouts,
    unknownNames: [...unknown],
  };
}

/**
 * Whether two route descriptions name the same operation: same path template,
 * overlapping methods ("GET /page" and "GET|HEAD /page" do).
 */
export function sameRoute(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  const parse = (d: string) => {
    const [methods = '', path = ''] = d.trim().split(/\s+/, 2);
    return { methods: methods.toUpperCase().split('|'), path };
  };
  const [x, y] = [parse(a), parse(b)];
  return x.path === y.path && x.methods.some((m) => y.methods.includes(m));
}

/** A request as the analysis imagines it from a route description: first method, `{param}` as "1". */
export function sampleRequest(description: string): { method: string; path: string } {
  const [methods = '', path = '/'] = description.trim().split(/\s+/, 2);
  return { method: methods.split('|')[0]!.toUpperCase(), path: path.replace(/\{[^}]+\}/g, '1') };
}

export function stringMatches(m: StringMatch | undefined, value: string): boolean {
  if (!m) return true;
  if (m.exact !== undefined) return value === m.exact;
  if (m.prefix !== undefined) return value.startsWith(m.prefix);
  if (m.regex !== undefined) {
    try {
      return new RegExp(`^(?:${m.regex})$`).test(value);
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * Whether a match entry admits the request. Header conditions are taken as met
 * only for idempotency headers (callers send the key their callee's route asks
 * for); any other header condition (canary, debug routing) is taken as unmet.
 */
function admits(match: RouteMatch, method: string, path: string, idempotencyHeaders: readonly string[]): boolean {
  if (!stringMatches(match.method, method) || !stringMatches(match.uri, path)) return false;
  return Object.keys(match.headers).every((h) => idempotencyHeaders.includes(h));
}

/** The first route of `routes` that takes the request (Envoy's order), or undefined (404 NR). */
export function routeFor(routes: readonly HttpRoute[], description: string, idempotencyHeaders: readonly string[], edge = false): HttpRoute | undefined {
  const { method, path } = sampleRequest(description);
  return routes.find((r) => {
    if (!r.matches) return true;
    return r.matches.some((m) => {
      if (admits(m, method, path, idempotencyHeaders)) return true;
      // An edge route may map a public prefix onto the service path: /api/ + rewrite / -> /products.
      if (edge && r.rewriteUri !== undefined && m.uri?.prefix !== undefined && path.startsWith(r.rewriteUri)) {
        return admits(m, method, m.uri.prefix + path.slice(r.rewriteUri.length), idempotencyHeaders);
      }
      return false;
    });
  });
}

export interface PathOptions {
  readonly idempotencyHeaders?: readonly string[];
  /** Longest chain followed; deeper calls are not analysed. */
  readonly maxDepth?: number;
}

export interface Traversal {
  /** Whether public routes enter through a gateway-bound VirtualService or (none found) the service's own. */
  readonly entry: 'gateway' | 'service';
  readonly chains: readonly Chain[];
  readonly visits: readonly HandlerVisit[];
  readonly unresolved: readonly Unresolved[];
  readonly graph: ResolvedGraph;
  /** Resolves one call (caller's sidecar -> callee VirtualService route) to its hop. */
  readonly hopFor: (call: { service: string; route?: string }) => Hop | Unresolved;
}

export function label(model: MeshModel, serviceKey: string): string {
  const svc = model.services.get(serviceKey);
  if (!svc) return serviceKey;
  return [...model.services.values()].filter((s) => s.name === svc.name).length === 1 ? svc.name : serviceKey;
}

export function traverse(model: MeshModel, callGraph: CallGraph, options: PathOptions = {}): Traversal {
  const idempotencyHeaders = options.idempotencyHeaders ?? DEFAULT_IDEMPOTENCY_HEADERS;
  const maxDepth = options.maxDepth ?? 8;
  const graph = resolveGraph(model, callGraph);
  const gatewayRoutes = model.virtualServices.filter((vs) => vs.boundToGateway).flatMap((vs) => vs.http);
  const entry: Traversal['entry'] = gatewayRoutes.length > 0 ? 'gateway' : 'service';

  const connectTimeout = (route: HttpRoute | undefined, service: string): number => {
    const dr = destinationRuleOf(model, service);
    const dest = route?.destinations.find((d) => d.service === service);
    const port = dest?.port ?? model.services.get(service)?.ports[0];
    return (dr && effectivePolicy(dr, dest?.subset, port).connectionPool?.connectTimeoutMs) ?? ISTIO_DEFAULT_CONNECT_TIMEOUT_MS;
  };
  const hop = (service: string, route: string | undefined, via: HttpRoute | undefined, viaLabel: string): Hop => {
    const applied = via ?? { timeoutMs: undefined, retry: ISTIO_DEFAULT_RETRY };
    return {
      service,
      route,
      via,
      viaLabel,
      tries: triesOf(applied.retry),
      appRequests: appRequestsPerCall(applied.retry),
      worst: worstCase(applied, connectTimeout(via, service)),
      budgetMs: tryBudgetMs(applied),
    };
  };
  const routeLabel = (r: HttpRoute) => `${describeRef(r.virtualService)} route '${r.name}'`;

  /** A call inside the mesh: the caller's sidecar applies the callee's VirtualService. */
  const hopFor = (call: { service: string; route?: string }): Hop | Unresolved => {
    const what = `${label(model, call.service)} ${call.route ?? '(any route)'}`;
    const vss = meshVirtualServicesOf(model, call.service);
    if (vss.length === 0) return hop(call.service, call.route, undefined, `no VirtualService for ${label(model, call.service)} (Istio defaults)`);
    const routes = vss[0]!.http;
    if (call.route === undefined) {
      // Unknown operation: assume the costliest route of the callee.
      const hops = routes.map((r) => hop(call.service, undefined, r, routeLabel(r)));
      if (hops.length === 0) return { what, reason: `${describeRef(vss[0]!.ref)} has no HTTP routes`, publicRoutes: [] };
      return hops.reduce((a, b) => (b.appRequests > a.appRequests || (b.appRequests === a.appRequests && b.worst.ms > a.worst.ms) ? b : a));
    }
    const r = routeFor(routes, call.route, idempotencyHeaders);
    if (!r) return { what, reason: `no route of ${describeRef(vss[0]!.ref)} matches it, so the caller's sidecar answers 404 (NR)`, publicRoutes: [] };
    return hop(call.service, call.route, r, routeLabel(r));
  };

  const entryHop = (pr: RouteRef): Hop | Unresolved => {
    const what = `${label(model, pr.service)} ${pr.route}`;
    if (entry === 'service') return hopFor(pr);
    const toService = gatewayRoutes.filter((r) => r.destinations.some((d) => d.service === pr.service));
    const r = routeFor(toService, pr.route, idempotencyHeaders, true);
    if (!r)
      return {
        what,
        reason: `no gateway-bound VirtualService route sends it to ${label(model, pr.service)}, so it is not reachable from outside`,
        publicRoutes: [],
      };
    return hop(pr.service, pr.route, r, routeLabel(r));
  };

  const hasHandlers = (service: string) => graph.handlers.some((h) => h.service === service);
  const callsOf = (service: string, route: string | undefined): { service: string; route?: string }[] => {
    if (hasHandlers(service)) {
      const handlers = graph.handlers.filter((h) => h.service === service && (route === undefined || sameRoute(h.route, route)));
      return dedupe(handlers.flatMap((h) => h.sequences.flatMap((s) => s.calls)));
    }
    return dedupe(graph.edges.filter((e) => e.from === service).flatMap((e) => (e.routes ?? [undefined]).map((r) => ({ service: e.to, route: r }))));
  };

  const chains: Chain[] = [];
  const visits = new Map<string, { service: string; route?: string; deliveredBy: Hop; publicRoutes: Set<string> }>();
  const unresolved = new Map<string, { what: string; reason: string; publicRoutes: Set<string> }>();
  const noteUnresolved = (u: Unresolved, publicRoute: string) => {
    const k = `${u.what}|${u.reason}`;
    const entry = unresolved.get(k) ?? { what: u.what, reason: u.reason, publicRoutes: new Set<string>() };
    if (publicRoute) entry.publicRoutes.add(publicRoute);
    unresolved.set(k, entry);
  };
  const visit = (h: Hop, publicRoute: string) => {
    const k = `${h.service}|${h.route ?? ''}|${h.viaLabel}`;
    const v = visits.get(k) ?? { service: h.service, route: h.route, deliveredBy: h, publicRoutes: new Set<string>() };
    if (publicRoute) v.publicRoutes.add(publicRoute);
    visits.set(k, v);
  };

  const walk = (hops: Hop[], publicRoute: string) => {
    chains.push({
      publicRoute,
      hops,
      amplification: hops.reduce((p, h) => p * h.appRequests, 1),
      attempts: hops.reduce((p, h) => p * h.tries, 1),
    });
    const last = hops[hops.length - 1]!;
    visit(last, publicRoute);
    if (hops.length >= maxDepth) return;
    for (const call of callsOf(last.service, last.route)) {
      if (hops.some((h) => h.service === call.service)) continue; // a cycle: its cost is already counted once
      const next = hopFor(call);
      if ('reason' in next) noteUnresolved(next, publicRoute);
      else walk([...hops, next], publicRoute);
    }
  };

  for (const pr of graph.publicRoutes) {
    const publicRoute = `${label(model, pr.service)} ${pr.route}`;
    const first = entryHop(pr);
    if ('reason' in first) noteUnresolved(first, publicRoute);
    else walk([first], publicRoute);
  }

  // Handlers no public route reaches are still called inside the mesh: check them at their own VirtualService.
  for (const h of graph.handlers) {
    if ([...visits.values()].some((v) => v.service === h.service && sameRoute(v.route, h.route))) continue;
    const delivered = hopFor(h);
    if ('reason' in delivered) noteUnresolved(delivered, '');
    else visit(delivered, '');
  }
  // Calls of edges with known routes that no walk reached still need a route at the callee.
  for (const e of graph.edges) {
    for (const route of e.routes ?? []) {
      const h = hopFor({ service: e.to, route });
      if ('reason' in h) noteUnresolved(h, '');
    }
  }

  return {
    entry,
    chains,
    visits: [...visits.values()].map((v) => ({ ...v, publicRoutes: [...v.publicRoutes] })),
    unresolved: [...unresolved.values()].map((u) => ({ ...u, publicRoutes: [...u.publicRoutes] })),
    graph,
    hopFor,
  };
}

function dedupe<T extends { service: string; route?: string }>(calls: readonly T[]): T[] {
  const seen = new Set<string>();
  return calls.filter((c) => {
    const k = `${c.service}|${c.route ?? ''}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
