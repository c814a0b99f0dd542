/**
 * What kube-controller-manager's Deployment, ReplicaSet and StatefulSet controllers (and the
 * scheduler) would do for the synthesized workloads: a Deployment gets a ReplicaSet named
 * `<deployment>-<pod-template-hash>` and that many Pods `<replicaset>-<5 chars>`; a StatefulSet
 * gets Pods `<name>-<ordinal>` with hostname and subdomain set; every Pod owned through
 * ownerReferences, bound to the one node, and replaced when deleted (a chaos kill). Status
 * (replicas, readyReplicas, the Deployment's Available condition) follows the Pods.
 */
import { createHash, randomInt } from 'node:crypto';
import type { KubeClient, KubeObject } from '../../infra/kube-client.js';

export const nodeName = 'meshkit-local';
/** The alphabet Kubernetes uses for generated name suffixes (no vowels, no look-alikes). */
const alphabet = 'bcdfghjklmnpqrstvwxz2456789';

function suffix(length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

/** A stable hash of the pod template, in the safe alphabet, as the Deployment controller labels ReplicaSets. */
export function podTemplateHash(template: unknown): string {
  const digest = createHash('sha256').update(JSON.stringify(template)).digest();
  let out = '';
  for (let i = 0; i < 10; i++) out += alphabet[digest[i]! % alphabet.length];
  return out;
}

interface Template {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
}

interface Workload extends KubeObject {
  spec: {
    replicas?: number;
    template: Template;
    serviceName?: string;
    selector?: { matchLabels?: Record<string, string> };
    volumeClaimTemplates?: { metadata: { name: string } }[];
  };
}

function ownerRef(owner: KubeObject, controller = true): Record<string, unknown> {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid,
    controller,
    blockOwnerDeletion: true,
  };
}

function podFrom(
  template: Template,
  name: string,
  namespace: string,
  owner: KubeObject,
  extra: { labels?: Record<string, string>; spec?: Record<string, unknown> },
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace,
      labels: { ...template.metadata?.labels, ...extra.labels },
      annotations: { ...template.metadata?.annotations },
      ownerReferences: [ownerRef(owner)],
    },
    spec: { ...template.spec, ...extra.spec, nodeName },
  };
}

function isOwnedBy(pod: KubeObject, owner: KubeObject): boolean {
  const refs = (pod.metadata.ownerReferences as { uid?: string }[] | undefined) ?? [];
  return refs.some((r) => r.uid === owner.metadata.uid);
}

const terminating = (pod: KubeObject) => pod.metadata.deletionTimestamp !== undefined;

export function isPodReady(pod: KubeObject): boolean {
  const conditions = ((pod.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? []).filter((c) => c.type === 'Ready');
  return conditions.some((c) => c.status === 'True');
}

async function create(kube: KubeClient, object: KubeObject): Promise<KubeObject> {
  const ns = object.metadata.namespace;
  const path =
    object.kind === 'Pod' ? `/api/v1/namespaces/${ns}/pods` : object.kind === 'ReplicaSet' ? `/apis/apps/v1/namespaces/${ns}/replicasets` : `/api/v1/nodes`;
  return kube.request<KubeObject>('POST', `${path}?fieldManager=meshkit-mesh`, { body: object });
}

async function patchStatus(kube: KubeClient, path: string, status: unknown): Promise<void> {
  await kube.request('PATCH', `${path}/status?fieldManager=meshkit-mesh`, { body: { status }, contentType: 'application/merge-patch+json' });
}

/** Creates the Node the pods are bound to (Ready, with the bridge address as InternalIP). */
export async function registerNode(kube: KubeClient, internalIp: string): Promise<void> {
  if (!(await kube.get('v1', 'Node', nodeName))) {
    await create(kube, {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: nodeName, labels: { 'kubernetes.io/hostname': nodeName, 'kubernetes.io/os': 'linux' } },
    });
  }
  const now = new Date().toISOString();
  await patchStatus(kube, `/api/v1/nodes/${nodeName}`, {
    addresses: [
      { type: 'InternalIP', address: internalIp },
      { type: 'Hostname', address: nodeName },
    ],
    conditions: [
      { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'meshkit local/mesh kubelet', lastHeartbeatTime: now, lastTransitionTime: now },
    ],
  });
}

/** Removes the Node object (its pods are gone by then). */
export async function unregisterNode(kube: KubeClient): Promise<void> {
  await kube.delete('v1', 'Node', nodeName).catch(() => undefined);
}

/** What admission does to a new Pod (the sidecar injector's labels); identity when nothing. */
export type PodAdmission = (pod: KubeObject) => KubeObject;

/** One reconciliation of every Deployment and StatefulSet in `namespaces`: creates missing pods, removes surplus, writes status. */
export async function reconcileWorkloads(kube: KubeClient, namespaces: readonly string[], admit: PodAdmission = (pod) => pod): Promise<void> {
  const admitted = async (k: KubeClient, object: KubeObject) => create(k, object.kind === 'Pod' ? admit(object) : object);
  for (const namespace of namespaces) {
    const pods = await kube.list('v1', 'Pod', { namespace });
    for (const deployment of (await kube.list('apps/v1', 'Deployment', { namespace })) as Workload[]) {
      await reconcileDeployment(kube, deployment, pods, admitted);
    }
    for (const statefulSet of (await kube.list('apps/v1', 'StatefulSet', { namespace })) as Workload[]) {
      await reconcileStatefulSet(kube, statefulSet, pods, admitted);
    }
  }
}

