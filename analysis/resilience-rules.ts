/**
 * The resilience rules. Each is a pure function from the parsed mesh (and the
 * walk of the call graph) to findings; `analyzeResilience` runs them all.
 * Thresholds and the reasoning behind each rule: analysis/README.md.
 */
import { defaultMaxEjectionPercent, ejectablePods } from '../mesh/traffic-policy.js';
import type { CallGraph } from './resilience-callgraph.js';
import {
  ISTIO_DEFAULT_MAX_EJECTION_PERCENT,
  ISTIO_DEFAULT_RETRY,
  type HttpRoute,
  type MeshModel,
  type RouteMatch,
  describeRef,
  destinationRuleOf,
  effectivePolicy,
  meshVirtualServicesOf,
  selectedWorkloads,
} from './resilience-model.js';
import { DEFAULT_IDEMPOTENCY_HEADERS, type HandlerVisit, type Hop, type Traversal, label, sameRoute, stringMatches, traverse } from './resilience-paths.js';
import { conditionsAfterReachingApp, formatMs, tryBudgetMs } from './resilience-timing.js';

export type Severity = 'error' | 'warning' | 'info';

export type RuleId = 'retry-amplification' | 'timeout-budget' | 'unsafe-retry' | 'traffic-policy' | 'ejection' | 'routing-consistency';

export const RULES: Readonly<Record<RuleId, string>> = {
  'retry-amplification': 'Retry amplification along public paths',
  'timeout-budget': 'Timeout budgets between callers and callees',
  'unsafe-retry': 'Retries that can apply a write twice',
  'traffic-policy': 'Outlier detection and connection limits',
  ejection: 'Outlier ejection versus replicas',
  'routing-consistency': 'VirtualService / DestinationRule / call graph consistency',
};

export interface Finding {
  readonly rule: RuleId;
  readonly severity: Severity;
  /** The object to change: "VirtualService shop/order route 'post-orders'". */
  readonly object: string;
  readonly message: string;
  readonly numbers: Readonly<Record<string, number | string>>;
  readonly fix: string;
  /** Public routes ("order POST /orders") whose path the finding lies on; empty when none. */
  readonly publicRoutes: readonly string[];
}

export interface AnalysisOptions {
  /** Requests reaching one app per public request above which a path is a warning. @default 4 */
  readonly amplificationWarningAbove?: number;
  /** ... and above which it is an error. @default 10 */
  readonly amplificationErrorAbove?: number;
  /** Header names that make a POST/PATCH route safe to re-send. @default ['idempotency-key', 'x-idempotency-key'] */
  readonly idempotencyHeaders?: readonly string[];
}

export interface AnalysisResult {
  readonly model: MeshModel;
  readonly traversal: Traversal;
  readonly findings: readonly Finding[];
  readonly thresholds: { readonly amplificationWarningAbove: number; readonly amplificationErrorAbove: number };
}

const SEVERITY_ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

export function analyzeResilience(model: MeshModel, graph: CallGraph, options: AnalysisOptions = {}): AnalysisResult {
  const thresholds = { amplificationWarningAbove: options.amplificationWarningAbove ?? 4, amplificationErrorAbove: options.amplificationErrorAbove ?? 10 };
  const idempotencyHeaders = (options.idempotencyHeaders ?? DEFAULT_IDEMPOTENCY_HEADERS).map((h) => h.toLowerCase());
  const traversal = traverse(model, graph, { idempotencyHeaders });
  const findings = [
    ...retryAmplification(model, traversal, thresholds),
    ...timeoutBudgets(model, traversal),
    ...unsafeRetries(model, idempotencyHeaders),
    ...trafficPolicies(model, traversal),
    ...ejection(model, traversal),
    ...routingConsistency(model, traversal),
    ...model.problems.map((p) =>
      finding('routing-consistency', 'warning', p.split(':')[0]!, `could not read ${p}`, {}, 'fix the value so Istio accepts it (durations like "0.5s", "2s")'),
    ),
  ].sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]);
  return { model, traversal, findings, thresholds };
}

