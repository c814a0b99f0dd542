/**
 * The EndpointSlice controller's job: for every Service with a selector, one EndpointSlice
 * (labelled `kubernetes.io/service-name`, managed by `endpointslice-controller.k8s.io`) listing
 * the matching Pods that have an address, each with its Ready condition, targetRef and node,
 * and the Service's ports with named targetPorts resolved against the Pods' container ports.
 */
import { createHash } from 'node:crypto';
import type { KubeClient, KubeObject } from '../../infra/kube-client.js';
import { selects } from '../../manifests/selectors.js';
import { isPodReady } from './workload-controller.js';

interface ServiceSpec {
  selector?: Record<string, string>;
  clusterIP?: string;
  ports?: { name?: string; port: number; targetPort?: number | string; protocol?: string; appProtocol?: string }[];
}

interface PodSpec {
  containers: { ports?: { name?: string; containerPort: number }[] }[];
  nodeName?: string;
}

/** The slice name: `<service>-<5 chars>`, stable per Service so each reconcile replaces it. */
export function sliceName(service: string): string {
  return `${service}-${createHash('sha256').update(service).digest('hex').slice(0, 5)}`;
}

function resolvePort(target: number | string | undefined, port: number, pods: readonly KubeObject[]): number | undefined {
  if (target === undefined) return port;
  if (typeof target === 'number') return target;
  if (/^\d+$/.test(target)) return Number(target);
  for (const pod of pods) {
    for (const container of (pod.spec as PodSpec).containers) {
      const found = container.ports?.find((p) => p.name === target);
      if (found) return found.containerPort;
    }
  }
  return undefined;
}

/** The EndpointSlice the controller would write for `service` given the namespace's Pods. */
export function endpointSliceFor(service: KubeObject, pods: readonly KubeObject[]): KubeObject | undefined {
  const spec = service.spec as ServiceSpec;
  if (!spec.selector) return undefined;
  const selected = pods.filter((p) => selects(spec.selector!, p.metadata.labels));
  const withIp = selected.filter((p) => (p.status as { podIP?: string } | undefined)?.podIP);
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: sliceName(service.metadata.name),
      namespace: service.metadata.namespace,
      labels: { 'kubernetes.io/service-name': service.metadata.name, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
      ownerReferences: [
        { apiVersion: 'v1', kind: 'Service', name: service.metadata.name, uid: service.metadata.uid, controller: true, blockOwnerDeletion: true },
      ],
    },
    addressType: 'IPv4',
    endpoints: withIp.map((pod) => {
      const terminating = pod.metadata.deletionTimestamp !== undefined;
      const ready = isPodReady(pod) && !terminating;
      const spec = pod.spec as PodSpec & { hostname?: string; subdomain?: string };
      return {
        addresses: [(pod.status as { podIP: string }).podIP],
        conditions: { ready, serving: isPodReady(pod), terminating },
        targetRef: { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid },
        ...(spec.nodeName && { nodeName: spec.nodeName }),
        ...(spec.hostname && spec.subdomain === service.metadata.name && { hostname: spec.hostname }),
      };
    }),
    ports: (spec.ports ?? []).map((p) => ({
      ...(p.name !== undefined && { name: p.name }),
      port: resolvePort(p.targetPort, p.port, withIp),
      protocol: p.protocol ?? 'TCP',
      ...(p.appProtocol && { appProtocol: p.appProtocol }),
    })),
  };
}

/**
 * One reconciliation of every Service in `namespaces`; returns every slice as it should be.
 * `written` remembers what was last written, so an unchanged slice costs no request.
 */
export async function reconcileEndpoints(kube: KubeClient, namespaces: readonly string[], written = new Map<string, string>()): Promise<KubeObject[]> {
  const slices: KubeObject[] = [];
  for (const namespace of namespaces) {
    const pods = await kube.list('v1', 'Pod', { namespace });
    for (const service of await kube.list('v1', 'Service', { namespace })) {
      const slice = endpointSliceFor(service, pods);
      if (!slice) continue;
      slices.push(slice);
      const key = `${namespace}/${slice.metadata.name}`;
      const text = JSON.stringify(slice);
      if (written.get(key) === text) continue;
      await kube.applyServerSide([slice]);
      written.set(key, text);
    }
  }
  return slices;
}
