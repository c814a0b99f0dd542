/**
 * The mesh as the resilience rules see it, parsed from synthesized manifests:
 * Services with the workloads they select (and how many replicas always run),
 * VirtualService HTTP routes with their effective timeout and retries (Istio's
 * defaults filled in where a field is absent), and DestinationRules with their
 * traffic policies. Parsing never throws on odd input; what it cannot read it
 * records in `problems`.
 */
import { serviceFqdn, serviceOfHost } from '../manifests/hosts.js';
import type { KubeObject } from '../manifests/kube-object.js';
import { selects } from '../manifests/selectors.js';
import { isWorkload, podLabelsOf } from '../manifests/workloads.js';
import { ENVOY_DEFAULT_BACKOFF_MS, type RetryTiming } from '../mesh/worst-case.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are untyped JSON by nature */

export interface ObjectRef {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

export function describeRef(ref: ObjectRef): string {
  return `${ref.kind} ${ref.namespace}/${ref.name}`;
}

/** Istio's route retry policy when a VirtualService route has no `retries` (mesh config defaultHttpRetryPolicy). */
export const ISTIO_DEFAULT_RETRY: RetrySpec = {
  attempts: 2,
  retryOn: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes'],
  backoffMs: ENVOY_DEFAULT_BACKOFF_MS,
  source: 'istio-default',
};

/** Istio's cluster connect timeout when a DestinationRule sets none (MeshConfig connectTimeout). */
export const ISTIO_DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Envoy's maxEjectionPercent when outlierDetection sets none. */
export const ISTIO_DEFAULT_MAX_EJECTION_PERCENT = 10;

/** A route's retries as the analyzer reads them: the shared timing model's numbers, and where they came from. */
export interface RetrySpec extends RetryTiming {
  /** Whether the route states its retries or inherits Istio's default policy. */
  readonly source: 'explicit' | 'istio-default';
}

export interface StringMatch {
  readonly exact?: string;
  readonly prefix?: string;
  readonly regex?: string;
}

export interface RouteMatch {
  /** Undefined: any method. */
  readonly method?: StringMatch;
  /** Undefined: any path. */
  readonly uri?: StringMatch;
  /** Header name (lower case) -> condition. */
  readonly headers: Readonly<Record<string, StringMatch>>;
}

export interface Destination {
  /** Host as written. */
  readonly host: string;
  /** The Service it resolves to ("namespace/name"), if any. */
  readonly service?: string;
  readonly subset?: string;
  readonly port?: number;
}

export interface HttpRoute {
  readonly virtualService: ObjectRef;
  /** The route's `name`, or its position ("#2") when it has none. */
  readonly name: string;
  /** Undefined: the route matches every request (a catch-all, like the fallback route). */
  readonly matches?: readonly RouteMatch[];
  readonly destinations: readonly Destination[];
  /** Whole-request timeout including retries; undefined means none (Istio's default). */
  readonly timeoutMs?: number;
  readonly retry: RetrySpec;
  /** `rewrite.uri`, for routes at the edge that map a public prefix onto the service's paths. */
  readonly rewriteUri?: string;
}

export interface VirtualServiceModel {
  readonly ref: ObjectRef;
  readonly hosts: readonly string[];
  /** Services the hosts resolve to ("namespace/name"). */
  readonly services: readonly string[];
  /** Applied by sidecars: no `gateways`, or `mesh` among them. */
  readonly appliesToMesh: boolean;
  /** Bound to an ingress/egress gateway (a name other than `mesh` in `gateways`). */
  readonly boundToGateway: boolean;
  readonly http: readonly HttpRoute[];
}

export interface OutlierDetectionSpec {
  readonly consecutive5xxErrors?: number;
  readonly consecutiveGatewayErrors?: number;
  readonly maxEjectionPercent?: number;
}

export interface ConnectionPoolSpec {
  readonly maxConnections?: number;
  readonly connectTimeoutMs?: number;
  readonly http1MaxPendingRequests?: number;
  readonly http2MaxRequests?: number;
  readonly maxRetries?: number;
}

/** The groups of a traffic policy that subsets and ports override one by one, as Istio merges them. */
export interface TrafficPolicySpec {
  readonly outlierDetection?: OutlierDetectionSpec;
  readonly connectionPool?: ConnectionPoolSpec;
  readonly retryBudget?: { readonly percent?: number; readonly minRetryConcurrency?: number };
  readonly portLevel: ReadonlyMap<number, Omit<TrafficPolicySpec, 'portLevel'>>;
}

export interface SubsetSpec {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly trafficPolicy?: TrafficPolicySpec;
}

export interface DestinationRuleModel {
  readonly ref: ObjectRef;
  readonly host: string;
  /** The Service the host resolves to ("namespace/name"), if any. */
  readonly service?: string;
  readonly trafficPolicy?: TrafficPolicySpec;
  readonly subsets: readonly SubsetSpec[];
}

export interface Workload {
  readonly ref: ObjectRef;
  readonly podLabels: Readonly<Record<string, string>>;
  /** Pods always running: HPA minReplicas when an autoscaler targets it, else spec.replicas (default 1). */
  readonly replicas: number;
  readonly replicasFrom: string;
  /** Literal env values of the first container (valueFrom entries are left out). */
  readonly env: Readonly<Record<string, string>>;
}

export interface ServiceHost {
  /** "namespace/name" */
  readonly key: string;
  readonly name: string;
  readonly namespace: string;
  readonly fqdn: string;
  readonly ports: readonly number[];
  readonly selector?: Readonly<Record<string, string>>;
}

export interface MeshModel {
  readonly services: ReadonlyMap<string, ServiceHost>;
  readonly workloads: readonly Workload[];
  readonly virtualServices: readonly VirtualServiceModel[];
  readonly destinationRules: readonly DestinationRuleModel[];
  /** What could not be read (unparseable durations, routes without destinations, ...). */
  readonly problems: readonly string[];
}

/** Go/protobuf durations as Istio accepts them: "0.25s", "2s", "1m30s", "500ms"; undefined when absent. */
export function parseDurationMs(value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const text = String(value).trim();
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 };
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) throw new Error(`cannot read duration '${text}'`);
  return parts.reduce((sum, p) => sum + Number(p[1]) * units[p[2]!]!, 0);
}