function finding(
  rule: RuleId,
  severity: Severity,
  object: string,
  message: string,
  numbers: Finding['numbers'],
  fix: string,
  publicRoutes: readonly string[] = [],
): Finding {
  return { rule, severity, object, message, numbers, fix, publicRoutes };
}

/** Services the analysis is about: everything routed, governed by a DestinationRule or named by the call graph. */
function servicesInScope(model: MeshModel, traversal: Traversal): string[] {
  const keys = new Set<string>();
  for (const vs of model.virtualServices) {
    if (vs.appliesToMesh) vs.services.forEach((s) => keys.add(s));
    for (const r of vs.http) for (const d of r.destinations) if (d.service) keys.add(d.service);
  }
  for (const dr of model.destinationRules) if (dr.service) keys.add(dr.service);
  const g = traversal.graph;
  for (const e of g.edges) keys.add(e.from).add(e.to);
  for (const p of g.publicRoutes) keys.add(p.service);
  return [...keys].sort();
}

// ---------------------------------------------------------------- retry amplification

/**
 * Requests that can reach one app per public request: the product, along the
 * path, of the tries of each hop whose retries can follow a processed request.
 * A hop retried only on connect failures counts once, since its retries never
 * re-ran the handler (and so never repeated the handler's own calls).
 */
export function retryAmplification(model: MeshModel, traversal: Traversal, thresholds: AnalysisResult['thresholds']): Finding[] {
  const out: Finding[] = [];
  for (const chain of traversal.chains) {
    const severity: Severity | undefined =
      chain.amplification > thresholds.amplificationErrorAbove ? 'error' : chain.amplification > thresholds.amplificationWarningAbove ? 'warning' : undefined;
    if (!severity) continue;
    const last = chain.hops[chain.hops.length - 1]!;
    const factors = chain.hops.map((h) => `${label(model, h.service)} ${h.appRequests} (${h.viaLabel})`).join(' x ');
    out.push(
      finding(
        'retry-amplification',
        severity,
        last.viaLabel,
        `one '${chain.publicRoute}' request can reach ${label(model, last.service)}'s app ${chain.amplification} times: ${factors}; above the ${severity} threshold of ${severity === 'error' ? thresholds.amplificationErrorAbove : thresholds.amplificationWarningAbove}`,
        {
          amplification: chain.amplification,
          attempts: chain.attempts,
          warningAbove: thresholds.amplificationWarningAbove,
          errorAbove: thresholds.amplificationErrorAbove,
        },
        'retry at one layer: keep gateway-error/5xx/reset retries on the innermost route and let outer hops retry only on connect-failure,refused-stream,reset-before-request, or lower attempts (a DestinationRule retryBudget bounds retries in aggregate, not per request)',
        [chain.publicRoute],
      ),
    );
  }
  return out;
}

// ---------------------------------------------------------------- timeout budgets

export interface BudgetStep {
  readonly hop: Hop;
  /** What the call costs the caller: the callee's worst case, or the caller's client timeout when shorter. */
  readonly costMs: number;
  readonly cappedByClientTimeout: boolean;
}

export interface HandlerBudget {
  readonly visit: HandlerVisit;
  /** "order POST /orders" */
  readonly handlerName: string;
  /** Per-try budget of the route that delivers the handler's request. */
  readonly budgetMs: number;
  readonly sequences: readonly { readonly name: string; readonly steps: readonly BudgetStep[]; readonly totalMs: number }[];
}

function stepCost(clientTimeoutMs: number | undefined, hop: Hop): Omit<BudgetStep, 'hop'> {
  const capped = clientTimeoutMs !== undefined && clientTimeoutMs < hop.worst.ms;
  return { costMs: capped ? clientTimeoutMs : hop.worst.ms, cappedByClientTimeout: capped };
}

function describeStep(model: MeshModel, step: BudgetStep, caller: string): string {
  return step.cappedByClientTimeout
    ? `${formatMs(step.costMs)} (${label(model, caller)}'s client timeout)`
    : `${formatMs(step.costMs)} (${step.hop.worst.explanation})`;
}

