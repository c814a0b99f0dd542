import type { KubeObject } from './cluster-api.js';

/** An object the bring-up waits for. */
export interface Ref {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
}

export interface Readiness {
  readonly ready: boolean;
  /** What the object reports, e.g. `1/2 available` or `Ready=False (NotReady: ...)`. */
  readonly detail: string;
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export const refOf = (o: KubeObject): Ref => ({ apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace });

export function describeRef(ref: Ref): string {
  return `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
}

export function conditionsOf(object: KubeObject | undefined): Condition[] {
  return ((object?.status as { conditions?: Condition[] } | undefined)?.conditions ?? []).filter((c) => typeof c?.type === 'string');
}

export function describeCondition(c: Condition): string {
  const why = [c.reason, c.message].filter(Boolean).join(': ');
  return `${c.type}=${c.status}${why ? ` (${why})` : ''}`;
}

function condition(object: KubeObject, type: string): Condition | undefined {
  return conditionsOf(object).find((c) => c.type === type);
}

/** Whether the object's controller has seen its latest spec (a fresh status, not one of the previous generation). */
function observedCurrent(object: KubeObject): boolean {
  const generation = object.metadata.generation as number | undefined;
  const observed = (object.status as { observedGeneration?: number } | undefined)?.observedGeneration;
  return generation === undefined || (observed !== undefined && observed >= generation);
}

type Status = Record<string, number | undefined>;

/**
 * Ready as `kubectl rollout status` / `kubectl wait` would call it:
 * - Deployment: the controller saw the current spec, Available=True and every replica updated and available;
 * - StatefulSet: every replica ready on the current spec;
 * - CustomResourceDefinition: Established=True;
 * - Strimzi resources (kafka.strimzi.io) with conditions: Ready=True for the current generation (Strimzi says
 *   NotReady=True with a reason while it is not);
 * - anything else: it exists.
 */
export function readiness(object: KubeObject | undefined): Readiness {
  if (!object) return { ready: false, detail: 'does not exist' };
  const spec = (object.spec ?? {}) as { replicas?: number };
  const status = (object.status ?? {}) as Status;
  const group = object.apiVersion.includes('/') ? object.apiVersion.split('/')[0] : '';
  if (object.kind === 'Deployment' && group === 'apps') {
    const want = spec.replicas ?? 1;
    const available = status.availableReplicas ?? 0;
    const updated = status.updatedReplicas ?? 0;
    const c = condition(object, 'Available');
    const ready = observedCurrent(object) && c?.status === 'True' && updated >= want && available >= want && (status.replicas ?? 0) <= updated;
    return { ready, detail: `${available}/${want} available, ${updated} updated${c && c.status !== 'True' ? `, ${describeCondition(c)}` : ''}` };
  }
  if (object.kind === 'StatefulSet' && group === 'apps') {
    const want = spec.replicas ?? 1;
    const readyReplicas = status.readyReplicas ?? 0;
    const updated = status.updatedReplicas ?? 0;
    return { ready: observedCurrent(object) && readyReplicas >= want && updated >= want, detail: `${readyReplicas}/${want} ready, ${updated} updated` };
  }
  if (object.kind === 'CustomResourceDefinition') {
    const c = condition(object, 'Established');
    return { ready: c?.status === 'True', detail: c ? describeCondition(c) : 'not Established yet' };
  }
  if (group === 'kafka.strimzi.io' && ['Kafka', 'KafkaTopic', 'KafkaUser', 'KafkaConnect', 'KafkaBridge'].includes(object.kind)) {
    const c = condition(object, 'Ready');
    // Strimzi reports trouble as NotReady=True (with the reason) rather than Ready=False.
    const notReady = conditionsOf(object).find((x) => x.type === 'NotReady' && x.status === 'True');
    if (!c && notReady) return { ready: false, detail: describeCondition(notReady) };
    if (!c) return { ready: false, detail: 'no Ready condition yet (the Strimzi operator has not reconciled it)' };
    return { ready: c.status === 'True' && observedCurrent(object), detail: describeCondition(c) };
  }
  return { ready: true, detail: 'exists' };
}
