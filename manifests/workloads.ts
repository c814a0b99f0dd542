import { groupOf, type KubeObject } from './kube-object.js';

/** The kinds that own pods through a pod template at `spec.template`, by API group. */
export const workloadKinds: Readonly<Record<string, string>> = {
  Deployment: 'apps',
  StatefulSet: 'apps',
  DaemonSet: 'apps',
  ReplicaSet: 'apps',
  Job: 'batch',
};

export function isWorkload(o: Pick<KubeObject, 'apiVersion' | 'kind'>): boolean {
  return Object.hasOwn(workloadKinds, o.kind) && workloadKinds[o.kind] === groupOf(o.apiVersion);
}

/** The labels of a workload's pods (what a Service selector and a DestinationRule subset match). */
export function podLabelsOf(o: KubeObject): Record<string, string> {
  return o.spec?.template?.metadata?.labels ?? {};
}