/** Every declared handler reached by a hop with a finite budget, with the cost of each of its call sequences. */
export function handlerBudgets(model: MeshModel, traversal: Traversal): HandlerBudget[] {
  const { graph } = traversal;
  const result: HandlerBudget[] = [];
  for (const visit of traversal.visits) {
    const handlers = graph.handlers.filter((h) => h.service === visit.service && sameRoute(h.route, visit.route));
    if (handlers.length === 0 || !Number.isFinite(visit.deliveredBy.budgetMs)) continue;
    const client = graph.clientTimeoutsMs.get(visit.service);
    const sequences = handlers
      .flatMap((h) => h.sequences)
      .map((seq) => {
        const steps = seq.calls
          .map((c) => traversal.hopFor(c))
          .filter((h): h is Hop => !('reason' in h))
          .map((hop) => ({ hop, ...stepCost(client, hop) }));
        return { name: seq.name, steps, totalMs: steps.reduce((sum, s) => sum + s.costMs, 0) };
      });
    result.push({ visit, handlerName: `${label(model, visit.service)} ${visit.route}`, budgetMs: visit.deliveredBy.budgetMs, sequences });
  }
  return result;
}

/**
 * A handler's calls must fit in the per-try budget of the route that delivers
 * its request, or that route gives up (504) while the handler still works.
 * Each call costs the callee's worst case, or the caller app's own client
 * timeout when that is shorter (the app stops waiting there). A callee that
 * can outlast the caller's client timeout wastes its last tries.
 */
