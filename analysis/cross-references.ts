/**
 * Cross-reference checks over synthesized manifests: everything one object
 * names by host, label, port or Secret must exist among the others. These are
 * the mistakes the API server accepts and the cluster only shows at run time
 * (503 NR, pods stuck in CreateContainerConfigError, empty endpoints).
 */

import { endpointsIn, serviceOfHost } from '../manifests/hosts.js';
import type { KubeObject } from '../manifests/kube-object.js';
import { selects } from '../manifests/selectors.js';
import { isWorkload, podLabelsOf } from '../manifests/workloads.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are untyped JSON by nature */

export interface ExternalSecret {
  readonly name: string;
  readonly namespace: string;
  readonly keys: readonly string[];
}

export interface CrossReferenceOptions {
  /** Secrets created at deploy time rather than synthesized. */
  readonly externalSecrets?: readonly ExternalSecret[];
  /** Namespace for objects that declare none. */
  readonly defaultNamespace?: string;
}

interface ServiceInfo {
  namespace: string;
  name: string;
  ports: { port: number; name?: string; targetPort?: number | string }[];
  selector?: Record<string, string>;
  /** Created by an operator from a custom resource (not synthesized), e.g. Strimzi's bootstrap Service. */
  derivedFrom?: string;
}

interface PodTemplate {
  owner: string;
  namespace: string;
  labels: Record<string, string>;
  containers: any[];
}

