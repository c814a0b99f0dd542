/**
 * dist/ applied for real, as `make up` applies it: Namespaces, then the Strimzi resources,
 * then the shop, each phase in deploy order (manifests/deploy-order.ts), with the database
 * Secrets the manifests reference but never contain created first, like `make up` does
 * (cli/secrets.ts, random passwords, never overwritten).
 */
import { inPhase, type Phase } from '../../cli/manifests.js';
import { ensureSecrets } from '../../cli/secrets.js';
import { kubeClusterApi } from '../../cli/cluster-api.js';
import type { ExternalSecretRef } from '../../constructs/postgres-database.js';
import { repoRoot } from '../../infra/cache.js';
import type { KubeClient, KubeObject } from '../../infra/kube-client.js';
import { loadDist } from '../../manifests/parse.js';

const phases: readonly Phase[] = ['namespaces', 'kafka', 'shop'];

/** The synthesized manifests in dist/ (`make synth`). */
export function synthesizedManifests(): KubeObject[] {
  return loadDist(repoRoot);
}

/** The namespaces the objects live in (declared or used), sorted. */
export function namespacesOf(objects: readonly KubeObject[]): string[] {
  const names = new Set<string>();
  for (const o of objects) {
    if (o.apiVersion === 'v1' && o.kind === 'Namespace') names.add(o.metadata.name);
    else if (o.metadata.namespace) names.add(o.metadata.namespace);
  }
  return [...names].sort();
}

/** Applies `objects` server-side, phase by phase in deploy order; returns what was applied, in order. */
export async function applyManifests(kube: KubeClient, objects: readonly KubeObject[], secrets: readonly ExternalSecretRef[]): Promise<KubeObject[]> {
  const applied: KubeObject[] = [];
  for (const namespace of namespacesOf(objects)) {
    if (objects.some((o) => o.kind === 'Namespace' && o.metadata.name === namespace)) continue;
    if (!(await kube.get('v1', 'Namespace', namespace))) await kube.applyServerSide([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }]);
  }
  for (const phase of phases) {
    const ordered = inPhase([...objects], phase);
    if (phase === 'shop' && secrets.length > 0) await ensureSecrets(kubeClusterApi(kube), secrets);
    applied.push(...(await kube.applyServerSide(ordered)));
  }
  return applied;
}