export function timeoutBudgets(model: MeshModel, traversal: Traversal): Finding[] {
  const out: Finding[] = [];
  const { graph, hopFor } = traversal;
  const seen = new Set<string>();
  const push = (f: Finding) => {
    const k = `${f.object}|${f.message}`;
    if (!seen.has(k)) out.push(f);
    seen.add(k);
  };
  const hopOrUndefined = (call: { service: string; route?: string }) => {
    const h = hopFor(call);
    return 'reason' in h ? undefined : h;
  };
  const costOf = (caller: string, h: Hop) => Math.min(graph.clientTimeoutsMs.get(caller) ?? Infinity, h.worst.ms);
  const describeCost = (caller: string, h: Hop) => describeStep(model, { hop: h, ...stepCost(graph.clientTimeoutsMs.get(caller), h) }, caller);
  const callName = (h: Hop) => `${label(model, h.service)} ${h.route ?? '(any route)'}`;

  for (const b of handlerBudgets(model, traversal)) {
    const { visit: v, handlerName, budgetMs: budget } = b;
    const delivered = `${formatMs(budget)} per try (${v.deliveredBy.viaLabel})`;
    for (const seq of b.sequences) {
      const alone = seq.steps.filter((s) => s.costMs > budget);
      for (const s of alone) {
        push(
          finding(
            'timeout-budget',
            'error',
            v.deliveredBy.viaLabel,
            `${handlerName} gets ${delivered}, but its call to ${callName(s.hop)} alone can take ${describeStep(model, s, v.service)}: the caller gives up first and the callee's work is wasted`,
            { budgetMs: budget, calleeWorstMs: s.costMs },
            `raise the timeout (and perTryTimeout) of the route delivering ${handlerName} above ${formatMs(s.costMs)}, or shrink ${s.hop.viaLabel} (fewer attempts, shorter perTryTimeout)`,
            v.publicRoutes,
          ),
        );
      }
      if (alone.length > 0 || seq.totalMs <= budget) continue;
      push(
        finding(
          'timeout-budget',
          'error',
          v.deliveredBy.viaLabel,
          `${handlerName} gets ${delivered}, but its calls in sequence '${seq.name}' can take ${formatMs(seq.totalMs)} in the worst case: ${seq.steps.map((s) => `${callName(s.hop)} ${describeStep(model, s, v.service)}`).join(' + ')}; the route times out (504) while the handler is still working`,
          { budgetMs: budget, totalMs: seq.totalMs, calls: seq.steps.length },
          `raise the timeout of the route delivering ${handlerName} to at least ${formatMs(seq.totalMs)} plus the handler's own work, or shrink the callees' worst cases (fewer attempts or shorter perTryTimeout on their routes)`,
          v.publicRoutes,
        ),
      );
    }
  }

  // Callers whose handlers are unknown: no route of theirs may be shorter than a callee they call.
  for (const e of graph.edges) {
    if (graph.handlers.some((h) => h.service === e.from) || !e.routes) continue;
    const budgets = [
      ...meshVirtualServicesOf(model, e.from).flatMap((vs) => vs.http),
      ...model.virtualServices.filter((vs) => vs.boundToGateway).flatMap((vs) => vs.http.filter((r) => r.destinations.some((d) => d.service === e.from))),
    ].map((r) => tryBudgetMs(r));
    const longest = budgets.length === 0 ? Infinity : Math.max(...budgets);
    if (!Number.isFinite(longest)) continue;
    for (const route of e.routes) {
      const h = hopOrUndefined({ service: e.to, route });
      if (!h || costOf(e.from, h) <= longest) continue;
      push(
        finding(
          'timeout-budget',
          'error',
          h.viaLabel,
          `${callName(h)} can take ${describeCost(e.from, h)}, but no route of ${label(model, e.from)} gives its handler more than ${formatMs(longest)} per try: whichever one calls it gives up first`,
          { callerLongestBudgetMs: longest, calleeWorstMs: costOf(e.from, h) },
          `lower the worst case of ${h.viaLabel} below ${formatMs(longest)}, or raise the timeout of the ${label(model, e.from)} route that makes this call`,
        ),
      );
    }
  }

  // The caller app's own client timeout against each callee route's worst case.
  const calls = new Map<string, { from: string; to: string; route: string }>();
  for (const h of graph.handlers)
    for (const c of h.sequences.flatMap((s) => s.calls)) calls.set(`${h.service}|${c.service}|${c.route}`, { from: h.service, to: c.service, route: c.route });
  for (const e of graph.edges) for (const route of e.routes ?? []) calls.set(`${e.from}|${e.to}|${route}`, { from: e.from, to: e.to, route });
  for (const c of calls.values()) {
    const client = graph.clientTimeoutsMs.get(c.from);
    const h = client === undefined ? undefined : hopOrUndefined({ service: c.to, route: c.route });
    if (client === undefined || !h || h.worst.ms <= client) continue;
    const publicRoutes = traversal.visits.filter((v) => v.service === c.to && sameRoute(v.route, c.route)).flatMap((v) => v.publicRoutes);
    push(
      finding(
        'timeout-budget',
        'warning',
        h.viaLabel,
        `${label(model, c.from)}'s app gives up on ${callName(h)} after ${formatMs(client)} (its client timeout), but the mesh may keep trying for ${formatMs(h.worst.ms)} (${h.worst.explanation}): the last tries are wasted and ${label(model, c.from)} sees an unknown outcome`,
        { clientTimeoutMs: client, calleeWorstMs: h.worst.ms },
        `raise ${label(model, c.from)}'s client timeout to at least ${formatMs(h.worst.ms)} (then re-check ${label(model, c.from)}'s own route budgets), or lower attempts/perTryTimeout of ${h.viaLabel} so its worst case fits in ${formatMs(client)}`,
        [...new Set(publicRoutes)],
      ),
    );
  }
  return out;
}

// ---------------------------------------------------------------- retries on non-idempotent routes

function admitsMethod(match: RouteMatch | undefined, method: string): boolean {
  return !match?.method || stringMatches(match.method, method);
}

/**
 * A POST or PATCH without an idempotency key may have been applied when a 503,
 * a reset or a per-try timeout comes back; re-sending it can apply it twice.
 * Such a route may only retry on conditions where the request never reached
 * the app. Absent `retries`, Istio's default policy (503 included) applies.
 */
