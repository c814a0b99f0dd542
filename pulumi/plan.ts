/**
 * The deployment plan of the Pulumi program as plain data: one entry per synthesized
 * object (plus the database Secrets the manifests reference but never contain), each
 * with the entries it must wait for. Kept free of Pulumi so the ordering rules can be
 * read and tested on their own; `platform.ts` turns each entry into one resource.
 */
import { endpointsIn } from '../analysis/cross-references.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are untyped JSON by nature */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string> };
  readonly spec?: any;
  readonly [field: string]: unknown;
}

/** The operators whose CRDs and controllers the custom resources need. */
export type Operator = 'istio' | 'strimzi';

export interface ChartObjects {
  /** cdk8s chart id (`namespaces`, `kafka`, `shop`). */
  readonly chart: string;
  readonly objects: readonly KubeObject[];
}

export interface SecretRef {
  readonly name: string;
  readonly namespace: string;
  readonly keys: readonly string[];
}

export interface PlannedResource {
  /** `<apiVersion> <kind> <namespace>/<name>`: unique across the plan. */
  readonly key: string;
  /** The chart the object came from, or `secrets` for the deploy-time Secrets. */
  readonly chart: string;
  readonly object: KubeObject;
  /** Keys of the entries this one waits for, sorted. */
  readonly dependsOn: readonly string[];
  /** Operators that must be installed first: their CRDs, their namespace, or Istio's sidecar injector. */
  readonly operators: readonly Operator[];
  /** For deploy-time Secrets: the keys to fill with generated values. */
  readonly secretKeys?: readonly string[];
}

export interface PlanOptions {
  /** Namespace the Istio installation owns (istiod, the ingress gateway, mesh-wide policy). */
  readonly istioNamespace: string;
}

export const SECRETS_CHART = 'secrets';

