/**
 * The deploy order, once for every deployer: what each object waits for (`dependenciesOf`,
 * which Pulumi turns into dependsOn) and the order of kinds (`kindOrder`), which the CLI's
 * sequential apply follows and Pulumi's plan lists its independent entries by.
 */
import { endpointsIn, serviceOfHost } from './hosts.js';
import { groupOf, keyOf, type KubeObject } from './kube-object.js';
import { selects } from './selectors.js';
import { isWorkload, podLabelsOf } from './workloads.js';

/**
 * Kinds in apply order: definitions before what uses them, identities and Services before
 * workloads, mesh and network policy before the pods they govern, and DestinationRules before
 * VirtualServices (a route must never name a subset its DestinationRule does not define yet:
 * Istio's make-before-break rule). Strimzi node pools before the Kafka that uses them. Kinds
 * not listed go after the listed configuration and before workloads.
 */
export const kindOrder = [
  'Namespace',
  'CustomResourceDefinition',
  'PriorityClass',
  'ServiceAccount',
  'Secret',
  'ConfigMap',
  'ClusterRole',
  'ClusterRoleBinding',
  'Role',
  'RoleBinding',
  'Service',
  'PeerAuthentication',
  'RequestAuthentication',
  'AuthorizationPolicy',
  'NetworkPolicy',
  'DestinationRule',
  'ServiceEntry',
  'Gateway',
  'VirtualService',
  'Sidecar',
  'Telemetry',
  '*',
  'PersistentVolumeClaim',
  'KafkaNodePool',
  'Kafka',
  'KafkaTopic',
  'StatefulSet',
  'Deployment',
  'PodDisruptionBudget',
  'HorizontalPodAutoscaler',
] as const;

function rank(kind: string): number {
  const i = (kindOrder as readonly string[]).indexOf(kind);
  return i >= 0 ? i : kindOrder.indexOf('*');
}

/** `items` by `kindOrder`, in input order within a kind (stable). */
function sortByKind<T>(items: readonly T[], kindOf: (item: T) => string): T[] {
  return items
    .map((item, index) => ({ item, index }))
    .sort((a, b) => rank(kindOf(a.item)) - rank(kindOf(b.item)) || a.index - b.index)
    .map((e) => e.item);
}

const isIstio = (o: KubeObject) => groupOf(o.apiVersion).endsWith('.istio.io');
const isStrimzi = (o: KubeObject) => groupOf(o.apiVersion) === 'kafka.strimzi.io';