export function unsafeRetries(model: MeshModel, idempotencyHeaders: readonly string[]): Finding[] {
  const out: Finding[] = [];
  for (const vs of model.virtualServices) {
    for (const route of vs.http) {
      const unsafe = conditionsAfterReachingApp(route.retry);
      if (unsafe.length === 0) continue;
      const keyless = (route.matches ?? [undefined]).filter(
        (m) => ['POST', 'PATCH'].some((method) => admitsMethod(m, method)) && !Object.keys(m?.headers ?? {}).some((h) => idempotencyHeaders.includes(h)),
      );
      if (keyless.length === 0) continue;
      const methods = ['POST', 'PATCH'].filter((method) => keyless.some((m) => admitsMethod(m, method)));
      const inherited =
        route.retry.source === 'istio-default'
          ? ` (Istio's default retry policy: the route sets no retries, so ${ISTIO_DEFAULT_RETRY.attempts} retries on ${ISTIO_DEFAULT_RETRY.retryOn.join(',')})`
          : '';
      out.push(
        finding(
          'unsafe-retry',
          'error',
          `${describeRef(vs.ref)} route '${route.name}'`,
          `route '${route.name}' re-sends on ${unsafe.join(',')}${inherited} and matches ${methods.join('/')} ${route.matches ? 'requests' : '(it has no match, so every request)'} without an ${idempotencyHeaders[0]} header: a write that reached the app can be applied up to ${route.retry.attempts + 1} times`,
          { attempts: route.retry.attempts, retryOn: route.retry.retryOn.join(',') },
          `retry this route only on connect-failure,refused-stream,reset-before-request (Retry.onConnectFailure()), or require the key in its match (headers: {${idempotencyHeaders[0]}: {regex: ".+"}}, Route.idempotentWrite with keyHeader) so keyless writes fall to a conservative route`,
        ),
      );
    }
  }
  return out;
}

// ---------------------------------------------------------------- DestinationRule policies

interface Cluster {
  readonly service: string;
  readonly subset?: string;
  readonly port?: number;
}

/** The Envoy clusters traffic to a Service actually uses: one per subset routed to, or the plain host. */
function clustersOf(model: MeshModel, service: string): Cluster[] {
  const dests = model.virtualServices.flatMap((vs) => vs.http.flatMap((r) => r.destinations.filter((d) => d.service === service)));
  const firstPort = model.services.get(service)?.ports[0];
  const clusters = new Map<string, Cluster>();
  for (const d of dests) clusters.set(`${d.subset ?? ''}|${d.port ?? firstPort}`, { service, subset: d.subset, port: d.port ?? firstPort });
  if (dests.length === 0) clusters.set(`|${firstPort}`, { service, port: firstPort });
  return [...clusters.values()];
}

function clusterLabel(model: MeshModel, c: Cluster): string {
  const dr = destinationRuleOf(model, c.service);
  return `${dr ? describeRef(dr.ref) : `host ${label(model, c.service)}`}${c.subset ? ` subset ${c.subset}` : ''}`;
}

/** Connection-pool fields Istio leaves unlimited (2^32-1) when unset. */
const POOL_LIMITS = [
  ['maxConnections', 'tcp.maxConnections'],
  ['http1MaxPendingRequests', 'http.http1MaxPendingRequests'],
  ['http2MaxRequests', 'http.http2MaxRequests'],
  ['maxRetries', 'http.maxRetries'],
] as const;

/**
 * Every routed host needs outlier detection (or a failing pod keeps its share
 * of traffic) and connection-pool limits (or an overloaded callee queues
 * without bound instead of shedding with a fast 503).
 */