export function keyOf(o: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): string {
  return `${o.apiVersion} ${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

const groupOf = (apiVersion: string) => (apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '');

/** Which operator serves an API group; undefined for Kubernetes' own groups. Throws for any other CRD group. */
export function operatorOf(apiVersion: string): Operator | undefined {
  const group = groupOf(apiVersion);
  if (group.endsWith('.istio.io')) return 'istio';
  if (group === 'kafka.strimzi.io') return 'strimzi';
  if (group === '' || !group.includes('.') || group.endsWith('.k8s.io')) return undefined;
  throw new Error(`no operator is known for API group '${group}' (${apiVersion}): add it to operatorOf in pulumi/plan.ts`);
}

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet']);

/**
 * Orders the platform. Each rule names what Kubernetes or an operator needs to exist
 * first; everything else is applied in parallel, as Pulumi does by default.
 */
export function planPlatform(charts: readonly ChartObjects[], secrets: readonly SecretRef[], options: PlanOptions): PlannedResource[] {
  const entries: { chart: string; object: KubeObject; secretKeys?: readonly string[] }[] = [
    ...charts.flatMap((c) => c.objects.map((object) => ({ chart: c.chart, object }))),
    ...secrets.map((s) => ({
      chart: SECRETS_CHART,
      object: { apiVersion: 'v1', kind: 'Secret', metadata: { name: s.name, namespace: s.namespace }, type: 'Opaque' } as KubeObject,
      secretKeys: s.keys,
    })),
  ];
  const byKey = new Map<string, KubeObject>();
  for (const { object } of entries) {
    const key = keyOf(object);
    if (byKey.has(key)) throw new Error(`${key} is declared twice: each object must have one owner`);
    byKey.set(key, object);
  }
  const all = [...byKey.values()];
  const find = (predicate: (o: KubeObject) => boolean) => all.filter(predicate).map(keyOf);
  const namespaceObjects = all.filter((o) => o.apiVersion === 'v1' && o.kind === 'Namespace');
  const ownNamespaces = new Set(namespaceObjects.map((o) => o.metadata.name));
  const injected = new Set(namespaceObjects.filter((o) => o.metadata.labels?.['istio-injection'] === 'enabled').map((o) => o.metadata.name));

  const planned = entries.map(({ chart, object, secretKeys }): PlannedResource => {
    const deps = new Set<string>();
    const operators = new Set<Operator>();
    const served = operatorOf(object.apiVersion);
    if (served) operators.add(served);
    const ns = object.metadata.namespace;
    // Namespaces first: every namespaced object lands in one.
    if (ns !== undefined) {
      if (ownNamespaces.has(ns)) deps.add(keyOf({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }));
      // The Istio installation creates its own namespace; nothing else may come from outside.
      else if (ns === options.istioNamespace) operators.add('istio');
      else throw new Error(`${keyOf(object)}: namespace '${ns}' is neither created by the platform nor by an operator`);
    }
    // A pod created before istiod's injection webhook runs would start without its sidecar.
    if (ns !== undefined && injected.has(ns) && WORKLOAD_KINDS.has(object.kind)) operators.add('istio');
    for (const dep of dependenciesOf(object, all, find)) deps.add(dep);
    deps.delete(keyOf(object));
    return { key: keyOf(object), chart, object, dependsOn: [...deps].sort(), operators: [...operators].sort(), ...(secretKeys ? { secretKeys } : {}) };
  });
  return topologicalOrder(planned);
}

function dependenciesOf(o: KubeObject, all: readonly KubeObject[], find: (p: (x: KubeObject) => boolean) => string[]): string[] {
  const ns = o.metadata.namespace;
  const sameNs = (x: KubeObject) => x.metadata.namespace === ns;
  const deps: string[] = [];

  // Istio's make-before-break rule: a route must never name a subset whose DestinationRule is not there yet.
  if (o.kind === 'VirtualService' && operatorOf(o.apiVersion) === 'istio') {
    const hosts = new Set<string>();
    for (const route of [...(o.spec?.http ?? []), ...(o.spec?.tcp ?? []), ...(o.spec?.tls ?? [])]) {
      for (const dest of route.route ?? []) if (dest.destination?.host) hosts.add(fqdn(dest.destination.host, ns));
    }
    deps.push(
      ...find((x) => x.kind === 'DestinationRule' && operatorOf(x.apiVersion) === 'istio' && hosts.has(fqdn(x.spec?.host ?? '', x.metadata.namespace))),
    );
  }

  // Strimzi builds a Kafka from its node pools and serves topics through the Kafka's topic operator.
  if (o.apiVersion.startsWith('kafka.strimzi.io/')) {
    const cluster = o.metadata.labels?.['strimzi.io/cluster'];
    if (o.kind === 'Kafka') deps.push(...find((x) => x.kind === 'KafkaNodePool' && sameNs(x) && x.metadata.labels?.['strimzi.io/cluster'] === o.metadata.name));
    if (o.kind === 'KafkaTopic' && cluster) deps.push(...find((x) => x.kind === 'Kafka' && sameNs(x) && x.metadata.name === cluster));
  }

  if (WORKLOAD_KINDS.has(o.kind) && o.apiVersion === 'apps/v1') deps.push(...workloadDependencies(o, all, find));
  return deps;
}

/**
 * A workload waits for what its pods need to start: its ServiceAccount, the Secrets and
 * ConfigMaps it reads, and the workloads behind every in-cluster address in its env
 * (the database before the service that migrates it at start-up, the callee before the
 * caller, the Kafka cluster and topics before their producers and consumers).
 */
function workloadDependencies(o: KubeObject, all: readonly KubeObject[], find: (p: (x: KubeObject) => boolean) => string[]): string[] {
  const ns = o.metadata.namespace;
  const pod = o.spec?.template?.spec ?? {};
  const deps: string[] = [];
  const named = (kind: string, name: string) =>
    find((x) => x.kind === kind && x.apiVersion === 'v1' && x.metadata.namespace === ns && x.metadata.name === name);

  if (pod.serviceAccountName) deps.push(...named('ServiceAccount', pod.serviceAccountName));
  const containers: any[] = [...(pod.containers ?? []), ...(pod.initContainers ?? [])];
  for (const c of containers) {
    for (const env of c.env ?? []) {
      if (env.valueFrom?.secretKeyRef?.name) deps.push(...named('Secret', env.valueFrom.secretKeyRef.name));
      if (env.valueFrom?.configMapKeyRef?.name) deps.push(...named('ConfigMap', env.valueFrom.configMapKeyRef.name));
      if (typeof env.value === 'string') {
        for (const { host } of endpointsIn(env.value)) deps.push(...behindHost(host, ns, all));
        if (env.name === 'KAFKA_PRODUCE_TOPICS' || env.name === 'KAFKA_CONSUME_TOPICS') {
          const topics = new Set(env.value.split(',').filter(Boolean));
          deps.push(...find((x) => x.kind === 'KafkaTopic' && topics.has(x.spec?.topicName ?? x.metadata.name)));
        }
      }
    }
    for (const from of c.envFrom ?? []) {
      if (from.secretRef?.name) deps.push(...named('Secret', from.secretRef.name));
      if (from.configMapRef?.name) deps.push(...named('ConfigMap', from.configMapRef.name));
    }
  }
  for (const v of pod.volumes ?? []) {
    if (v.secret?.secretName) deps.push(...named('Secret', v.secret.secretName));
    if (v.configMap?.name) deps.push(...named('ConfigMap', v.configMap.name));
  }
  return deps;
}

/** The objects that serve a DNS host: the workloads a Service selects, or the Kafka behind Strimzi's bootstrap Service. */
function behindHost(host: string, fromNs: string | undefined, all: readonly KubeObject[]): string[] {
  const parts = host
    .replace(/\.svc\.cluster\.local$/, '')
    .replace(/\.svc$/, '')
    .split('.');
  const name = parts[0] ?? '';
  const ns = parts[1] ?? fromNs;
  const kafka = all.find(
    (x) => x.kind === 'Kafka' && x.apiVersion.startsWith('kafka.strimzi.io/') && x.metadata.namespace === ns && `${x.metadata.name}-kafka-bootstrap` === name,
  );
  if (kafka) return [keyOf(kafka)];
  const service = all.find((x) => x.kind === 'Service' && x.apiVersion === 'v1' && x.metadata.namespace === ns && x.metadata.name === name);
  const selector: Record<string, string> | undefined = service?.spec?.selector;
  if (!service || !selector) return [];
  return all
    .filter((x) => WORKLOAD_KINDS.has(x.kind) && x.metadata.namespace === ns)
    .filter((x) => Object.entries(selector).every(([k, v]) => x.spec?.template?.metadata?.labels?.[k] === v))
    .map(keyOf);
}

function fqdn(host: string, ns: string | undefined): string {
  if (host.endsWith('.svc.cluster.local')) return host;
  const parts = host.split('.');
  return parts.length === 1 ? `${host}.${ns ?? 'default'}.svc.cluster.local` : `${parts[0]}.${parts[1]}.svc.cluster.local`;
}

/** Dependencies before dependents; among independent entries the input order stays (stable). Throws on a cycle. */
export function topologicalOrder(entries: readonly PlannedResource[]): PlannedResource[] {
  const byKey = new Map(entries.map((e) => [e.key, e]));
  for (const e of entries) {
    for (const d of e.dependsOn) if (!byKey.has(d)) throw new Error(`${e.key} depends on ${d}, which the plan does not contain`);
  }
  const done = new Set<string>();
  const visiting: string[] = [];
  const out: PlannedResource[] = [];
  const visit = (e: PlannedResource) => {
    if (done.has(e.key)) return;
    if (visiting.includes(e.key)) throw new Error(`dependency cycle: ${[...visiting.slice(visiting.indexOf(e.key)), e.key].join(' -> ')}`);
    visiting.push(e.key);
    for (const d of e.dependsOn) visit(byKey.get(d)!);
    visiting.pop();
    done.add(e.key);
    out.push(e);
  };
  for (const e of entries) visit(e);
  return out;
}
