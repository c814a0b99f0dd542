import { versions } from '../constructs/versions.js';
import type { ClusterApi } from './cluster-api.js';
import { settings } from './context.js';
import type { Probe } from './plan.js';
import { readiness, type Ref } from './readiness.js';
import { mustRun, type CommandRunner } from './runner.js';

export const operatorRef: Ref = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'strimzi-cluster-operator', namespace: settings.strimziNamespace };

/** The Strimzi CRDs the platform's manifests use; Kafka resources may be applied only once these are Established. */
export const strimziCrdRefs: Ref[] = ['kafkas', 'kafkanodepools', 'kafkatopics'].map((plural) => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  name: `${plural}.kafka.strimzi.io`,
}));

export const chartVersionLabel = `strimzi-kafka-operator-${versions.strimzi}`;

export interface HelmRelease {
  name: string;
  status?: string;
  chart?: string;
}

export function helmListArgs(kubeconfig: string): string[] {
  return ['list', '--kubeconfig', kubeconfig, '--namespace', settings.strimziNamespace, '--filter', `^${settings.strimziRelease}$`, '--output', 'json'];
}

/**
 * `helm upgrade --install` converges both a fresh install and a version change. No
 * `--wait`: the CLI waits itself, so a timeout ends in a diagnosis instead of Helm's
 * "context deadline exceeded". The operator runs in the namespace it watches (the chart's
 * default), so it needs no RoleBindings elsewhere.
 */
export function helmInstallArgs(kubeconfig: string): string[] {
  return [
    'upgrade',
    '--install',
    settings.strimziRelease,
    settings.strimziChart,
    '--version',
    versions.strimzi,
    '--namespace',
    settings.strimziNamespace,
    '--kubeconfig',
    kubeconfig,
  ];
}

export function helmShowCrdsArgs(): string[] {
  return ['show', 'crds', settings.strimziChart, '--version', versions.strimzi];
}

export async function strimziRelease(runner: CommandRunner, kubeconfig: string): Promise<HelmRelease | undefined> {
  const out = await mustRun(runner, 'helm', helmListArgs(kubeconfig));
  const releases = JSON.parse(out.trim() || '[]') as HelmRelease[];
  return releases.find((r) => r.name === settings.strimziRelease);
}

export async function probeStrimzi(runner: CommandRunner, api: ClusterApi, kubeconfig: string): Promise<Probe> {
  const release = await strimziRelease(runner, kubeconfig);
  if (!release) return { done: false, detail: 'Strimzi is not installed' };
  if (release.chart !== chartVersionLabel || release.status !== 'deployed') {
    return { done: false, detail: `Helm release ${release.name} is ${release.chart ?? '?'} (${release.status ?? '?'}), pinned is ${chartVersionLabel}` };
  }
  for (const ref of [operatorRef, ...strimziCrdRefs]) {
    const r = readiness(await api.get(ref.apiVersion, ref.kind, ref.name, ref.namespace));
    if (!r.ready) return { done: false, detail: `${chartVersionLabel} deployed, ${ref.name} not ready (${r.detail})` };
  }
  return { done: true, detail: `${chartVersionLabel} deployed, operator ready, CRDs Established` };
}