export function buildMeshModel(objects: readonly KubeObject[], defaultNamespace = 'default'): MeshModel {
  const problems: string[] = [];
  const ns = (o: KubeObject) => o.metadata.namespace ?? defaultNamespace;
  const refOf = (o: KubeObject): ObjectRef => ({ kind: o.kind, namespace: ns(o), name: o.metadata.name });
  const duration = (value: unknown, where: string): number | undefined => {
    try {
      return parseDurationMs(value);
    } catch (err) {
      problems.push(`${where}: ${(err as Error).message}`);
      return undefined;
    }
  };

  const services = new Map<string, ServiceHost>();
  for (const o of objects) {
    if (o.kind !== 'Service' || o.apiVersion !== 'v1') continue;
    const key = `${ns(o)}/${o.metadata.name}`;
    services.set(key, {
      key,
      name: o.metadata.name,
      namespace: ns(o),
      fqdn: serviceFqdn(o.metadata.name, ns(o)),
      ports: ((o.spec?.ports ?? []) as any[]).map((p) => Number(p.port)),
      selector: o.spec?.selector,
    });
  }
  const resolve = (host: string | undefined, fromNs: string) => resolveHost(services, host, fromNs);

  // An autoscaler owns the replica count; its minimum is what is always running.
  const hpaMin = new Map<string, number>();
  for (const o of objects) {
    if (o.kind !== 'HorizontalPodAutoscaler') continue;
    const target = o.spec?.scaleTargetRef;
    if (target?.kind && target?.name) hpaMin.set(`${target.kind} ${ns(o)}/${target.name}`, Number(o.spec?.minReplicas ?? 1));
  }
  const workloads: Workload[] = objects.filter(isWorkload).map((o) => {
    const ref = refOf(o);
    const fromHpa = hpaMin.get(`${o.kind} ${ref.namespace}/${ref.name}`);
    const replicas = fromHpa ?? Number(o.spec?.replicas ?? 1);
    const replicasFrom = fromHpa !== undefined ? 'HPA minReplicas' : o.spec?.replicas !== undefined ? 'spec.replicas' : 'default replicas';
    const env: Record<string, string> = {};
    for (const e of (o.spec?.template?.spec?.containers?.[0]?.env ?? []) as any[]) if (typeof e.value === 'string') env[e.name] = e.value;
    return { ref, podLabels: podLabelsOf(o), replicas, replicasFrom, env };
  });

  const virtualServices: VirtualServiceModel[] = objects
    .filter((o) => o.kind === 'VirtualService')
    .map((o) => {
      const ref = refOf(o);
      const gateways: string[] = o.spec?.gateways ?? [];
      const hosts: string[] = o.spec?.hosts ?? [];
      const http = ((o.spec?.http ?? []) as any[]).map((r, i): HttpRoute => {
        const name = r.name ?? `#${i}`;
        const where = `${describeRef(ref)} route '${name}'`;
        const timeoutMs = duration(r.timeout, `${where} timeout`);
        const retry: RetrySpec = r.retries
          ? {
              attempts: Number(r.retries.attempts ?? 0),
              perTryTimeoutMs: duration(r.retries.perTryTimeout, `${where} perTryTimeout`),
              retryOn: String(r.retries.retryOn ?? ISTIO_DEFAULT_RETRY.retryOn.join(','))
                .split(',')
                .map((c) => c.trim())
                .filter(Boolean),
              backoffMs: duration(r.retries.backoff, `${where} backoff`) ?? ENVOY_DEFAULT_BACKOFF_MS,
              source: 'explicit',
            }
          : ISTIO_DEFAULT_RETRY;
        const destinations = ((r.route ?? []) as any[]).map((d) => ({
          host: String(d.destination?.host ?? ''),
          service: resolve(d.destination?.host, ref.namespace)?.key,
          subset: d.destination?.subset,
          port: d.destination?.port?.number,
        }));
        if (destinations.length === 0 && !r.redirect && !r.directResponse) problems.push(`${where} has no destination`);
        return {
          virtualService: ref,
          name,
          matches: r.match ? (r.match as any[]).map(parseMatch) : undefined,
          destinations,
          timeoutMs: timeoutMs === 0 ? undefined : timeoutMs,
          retry,
          rewriteUri: r.rewrite?.uri,
        };
      });
      return {
        ref,
        hosts,
        services: hosts.map((h) => resolve(h, ref.namespace)?.key).filter((k): k is string => k !== undefined),
        appliesToMesh: gateways.length === 0 || gateways.includes('mesh'),
        boundToGateway: gateways.some((g) => g !== 'mesh'),
        http,
      };
    });

  const destinationRules: DestinationRuleModel[] = objects
    .filter((o) => o.kind === 'DestinationRule')
    .map((o) => {
      const ref = refOf(o);
      const policy = (tp: any, where: string) => (tp ? parseTrafficPolicy(tp, where, duration) : undefined);
      return {
        ref,
        host: String(o.spec?.host ?? ''),
        service: resolve(o.spec?.host, ref.namespace)?.key,
        trafficPolicy: policy(o.spec?.trafficPolicy, describeRef(ref)),
        subsets: ((o.spec?.subsets ?? []) as any[]).map((s) => ({
          name: String(s.name),
          labels: s.labels ?? {},
          trafficPolicy: policy(s.trafficPolicy, `${describeRef(ref)} subset ${s.name}`),
        })),
      };
    });

  return { services, workloads, virtualServices, destinationRules, problems };
}

