import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from './cluster-api.js';

/**
 * Apply order within one phase: definitions before what uses them, identities and
 * Services before workloads, mesh and network policy before the pods they govern, and
 * DestinationRules before VirtualServices (a route must never name a subset its
 * DestinationRule does not define yet: Istio's make-before-break rule). Strimzi node
 * pools before the Kafka that uses them. Kinds not listed go after the listed
 * configuration and before workloads.
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

/** Objects in apply order; objects of one kind keep their input order (stable sort). */
export function orderForApply<T extends Pick<KubeObject, 'kind'>>(objects: readonly T[]): T[] {
  return objects
    .map((object, index) => ({ object, index }))
    .sort((a, b) => rank(a.object.kind) - rank(b.object.kind) || a.index - b.index)
    .map((e) => e.object);
}

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

export function inPhase(objects: readonly KubeObject[], phase: Phase): KubeObject[] {
  return orderForApply(objects.filter((o) => phaseOf(o) === phase));
}

/** Parses multi-document YAML, dropping empty documents (a trailing `---`, Helm's `...` end markers). */
export function parseObjects(text: string, source: string): KubeObject[] {
  return parseAllDocuments(text).flatMap((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${source}: document ${i + 1}: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as KubeObject | null;
    if (value === null || value === undefined) return [];
    if (typeof value !== 'object' || !value.apiVersion || !value.kind || !value.metadata?.name) {
      throw new Error(`${source}: document ${i + 1} is not a Kubernetes object (apiVersion, kind and metadata.name are required)`);
    }
    return [value];
  });
}

/** The synthesized manifests (`make synth` writes dist/*.k8s.yaml), in file order. */
export function loadDist(repoRoot: string): KubeObject[] {
  const dist = join(repoRoot, 'dist');
  const files = existsSync(dist)
    ? readdirSync(dist)
        .filter((f) => f.endsWith('.k8s.yaml'))
        .sort()
    : [];
  if (files.length === 0) throw new Error(`no synthesized manifests in ${dist}: run \`make synth\` (\`make up\` and \`make apply\` do it first)`);
  return files.flatMap((file) => parseObjects(readFileSync(join(dist, file), 'utf8'), `dist/${file}`));
}
