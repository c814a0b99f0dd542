/**
 * The deployment plan of the Pulumi program as plain data: one entry per synthesized
 * object (plus the database Secrets the manifests reference but never contain), each
 * with the entries it must wait for. Kept free of Pulumi so the ordering rules can be
 * read and tested on their own; `platform.ts` turns each entry into one resource.
 */
import { dependenciesOf, topologicalOrder } from '../manifests/deploy-order.js';
import { groupOf, keyOf, type KubeObject } from '../manifests/kube-object.js';
import { isWorkload } from '../manifests/workloads.js';

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

/** Which operator serves an API group; undefined for Kubernetes' own groups. Throws for any other CRD group. */
export function operatorOf(apiVersion: string): Operator | undefined {
  const group = groupOf(apiVersion);
  if (group.endsWith('.istio.io')) return 'istio';
  if (group === 'kafka.strimzi.io') return 'strimzi';
  if (group === '' || !group.includes('.') || group.endsWith('.k8s.io')) return undefined;
  throw new Error(`no operator is known for API group '${group}' (${apiVersion}): add it to operatorOf in pulumi/plan.ts`);
}

/**
 * Orders the platform by the one deploy order (manifests/deploy-order.ts) and adds what the
 * operators must provide first; everything else is applied in parallel, as Pulumi does by default.
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
  const namespaceObjects = all.filter((o) => o.apiVersion === 'v1' && o.kind === 'Namespace');
  const ownNamespaces = new Set(namespaceObjects.map((o) => o.metadata.name));
  const injected = new Set(namespaceObjects.filter((o) => o.metadata.labels?.['istio-injection'] === 'enabled').map((o) => o.metadata.name));

  const planned = entries.map(({ chart, object, secretKeys }): PlannedResource => {
    const operators = new Set<Operator>();
    const served = operatorOf(object.apiVersion);
    if (served) operators.add(served);
    const ns = object.metadata.namespace;
    // The Istio installation creates its own namespace; nothing else may come from outside.
    if (ns !== undefined && !ownNamespaces.has(ns)) {
      if (ns === options.istioNamespace) operators.add('istio');
      else throw new Error(`${keyOf(object)}: namespace '${ns}' is neither created by the platform nor by an operator`);
    }
    // A pod created before istiod's injection webhook runs would start without its sidecar.
    if (ns !== undefined && injected.has(ns) && isWorkload(object)) operators.add('istio');
    return {
      key: keyOf(object),
      chart,
      object,
      dependsOn: dependenciesOf(object, all).sort(),
      operators: [...operators].sort(),
      ...(secretKeys ? { secretKeys } : {}),
    };
  });
  return topologicalOrder(planned);
}