export function trafficPolicies(model: MeshModel, traversal: Traversal): Finding[] {
  const out: Finding[] = [];
  for (const service of servicesInScope(model, traversal)) {
    const dr = destinationRuleOf(model, service);
    if (!dr) {
      // With a VirtualService, routing-consistency reports the missing DestinationRule.
      if (meshVirtualServicesOf(model, service).length > 0) continue;
      out.push(
        finding(
          'traffic-policy',
          'warning',
          `host ${label(model, service)}`,
          `${label(model, service)} has neither a DestinationRule nor a VirtualService: no outlier detection, no connection limits, no timeout, and Istio's default retries (503 included)`,
          {},
          `add a DestinationRule (outlierDetection, connectionPool) and a VirtualService with explicit timeouts and retries (MeshedService / ResiliencePolicy do both)`,
        ),
      );
      continue;
    }
    const seen = new Set<string>();
    for (const c of clustersOf(model, service)) {
      const policy = effectivePolicy(dr, c.subset, c.port);
      const object = clusterLabel(model, c);
      const od = policy.outlierDetection;
      const odKey = `od|${JSON.stringify(od)}`;
      if (!seen.has(odKey)) {
        seen.add(odKey);
        const disabled = od !== undefined && od.consecutive5xxErrors === 0 && !od.consecutiveGatewayErrors;
        if (!od || disabled) {
          out.push(
            finding(
              'traffic-policy',
              'warning',
              object,
              `${object} has ${disabled ? 'outlier detection switched off (consecutive5xxErrors: 0, no consecutiveGatewayErrors)' : 'no outlierDetection'}: a pod that keeps failing keeps receiving its share of ${label(model, service)}'s traffic`,
              {},
              'add trafficPolicy.outlierDetection: consecutive5xxErrors 3, interval 5s, baseEjectionTime 30s, maxEjectionPercent sized for the replicas (see the ejection rule)',
            ),
          );
        }
      }
      const pool = policy.connectionPool;
      const missing = POOL_LIMITS.filter(([field]) => pool?.[field] === undefined)
        // A retry budget replaces Envoy's maxRetries circuit breaker.
        .filter(([field]) => !(field === 'maxRetries' && policy.retryBudget))
        .map(([, path]) => path);
      const poolKey = `pool|${missing.join(',')}`;
      if (missing.length > 0 && !seen.has(poolKey)) {
        seen.add(poolKey);
        out.push(
          finding(
            'traffic-policy',
            'warning',
            object,
            `${object} sets no ${missing.join(', ')}: Istio leaves ${missing.length === 1 ? 'it' : 'them'} unlimited, so an overloaded ${label(model, service)} queues without bound instead of shedding load with a fast 503`,
            { missing: missing.join(',') },
            'set trafficPolicy.connectionPool limits (meshkit defaults per replica: tcp.maxConnections 16, http.http1MaxPendingRequests 8, http.http2MaxRequests 24; http.maxRetries 16 or a retryBudget)',
          ),
        );
      }
    }
  }
  return out;
}

/**
 * Envoy ejects at most floor(replicas x maxEjectionPercent / 100) pods. Zero
 * means outlier detection never removes a bad pod; all of them means a bad
 * spell empties the cluster (Istio's default minHealthPercent 0 disables panic
 * routing), and every request fails with 503 UH until the ejection expires.
 */
