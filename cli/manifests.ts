import { orderForApply } from '../manifests/deploy-order.js';
import type { KubeObject } from '../manifests/kube-object.js';

export type Phase = 'namespaces' | 'kafka' | 'shop';

/**
 * Which bring-up step applies an object: Namespaces first (everything lands in them, and
 * Helm installs Strimzi into one), Strimzi resources once the operator runs, the rest
 * (the shop) once Kafka is Ready.
 */
export function phaseOf(object: Pick<KubeObject, 'apiVersion' | 'kind'>): Phase {
  if (object.apiVersion === 'v1' && object.kind === 'Namespace') return 'namespaces';
  if (object.apiVersion.startsWith('kafka.strimzi.io/')) return 'kafka';
  return 'shop';
}

/** The objects one bring-up step applies, in deploy order (manifests/deploy-order.ts). */
export function inPhase(objects: readonly KubeObject[], phase: Phase): KubeObject[] {
  return orderForApply(objects.filter((o) => phaseOf(o) === phase));
}