/** The Service a host names, seen from `fromNs` (manifests/hosts.ts). */
export function resolveHost(services: ReadonlyMap<string, ServiceHost>, host: string | undefined, fromNs: string): ServiceHost | undefined {
  const named = serviceOfHost(host, fromNs);
  return named && services.get(`${named.namespace}/${named.name}`);
}

function parseMatch(m: any): RouteMatch {
  const headers: Record<string, StringMatch> = {};
  for (const [name, cond] of Object.entries(m.headers ?? {})) headers[name.toLowerCase()] = cond as StringMatch;
  return { method: m.method, uri: m.uri, headers };
}

type DurationReader = (value: unknown, where: string) => number | undefined;

function parseGroups(tp: any, where: string, duration: DurationReader): Omit<TrafficPolicySpec, 'portLevel'> {
  const od = tp.outlierDetection;
  const cp = tp.connectionPool;
  return {
    outlierDetection: od
      ? {
          // The CRD spells it consecutive5xxErrors; cdk8s imports emit consecutive5XxErrors — both reach the API server as typed.
          consecutive5xxErrors: od.consecutive5xxErrors ?? od.consecutive5XxErrors,
          consecutiveGatewayErrors: od.consecutiveGatewayErrors,
          maxEjectionPercent: od.maxEjectionPercent,
        }
      : undefined,
    connectionPool: cp
      ? {
          maxConnections: cp.tcp?.maxConnections,
          connectTimeoutMs: duration(cp.tcp?.connectTimeout, `${where} connectTimeout`),
          http1MaxPendingRequests: cp.http?.http1MaxPendingRequests,
          http2MaxRequests: cp.http?.http2MaxRequests,
          maxRetries: cp.http?.maxRetries,
        }
      : undefined,
    retryBudget: tp.retryBudget,
  };
}