export function ejection(model: MeshModel, traversal: Traversal): Finding[] {
  const out: Finding[] = [];
  for (const service of servicesInScope(model, traversal)) {
    const dr = destinationRuleOf(model, service);
    const svc = model.services.get(service);
    if (!dr || !svc?.selector) continue;
    const seen = new Set<string>();
    for (const c of clustersOf(model, service)) {
      const od = effectivePolicy(dr, c.subset, c.port).outlierDetection;
      if (!od || (od.consecutive5xxErrors === 0 && !od.consecutiveGatewayErrors)) continue;
      const subsetLabels = dr.subsets.find((s) => s.name === c.subset)?.labels ?? {};
      const workloads = selectedWorkloads(model, svc.namespace, { ...svc.selector, ...subsetLabels });
      const replicas = workloads.reduce((n, w) => n + w.replicas, 0);
      if (replicas === 0) continue;
      const percent = od.maxEjectionPercent ?? ISTIO_DEFAULT_MAX_EJECTION_PERCENT;
      const ejectable = ejectablePods(replicas, percent);
      const key = `${replicas}|${percent}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const object = clusterLabel(model, c);
      const source = workloads.map((w) => `${w.replicas} from ${describeRef(w.ref)} ${w.replicasFrom}`).join(', ');
      const pct = `maxEjectionPercent ${percent}${od.maxEjectionPercent === undefined ? ' (Istio default)' : ''}`;
      const numbers = { replicas, maxEjectionPercent: percent, ejectablePods: ejectable };
      if (ejectable >= replicas) {
        out.push(
          finding(
            'ejection',
            'error',
            object,
            `${pct} with ${replicas} replica${replicas === 1 ? '' : 's'} (${source}) ejects up to floor(${replicas} x ${percent}%) = ${ejectable}, every pod: a bad spell leaves ${label(model, service)} with no endpoint and every request fails with 503 until the ejection expires`,
            numbers,
            `lower maxEjectionPercent to at most ${defaultMaxEjectionPercent(replicas)}${replicas === 1 ? ' (with one replica there is nothing to fail over to)' : ''}`,
          ),
        );
      } else if (replicas >= 2 && ejectable === 0) {
        out.push(
          finding(
            'ejection',
            'warning',
            object,
            `${pct} with ${replicas} replicas (${source}) ejects floor(${replicas} x ${percent}%) = 0 pods: outlier detection never removes a failing pod`,
            numbers,
            `raise maxEjectionPercent to at least ${Math.ceil(100 / replicas)} (at most ${defaultMaxEjectionPercent(replicas)} keeps one pod serving)`,
          ),
        );
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------- VirtualService / DestinationRule / call graph

/**
 * References between VirtualServices, DestinationRules, Services and the call
 * graph that Istio accepts but routes wrongly: a subset no DestinationRule
 * defines (503 NC), a port the Service lacks, a DestinationRule nobody routes
 * through (Istio's default timeouts and retries apply), a call no route matches
 * (404 NR).
 */
export function routingConsistency(model: MeshModel, traversal: Traversal): Finding[] {
  const out: Finding[] = [];
  const routeLabel = (r: HttpRoute) => `${describeRef(r.virtualService)} route '${r.name}'`;

  for (const vs of model.virtualServices) {
    for (const r of vs.http) {
      for (const d of r.destinations) {
        if (!d.service) {
          out.push(
            finding(
              'routing-consistency',
              'warning',
              routeLabel(r),
              `sends to ${d.host}, which resolves to no Service in these manifests`,
              {},
              'fix the host, or declare the external host with a ServiceEntry',
            ),
          );
          continue;
        }
        const svc = model.services.get(d.service)!;
        const dr = destinationRuleOf(model, d.service);
        if (d.subset !== undefined && !dr?.subsets.some((s) => s.name === d.subset)) {
          out.push(
            finding(
              'routing-consistency',
              'error',
              routeLabel(r),
              `sends to subset ${d.subset} of ${label(model, d.service)}, which ${dr ? `${describeRef(dr.ref)} does not define (it has ${dr.subsets.map((s) => s.name).join(', ') || 'none'})` : 'no DestinationRule defines'}: every request gets 503 (no cluster)`,
              { subset: d.subset },
              dr
                ? `add subset ${d.subset} to ${describeRef(dr.ref)} or route to one it defines`
                : `add a DestinationRule for ${svc.fqdn} with subset ${d.subset}`,
            ),
          );
        }
        if (d.port !== undefined && !svc.ports.includes(d.port)) {
          out.push(
            finding(
              'routing-consistency',
              'error',
              routeLabel(r),
              `sends to port ${d.port}, which Service ${d.service} does not expose (ports ${svc.ports.join(', ')})`,
              { port: d.port },
              `use one of ports ${svc.ports.join(', ')}`,
            ),
          );
        } else if (d.port === undefined && svc.ports.length > 1) {
          out.push(
            finding(
              'routing-consistency',
              'warning',
              routeLabel(r),
              `names no port, but Service ${d.service} exposes ${svc.ports.length} (${svc.ports.join(', ')}): Istio needs the port to pick one`,
              {},
              'set destination.port.number',
            ),
          );
        }
      }
    }
  }

  const byService = new Map<string, string[]>();
  for (const vs of model.virtualServices.filter((v) => v.appliesToMesh)) {
    for (const s of vs.services) byService.set(s, [...(byService.get(s) ?? []), describeRef(vs.ref)]);
  }
  for (const [service, vss] of byService) {
    if (vss.length > 1) {
      out.push(
        finding(
          'routing-consistency',
          'warning',
          vss.join(', '),
          `${vss.length} VirtualServices apply to ${label(model, service)} in the mesh; sidecars use only one of them, and which one is not defined`,
          { virtualServices: vss.length },
          'merge them into one VirtualService per host',
        ),
      );
    }
    if (!destinationRuleOf(model, service)) {
      out.push(
        finding(
          'routing-consistency',
          'warning',
          vss.join(', '),
          `routes ${label(model, service)}, which has no DestinationRule: no outlier detection and no connection limits for it`,
          {},
          `add a DestinationRule for ${model.services.get(service)!.fqdn} with outlierDetection and connectionPool`,
        ),
      );
    }
  }

  for (const dr of model.destinationRules) {
    if (!dr.service) {
      if (!dr.host.includes('*'))
        out.push(
          finding('routing-consistency', 'warning', describeRef(dr.ref), `host ${dr.host} resolves to no Service in these manifests`, {}, 'fix the host'),
        );
      continue;
    }
    const svc = model.services.get(dr.service)!;
    const routed =
      byService.has(dr.service) ||
      model.virtualServices.some((vs) => vs.boundToGateway && vs.http.some((r) => r.destinations.some((d) => d.service === dr.service)));
    if (!routed) {
      out.push(
        finding(
          'routing-consistency',
          'warning',
          describeRef(dr.ref),
          `no VirtualService routes ${label(model, dr.service)}: its DestinationRule applies, but requests get Istio's defaults, no timeout and ${ISTIO_DEFAULT_RETRY.attempts} retries on ${ISTIO_DEFAULT_RETRY.retryOn.join(',')} (a 503 re-sends a POST)`,
          {},
          `add a VirtualService for ${svc.fqdn} with explicit timeouts and retries per route`,
        ),
      );
    }
    for (const policy of [dr.trafficPolicy, ...dr.subsets.map((s) => s.trafficPolicy)]) {
      for (const port of policy?.portLevel.keys() ?? []) {
        if (!svc.ports.includes(port)) {
          out.push(
            finding(
              'routing-consistency',
              'warning',
              describeRef(dr.ref),
              `has portLevelSettings for port ${port}, which Service ${dr.service} does not expose (ports ${svc.ports.join(', ')}): those settings never apply`,
              { port },
              `use one of ports ${svc.ports.join(', ')}`,
            ),
          );
        }
      }
    }
  }

  for (const u of traversal.unresolved) {
    out.push(
      finding(
        'routing-consistency',
        'warning',
        u.what,
        `the call graph names ${u.what}, but ${u.reason}`,
        {},
        'add the route to the VirtualService, or correct the call graph',
        u.publicRoutes,
      ),
    );
  }
  for (const name of traversal.graph.unknownNames) {
    out.push(
      finding(
        'routing-consistency',
        'warning',
        `call graph service '${name}'`,
        `the call graph names '${name}', which matches no Service in these manifests (or several: qualify it as name.namespace)`,
        {},
        'correct the name or analyse the manifests that deploy it',
      ),
    );
  }
  if (traversal.entry === 'service' && traversal.graph.publicRoutes.length > 0) {
    out.push(
      finding(
        'routing-consistency',
        'info',
        'ingress gateway',
        'no gateway-bound VirtualService in these manifests: public routes are analysed from the service VirtualService as their first hop',
        {},
        'none needed; add the edge VirtualService to analyse the gateway hop too',
      ),
    );
  }
  const unknownRoutes = traversal.graph.edges.filter((e) => !e.routes);
  if (unknownRoutes.length > 0) {
    out.push(
      finding(
        'routing-consistency',
        'info',
        'call graph',
        `${unknownRoutes.length} call${unknownRoutes.length === 1 ? '' : 's'} with unknown routes (${unknownRoutes.map((e) => `${label(model, e.from)} -> ${label(model, e.to)} from ${e.source}`).join('; ')}): amplification assumes the costliest callee route, timeout budgets are not checked`,
        { edges: unknownRoutes.length },
        'give a call graph file (--graph file.json) with the routes and handler sequences',
      ),
    );
  }
  return out;
}
