/**
 * Sums the resource requests of everything synthesized, including what the
 * manifests imply but do not spell out as containers: Istio sidecars (from the
 * injection annotations, or Istio's default) and the pods Strimzi creates from
 * its custom resources.
 */
import type { KubeObject } from '../manifests/kube-object.js';
import { isWorkload } from '../manifests/workloads.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are untyped JSON by nature */

export interface Requests {
  cpuMillis: number;
  memoryMiB: number;
}

export interface BudgetLine extends Requests {
  /** "Deployment shop/order (2 pods)" */
  readonly what: string;
}

/** Istio's sidecar requests when a pod sets no annotation (values.global.proxy.resources). */
const ISTIO_DEFAULT_SIDECAR: Requests = { cpuMillis: 100, memoryMiB: 128 };

export function parseCpuMillis(quantity: string | number | undefined): number {
  if (quantity === undefined) return 0;
  const text = String(quantity);
  return text.endsWith('m') ? Number(text.slice(0, -1)) : Math.round(Number(text) * 1000);
}

const MEMORY_UNITS: Record<string, number> = {
  Ki: 1 / 1024,
  Mi: 1,
  Gi: 1024,
  Ti: 1024 * 1024,
  k: 1000 / 1048576,
  M: 1e6 / 1048576,
  G: 1e9 / 1048576,
};

export function parseMemoryMiB(quantity: string | number | undefined): number {
  if (quantity === undefined) return 0;
  const match = /^(\d+(?:\.\d+)?)([KMGT]i|[kMG])?$/.exec(String(quantity));
  if (!match) throw new Error(`cannot parse memory quantity '${quantity}'`);
  const unit = match[2];
  return unit ? Number(match[1]) * MEMORY_UNITS[unit]! : Number(match[1]) / 1048576;
}

function requestsOf(resources: any): Requests {
  return { cpuMillis: parseCpuMillis(resources?.requests?.cpu), memoryMiB: parseMemoryMiB(resources?.requests?.memory) };
}

function add(a: Requests, b: Requests, times = 1): Requests {
  return { cpuMillis: a.cpuMillis + b.cpuMillis * times, memoryMiB: a.memoryMiB + b.memoryMiB * times };
}

export function budgetLines(objects: readonly KubeObject[], injectedNamespaces: readonly string[]): BudgetLine[] {
  const lines: BudgetLine[] = [];
  for (const o of objects) {
    const where = `${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;
    if (isWorkload(o)) {
      const replicas = o.spec?.replicas ?? 1;
      const pod = o.spec?.template;
      let perPod: Requests = { cpuMillis: 0, memoryMiB: 0 };
      for (const c of [...(pod?.spec?.containers ?? []), ...(pod?.spec?.initContainers ?? [])]) perPod = add(perPod, requestsOf(c.resources));
      const annotations: Record<string, string> = pod?.metadata?.annotations ?? {};
      const injected = injectedNamespaces.includes(o.metadata.namespace ?? 'default') && annotations['sidecar.istio.io/inject'] !== 'false';
      if (injected) {
        perPod = add(perPod, {
          cpuMillis: annotations['sidecar.istio.io/proxyCPU'] ? parseCpuMillis(annotations['sidecar.istio.io/proxyCPU']) : ISTIO_DEFAULT_SIDECAR.cpuMillis,
          memoryMiB: annotations['sidecar.istio.io/proxyMemory']
            ? parseMemoryMiB(annotations['sidecar.istio.io/proxyMemory'])
            : ISTIO_DEFAULT_SIDECAR.memoryMiB,
        });
      }
      lines.push({
        what: `${o.kind} ${where} (${replicas} pod${replicas === 1 ? '' : 's'}${injected ? ', with sidecar' : ''})`,
        ...add({ cpuMillis: 0, memoryMiB: 0 }, perPod, replicas),
      });
    }
    if (o.kind === 'KafkaNodePool') {
      const replicas = o.spec?.replicas ?? 1;
      lines.push({
        what: `KafkaNodePool ${where} (${replicas} broker pod${replicas === 1 ? '' : 's'})`,
        ...add({ cpuMillis: 0, memoryMiB: 0 }, requestsOf(o.spec?.resources), replicas),
      });
    }
    if (o.kind === 'Kafka') {
      const eo = o.spec?.entityOperator;
      if (eo) {
        const total = add(requestsOf(eo.topicOperator?.resources), requestsOf(eo.userOperator?.resources));
        lines.push({ what: `Kafka ${where} entity operator`, ...total });
      }
    }
  }
  return lines;
}

export function totalRequests(lines: readonly BudgetLine[]): Requests {
  return lines.reduce<Requests>((sum, line) => add(sum, line), { cpuMillis: 0, memoryMiB: 0 });
}