function parseTrafficPolicy(tp: any, where: string, duration: DurationReader): TrafficPolicySpec {
  const portLevel = new Map<number, Omit<TrafficPolicySpec, 'portLevel'>>();
  for (const pls of (tp.portLevelSettings ?? []) as any[]) {
    if (pls.port?.number !== undefined) portLevel.set(Number(pls.port.number), parseGroups(pls, `${where} port ${pls.port.number}`, duration));
  }
  return { ...parseGroups(tp, where, duration), portLevel };
}

/**
 * The policy Envoy applies to one cluster (host, subset, port): subset groups
 * replace destination-level groups, port-level groups replace both, group by
 * group (connectionPool, outlierDetection, retryBudget), as Istio merges them.
 */
export function effectivePolicy(dr: DestinationRuleModel, subset: string | undefined, port: number | undefined): Omit<TrafficPolicySpec, 'portLevel'> {
  const layers = [dr.trafficPolicy, dr.subsets.find((s) => s.name === subset)?.trafficPolicy];
  let merged: Omit<TrafficPolicySpec, 'portLevel'> = {};
  for (const layer of layers) {
    if (!layer) continue;
    merged = overlay(merged, layer);
    const atPort = port === undefined ? undefined : layer.portLevel.get(port);
    if (atPort) merged = overlay(merged, atPort);
  }
  return merged;
}

function overlay(base: Omit<TrafficPolicySpec, 'portLevel'>, top: Omit<TrafficPolicySpec, 'portLevel'>): Omit<TrafficPolicySpec, 'portLevel'> {
  return {
    outlierDetection: top.outlierDetection ?? base.outlierDetection,
    connectionPool: top.connectionPool ?? base.connectionPool,
    retryBudget: top.retryBudget ?? base.retryBudget,
  };
}

/** Workloads whose pods carry every label of `selector` (a Service selector plus subset labels). */
export function selectedWorkloads(model: MeshModel, namespace: string, selector: Readonly<Record<string, string>>): Workload[] {
  return model.workloads.filter((w) => w.ref.namespace === namespace && selects(selector, w.podLabels));
}

/** The DestinationRule that governs a Service: one whose host resolves to it (the first, when several do). */
export function destinationRuleOf(model: MeshModel, serviceKey: string): DestinationRuleModel | undefined {
  return (
    model.destinationRules.find((dr) => dr.service === serviceKey) ??
    model.destinationRules.find((dr) => wildcardCovers(dr.host, model.services.get(serviceKey)))
  );
}

/** VirtualServices sidecars apply to traffic for the Service. */
export function meshVirtualServicesOf(model: MeshModel, serviceKey: string): VirtualServiceModel[] {
  return model.virtualServices.filter((vs) => vs.appliesToMesh && vs.services.includes(serviceKey));
}

function wildcardCovers(pattern: string, svc: ServiceHost | undefined): boolean {
  return svc !== undefined && pattern.startsWith('*') && svc.fqdn.endsWith(pattern.slice(1));
}