async function reconcileDeployment(kube: KubeClient, deployment: Workload, pods: readonly KubeObject[], createPod: typeof create): Promise<void> {
  const namespace = deployment.metadata.namespace!;
  const hash = podTemplateHash(deployment.spec.template);
  const rsName = `${deployment.metadata.name}-${hash}`;
  const replicas = deployment.spec.replicas ?? 1;
  let rs = await kube.get('apps/v1', 'ReplicaSet', rsName, namespace);
  if (!rs) {
    const labels = { ...deployment.spec.template.metadata?.labels, 'pod-template-hash': hash };
    rs = await create(kube, {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: rsName, namespace, labels, ownerReferences: [ownerRef(deployment)], annotations: { 'deployment.kubernetes.io/revision': '1' } },
      spec: {
        replicas,
        selector: { matchLabels: { ...deployment.spec.selector?.matchLabels, 'pod-template-hash': hash } },
        template: { ...deployment.spec.template, metadata: { ...deployment.spec.template.metadata, labels } },
      },
    });
  }
  const owned = pods.filter((p) => isOwnedBy(p, rs!) && !terminating(p));
  for (let i = owned.length; i < replicas; i++) {
    await createPod(kube, podFrom(deployment.spec.template, `${rsName}-${suffix(5)}`, namespace, rs, { labels: { 'pod-template-hash': hash } }));
  }
  for (const surplus of owned.slice(replicas)) await kube.delete('v1', 'Pod', surplus.metadata.name, namespace);
  const ready = owned.slice(0, replicas).filter(isPodReady).length;
  const status = {
    replicas: Math.min(owned.length, replicas),
    readyReplicas: ready,
    availableReplicas: ready,
    fullyLabeledReplicas: owned.length,
    observedGeneration: rs.metadata.generation,
  };
  await patchStatus(kube, `/apis/apps/v1/namespaces/${namespace}/replicasets/${rsName}`, status);
  const now = new Date().toISOString();
  // RollingUpdate's default maxUnavailable is 25%, rounded down.
  const available = ready > 0 && ready >= replicas - Math.floor(replicas * 0.25);
  await patchStatus(kube, `/apis/apps/v1/namespaces/${namespace}/deployments/${deployment.metadata.name}`, {
    observedGeneration: deployment.metadata.generation,
    replicas: status.replicas,
    updatedReplicas: status.replicas,
    readyReplicas: ready,
    availableReplicas: ready,
    unavailableReplicas: Math.max(0, replicas - ready),
    conditions: [
      {
        type: 'Available',
        status: available ? 'True' : 'False',
        reason: available ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
        lastUpdateTime: now,
        lastTransitionTime: now,
      },
    ],
  });
}

async function reconcileStatefulSet(kube: KubeClient, statefulSet: Workload, pods: readonly KubeObject[], createPod: typeof create): Promise<void> {
  const namespace = statefulSet.metadata.namespace!;
  const name = statefulSet.metadata.name;
  const replicas = statefulSet.spec.replicas ?? 1;
  const revision = `${name}-${podTemplateHash(statefulSet.spec.template)}`;
  let ready = 0;
  for (let ordinal = 0; ordinal < replicas; ordinal++) {
    const podName = `${name}-${ordinal}`;
    const existing = pods.find((p) => p.metadata.name === podName);
    if (existing) {
      if (isPodReady(existing) && !terminating(existing)) ready++;
      continue;
    }
    // OrderedReady: the next ordinal only once the previous one is Ready.
    if (ordinal > 0 && ready < ordinal) break;
    await createPod(
      kube,
      podFrom(statefulSet.spec.template, podName, namespace, statefulSet, {
        labels: { 'statefulset.kubernetes.io/pod-name': podName, 'apps.kubernetes.io/pod-index': String(ordinal), 'controller-revision-hash': revision },
        spec: {
          hostname: podName,
          subdomain: statefulSet.spec.serviceName,
          // The claims of volumeClaimTemplates, as the StatefulSet controller names them: <template>-<pod>.
          volumes: [
            ...(((statefulSet.spec.template.spec.volumes as unknown[]) ?? []) as object[]),
            ...(statefulSet.spec.volumeClaimTemplates ?? []).map((t) => ({
              name: t.metadata.name,
              persistentVolumeClaim: { claimName: `${t.metadata.name}-${podName}` },
            })),
          ],
        },
      }),
    );
  }
  await patchStatus(kube, `/apis/apps/v1/namespaces/${namespace}/statefulsets/${name}`, {
    observedGeneration: statefulSet.metadata.generation,
    replicas,
    readyReplicas: ready,
    availableReplicas: ready,
    currentReplicas: replicas,
    updatedReplicas: replicas,
    currentRevision: revision,
    updateRevision: revision,
  });
}