export function checkCrossReferences(objects: readonly KubeObject[], options: CrossReferenceOptions = {}): string[] {
  const defaultNs = options.defaultNamespace ?? 'default';
  const ns = (o: KubeObject) => o.metadata.namespace ?? defaultNs;
  const id = (o: KubeObject) => `${o.kind} ${ns(o)}/${o.metadata.name}`;
  const problems: string[] = [];

  const services = new Map<string, ServiceInfo>();
  for (const o of objects) {
    if (o.kind === 'Service' && o.apiVersion === 'v1') {
      services.set(`${ns(o)}/${o.metadata.name}`, { namespace: ns(o), name: o.metadata.name, ports: o.spec?.ports ?? [], selector: o.spec?.selector });
    }
    // Strimzi creates `<cluster>-kafka-bootstrap` with one port per listener.
    if (o.kind === 'Kafka' && o.apiVersion.startsWith('kafka.strimzi.io/')) {
      const listeners: any[] = o.spec?.kafka?.listeners ?? [];
      services.set(`${ns(o)}/${o.metadata.name}-kafka-bootstrap`, {
        namespace: ns(o),
        name: `${o.metadata.name}-kafka-bootstrap`,
        ports: listeners.map((l) => ({ port: l.port, name: l.name })),
        derivedFrom: id(o),
      });
    }
  }

  const pods: PodTemplate[] = objects
    .filter(isWorkload)
    .map((o) => ({ owner: id(o), namespace: ns(o), labels: podLabelsOf(o), containers: o.spec?.template?.spec?.containers ?? [] }));
  const podsOf = (svc: ServiceInfo) => (svc.selector ? pods.filter((p) => p.namespace === svc.namespace && selects(svc.selector!, p.labels)) : []);

  const resolveHost = (host: string, fromNs: string): ServiceInfo | undefined => {
    const named = serviceOfHost(host, fromNs);
    return named && services.get(`${named.namespace}/${named.name}`);
  };
  const subsetExists = (svc: ServiceInfo, subset: string) =>
    objects.some(
      (o) => o.kind === 'DestinationRule' && resolveHost(o.spec?.host ?? '', ns(o)) === svc && (o.spec?.subsets ?? []).some((s: any) => s.name === subset),
    );

  for (const svc of services.values()) {
    if (svc.derivedFrom || !svc.selector) continue;
    const matched = podsOf(svc);
    if (matched.length === 0) {
      problems.push(`Service ${svc.namespace}/${svc.name}: selector ${JSON.stringify(svc.selector)} matches no pod template`);
      continue;
    }
    for (const port of svc.ports) {
      const target = port.targetPort ?? port.port;
      const found = matched.every((p) =>
        p.containers.some((c) => (c.ports ?? []).some((cp: any) => (typeof target === 'number' ? cp.containerPort === target : cp.name === target))),
      );
      if (!found)
        problems.push(
          `Service ${svc.namespace}/${svc.name}: targetPort ${target} (port ${port.name ?? port.port}) is not a container port of every selected pod`,
        );
    }
  }

  for (const o of objects) {
    if (o.kind === 'VirtualService') {
      for (const host of o.spec?.hosts ?? []) {
        if (!resolveHost(host, ns(o)) && !(o.spec?.gateways ?? []).length) problems.push(`${id(o)}: host ${host} resolves to no Service`);
      }
      for (const route of o.spec?.http ?? []) {
        for (const dest of route.route ?? []) {
          const svc = resolveHost(dest.destination.host, ns(o));
          if (!svc) {
            problems.push(`${id(o)}: route '${route.name ?? '?'}' sends to ${dest.destination.host}, which resolves to no Service`);
            continue;
          }
          const portNumber = dest.destination.port?.number;
          if (portNumber !== undefined && !svc.ports.some((p) => p.port === portNumber)) {
            problems.push(`${id(o)}: route '${route.name ?? '?'}' sends to port ${portNumber}, which Service ${svc.namespace}/${svc.name} does not expose`);
          }
          if (dest.destination.subset && !subsetExists(svc, dest.destination.subset)) {
            problems.push(
              `${id(o)}: route '${route.name ?? '?'}' sends to subset ${dest.destination.subset}, which no DestinationRule for ${dest.destination.host} defines`,
            );
          }
        }
      }
    }
    if (o.kind === 'DestinationRule') {
      const svc = resolveHost(o.spec?.host ?? '', ns(o));
      if (!svc) {
        problems.push(`${id(o)}: host ${o.spec?.host} resolves to no Service`);
        continue;
      }
      for (const subset of o.spec?.subsets ?? []) {
        const labels = { ...(svc.selector ?? {}), ...(subset.labels ?? {}) };
        if (!pods.some((p) => p.namespace === svc.namespace && selects(labels, p.labels))) {
          problems.push(`${id(o)}: subset ${subset.name} (${JSON.stringify(subset.labels)}) selects no pod of Service ${svc.namespace}/${svc.name}`);
        }
      }
    }
  }

  const secrets = new Map<string, Set<string>>();
  const configMaps = new Map<string, Set<string>>();
  for (const o of objects) {
    if (o.kind === 'Secret')
      secrets.set(`${ns(o)}/${o.metadata.name}`, new Set([...Object.keys((o as any).data ?? {}), ...Object.keys((o as any).stringData ?? {})]));
    if (o.kind === 'ConfigMap') configMaps.set(`${ns(o)}/${o.metadata.name}`, new Set(Object.keys((o as any).data ?? {})));
  }
  for (const s of options.externalSecrets ?? []) secrets.set(`${s.namespace}/${s.name}`, new Set(s.keys));

  for (const pod of pods) {
    for (const container of pod.containers) {
      for (const env of container.env ?? []) {
        const secretRef = env.valueFrom?.secretKeyRef;
        const configRef = env.valueFrom?.configMapKeyRef;
        for (const [ref, store, what] of [
          [secretRef, secrets, 'Secret'],
          [configRef, configMaps, 'ConfigMap'],
        ] as const) {
          if (!ref || ref.optional) continue;
          const keys = store.get(`${pod.namespace}/${ref.name}`);
          if (!keys)
            problems.push(`${pod.owner}: env ${env.name} reads ${what} ${pod.namespace}/${ref.name}, which is neither synthesized nor declared external`);
          else if (!keys.has(ref.key))
            problems.push(`${pod.owner}: env ${env.name} reads key ${ref.key} that ${what} ${pod.namespace}/${ref.name} does not hold`);
        }
        if (typeof env.value === 'string') {
          for (const { host, port } of endpointsIn(env.value)) {
            const svc = resolveHost(host, pod.namespace);
            if (!svc) problems.push(`${pod.owner}: env ${env.name} points at ${host}:${port}, which resolves to no Service`);
            else if (!svc.ports.some((p) => p.port === port))
              problems.push(`${pod.owner}: env ${env.name} points at port ${port}, which Service ${svc.namespace}/${svc.name} does not expose`);
          }
        }
      }
    }
  }
  return problems;
}