/** Keys (`keyOf`) of the objects among `all` that `o` must wait for. */
export function dependenciesOf(o: KubeObject, all: readonly KubeObject[]): string[] {
  const ns = o.metadata.namespace;
  const find = (predicate: (x: KubeObject) => boolean) => all.filter(predicate).map(keyOf);
  const sameNs = (x: KubeObject) => x.metadata.namespace === ns;
  const deps: string[] = [];

  // Namespaces first: every namespaced object lands in one.
  if (ns !== undefined) deps.push(...find((x) => x.apiVersion === 'v1' && x.kind === 'Namespace' && x.metadata.name === ns));

  // Istio's make-before-break rule: a route must never name a subset whose DestinationRule is not there yet.
  if (o.kind === 'VirtualService' && isIstio(o)) {
    const from = ns ?? 'default';
    const hosts = new Set<string>();
    for (const route of [...(o.spec?.http ?? []), ...(o.spec?.tcp ?? []), ...(o.spec?.tls ?? [])]) {
      for (const dest of route.route ?? []) {
        const service = serviceOfHost(dest.destination?.host, from);
        if (service) hosts.add(`${service.namespace}/${service.name}`);
      }
    }
    deps.push(
      ...find((x) => {
        const service = x.kind === 'DestinationRule' && isIstio(x) ? serviceOfHost(x.spec?.host, x.metadata.namespace ?? 'default') : undefined;
        return service !== undefined && hosts.has(`${service.namespace}/${service.name}`);
      }),
    );
  }

  // Strimzi builds a Kafka from its node pools and serves topics through the Kafka's topic operator.
  if (isStrimzi(o)) {
    const cluster = o.metadata.labels?.['strimzi.io/cluster'];
    if (o.kind === 'Kafka') deps.push(...find((x) => x.kind === 'KafkaNodePool' && sameNs(x) && x.metadata.labels?.['strimzi.io/cluster'] === o.metadata.name));
    if (o.kind === 'KafkaTopic' && cluster) deps.push(...find((x) => x.kind === 'Kafka' && sameNs(x) && x.metadata.name === cluster));
  }

  if (isWorkload(o)) deps.push(...workloadDependencies(o, all, find));
  return [...new Set(deps)].filter((d) => d !== keyOf(o));
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
  /* eslint-disable-next-line @typescript-eslint/no-explicit-any -- pod specs are untyped JSON */
  const containers: any[] = [...(pod.containers ?? []), ...(pod.initContainers ?? [])];
  for (const c of containers) {
    for (const env of c.env ?? []) {
      if (env.valueFrom?.secretKeyRef?.name) deps.push(...named('Secret', env.valueFrom.secretKeyRef.name));
      if (env.valueFrom?.configMapKeyRef?.name) deps.push(...named('ConfigMap', env.valueFrom.configMapKeyRef.name));
      if (typeof env.value === 'string') {
        for (const { host } of endpointsIn(env.value)) deps.push(...behindHost(host, ns ?? 'default', all));
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
function behindHost(host: string, fromNs: string, all: readonly KubeObject[]): string[] {
  const target = serviceOfHost(host, fromNs);
  if (!target) return [];
  const inNs = (x: KubeObject) => x.metadata.namespace === target.namespace;
  const kafka = all.find((x) => x.kind === 'Kafka' && isStrimzi(x) && inNs(x) && `${x.metadata.name}-kafka-bootstrap` === target.name);
  if (kafka) return [keyOf(kafka)];
  const service = all.find((x) => x.kind === 'Service' && x.apiVersion === 'v1' && inNs(x) && x.metadata.name === target.name);
  const selector: Record<string, string> | undefined = service?.spec?.selector;
  if (!service || !selector) return [];
  return all.filter((x) => isWorkload(x) && inNs(x) && selects(selector, podLabelsOf(x))).map(keyOf);
}

export interface Ordered {
  readonly key: string;
  /** Keys of the entries this one waits for. */
  readonly dependsOn: readonly string[];
  readonly object: Pick<KubeObject, 'kind'>;
}

/**
 * Dependencies before dependents; otherwise by `kindOrder`, and in input order within a kind
 * (stable). Throws on a cycle and on a dependency the entries do not contain.
 */
export function topologicalOrder<T extends Ordered>(entries: readonly T[]): T[] {
  const byKey = new Map(entries.map((e) => [e.key, e]));
  for (const e of entries) {
    for (const d of e.dependsOn) if (!byKey.has(d)) throw new Error(`${e.key} depends on ${d}, which the plan does not contain`);
  }
  const done = new Set<string>();
  const visiting: string[] = [];
  const out: T[] = [];
  const visit = (e: T) => {
    if (done.has(e.key)) return;
    if (visiting.includes(e.key)) throw new Error(`dependency cycle: ${[...visiting.slice(visiting.indexOf(e.key)), e.key].join(' -> ')}`);
    visiting.push(e.key);
    for (const d of e.dependsOn) visit(byKey.get(d)!);
    visiting.pop();
    done.add(e.key);
    out.push(e);
  };
  for (const e of sortByKind(entries, (x) => x.object.kind)) visit(e);
  return out;
}

/**
 * `objects` in the order to apply them one by one, as the CLI does: by `kindOrder`, in input
 * order within a kind. Every rule of `dependenciesOf` between two kinds agrees with it
 * (test/manifests/deploy-order.test.ts); within a kind the CLI waits for readiness afterwards.
 */
export function orderForApply<T extends Pick<KubeObject, 'kind'>>(objects: readonly T[]): T[] {
  return sortByKind(objects, (o) => o.kind);
}
