/**
 * A container's environment as the kubelet builds it from the pod spec: service links
 * (enableServiceLinks), `envFrom`, then `env` in order with `valueFrom` (secretKeyRef,
 * configMapKeyRef, fieldRef, resourceFieldRef) and `$(VAR)` expansion against what is
 * already defined (`$$(VAR)` stays literal), exactly as Kubernetes expands it.
 */
import type { KubeObject } from '../../infra/kube-client.js';

export interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: {
    readonly secretKeyRef?: { readonly name: string; readonly key: string; readonly optional?: boolean };
    readonly configMapKeyRef?: { readonly name: string; readonly key: string; readonly optional?: boolean };
    readonly fieldRef?: { readonly fieldPath: string };
    readonly resourceFieldRef?: { readonly resource: string; readonly divisor?: string };
  };
}

export interface ContainerSpec {
  readonly name: string;
  readonly image: string;
  readonly command?: readonly string[];
  readonly args?: readonly string[];
  readonly workingDir?: string;
  readonly env?: readonly EnvVar[];
  readonly envFrom?: readonly { readonly prefix?: string; readonly secretRef?: { name: string }; readonly configMapRef?: { name: string } }[];
  readonly ports?: readonly { readonly containerPort: number; readonly name?: string; readonly protocol?: string }[];
  readonly resources?: { readonly limits?: Record<string, string>; readonly requests?: Record<string, string> };
  readonly [key: string]: unknown;
}

/** Reads Secrets and ConfigMaps of the pod's namespace (from the apiserver, as the kubelet does). */
export interface EnvSources {
  secret(namespace: string, name: string): Promise<KubeObject | undefined>;
  configMap(namespace: string, name: string): Promise<KubeObject | undefined>;
  /** ClusterIP Services of the namespace, for service-link variables. */
  services(namespace: string): Promise<KubeObject[]>;
}

/** Expands `$(VAR)` from `defined`; `$$(VAR)` becomes `$(VAR)`; an unknown reference stays as written. */
export function expand(value: string, defined: Readonly<Record<string, string>>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => {
    if (whole === '$$') return '$';
    return name !== undefined && Object.hasOwn(defined, name) ? defined[name]! : whole;
  });
}

function fieldValue(pod: KubeObject, path: string): string {
  const meta = pod.metadata as { name: string; namespace?: string; uid?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  const spec = (pod.spec ?? {}) as { nodeName?: string; serviceAccountName?: string };
  const status = (pod.status ?? {}) as { podIP?: string; hostIP?: string; podIPs?: { ip: string }[] };
  const keyed = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (keyed) return (keyed[1] === 'labels' ? meta.labels : meta.annotations)?.[keyed[2]!] ?? '';
  const fields: Record<string, string | undefined> = {
    'metadata.name': meta.name,
    'metadata.namespace': meta.namespace,
    'metadata.uid': meta.uid,
    'spec.nodeName': spec.nodeName,
    'spec.serviceAccountName': spec.serviceAccountName,
    'status.podIP': status.podIP,
    'status.podIPs': status.podIPs?.map((p) => p.ip).join(','),
    'status.hostIP': status.hostIP,
    'status.hostIPs': status.hostIP,
  };
  if (!(path in fields)) throw new Error(`fieldRef ${path} is not supported by the local kubelet`);
  return fields[path] ?? '';
}

const quantityUnits: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, k: 1e3, M: 1e6, G: 1e9, m: 1e-3, '': 1 };

function quantity(text: string): number {
  const match = /^([0-9.]+)([A-Za-z]*)$/.exec(text);
  if (!match || !(match[2]! in quantityUnits)) throw new Error(`cannot read the quantity '${text}'`);
  return Number(match[1]) * quantityUnits[match[2]!]!;
}

function resourceValue(container: ContainerSpec, resource: string, divisor = '1'): string {
  const [kind, name] = resource.split('.') as [string, string];
  const value = kind === 'limits' ? container.resources?.limits?.[name] : container.resources?.requests?.[name];
  // No limit: the node's allocatable, as the kubelet answers; 2 cores and the machine's memory here.
  const fallback = name === 'cpu' ? '2' : String(24 * 2 ** 30);
  return String(Math.ceil(quantity(value ?? fallback) / quantity(divisor)));
}

function decode(object: KubeObject | undefined, key: string, kind: 'Secret' | 'ConfigMap'): string | undefined {
  if (!object) return undefined;
  if (kind === 'ConfigMap') return (object.data as Record<string, string> | undefined)?.[key];
  const data = (object.data as Record<string, string> | undefined)?.[key];
  return data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8');
}

/** Service-link variables (`USER_SERVICE_HOST`, `USER_PORT_8080_TCP_ADDR`...) for the namespace's ClusterIP Services. */
export function serviceLinks(services: readonly KubeObject[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const service of services) {
    const spec = service.spec as { clusterIP?: string; ports?: { name?: string; port: number; protocol?: string }[] };
    if (!spec.clusterIP || spec.clusterIP === 'None' || !spec.ports?.length) continue;
    const prefix = service.metadata.name.toUpperCase().replace(/-/g, '_');
    const first = spec.ports[0]!;
    env[`${prefix}_SERVICE_HOST`] = spec.clusterIP;
    env[`${prefix}_SERVICE_PORT`] = String(first.port);
    env[`${prefix}_PORT`] = `${(first.protocol ?? 'TCP').toLowerCase()}://${spec.clusterIP}:${first.port}`;
    for (const port of spec.ports) {
      const proto = port.protocol ?? 'TCP';
      if (port.name) env[`${prefix}_SERVICE_PORT_${port.name.toUpperCase().replace(/-/g, '_')}`] = String(port.port);
      const base = `${prefix}_PORT_${port.port}_${proto}`;
      env[base] = `${proto.toLowerCase()}://${spec.clusterIP}:${port.port}`;
      env[`${base}_PROTO`] = proto.toLowerCase();
      env[`${base}_PORT`] = String(port.port);
      env[`${base}_ADDR`] = spec.clusterIP;
    }
  }
  return env;
}

/** The environment the kubelet gives `container` of `pod` (the pod must carry its status.podIP). */
export async function containerEnv(pod: KubeObject, container: ContainerSpec, sources: EnvSources): Promise<Record<string, string>> {
  const namespace = pod.metadata.namespace ?? 'default';
  const podSpec = (pod.spec ?? {}) as { enableServiceLinks?: boolean };
  const env: Record<string, string> = podSpec.enableServiceLinks === false ? {} : serviceLinks(await sources.services(namespace));
  for (const from of container.envFrom ?? []) {
    const ref = from.secretRef ?? from.configMapRef;
    if (!ref) continue;
    const object = from.secretRef ? await sources.secret(namespace, ref.name) : await sources.configMap(namespace, ref.name);
    if (!object) throw new Error(`envFrom: ${from.secretRef ? 'Secret' : 'ConfigMap'} ${namespace}/${ref.name} not found`);
    for (const key of Object.keys((object.data as Record<string, string> | undefined) ?? {})) {
      env[`${from.prefix ?? ''}${key}`] = decode(object, key, from.secretRef ? 'Secret' : 'ConfigMap')!;
    }
  }
  for (const variable of container.env ?? []) {
    if (variable.valueFrom === undefined) {
      env[variable.name] = expand(variable.value ?? '', env);
      continue;
    }
    const from = variable.valueFrom;
    if (from.secretKeyRef || from.configMapKeyRef) {
      const ref = (from.secretKeyRef ?? from.configMapKeyRef)!;
      const kind = from.secretKeyRef ? 'Secret' : 'ConfigMap';
      const object = kind === 'Secret' ? await sources.secret(namespace, ref.name) : await sources.configMap(namespace, ref.name);
      const value = decode(object, ref.key, kind);
      if (value === undefined) {
        if (ref.optional) continue;
        throw new Error(`${variable.name}: ${kind} ${namespace}/${ref.name} ${object ? `has no key '${ref.key}'` : 'not found'}`);
      }
      env[variable.name] = value;
    } else if (from.fieldRef) {
      env[variable.name] = fieldValue(pod, from.fieldRef.fieldPath);
    } else if (from.resourceFieldRef) {
      env[variable.name] = resourceValue(container, from.resourceFieldRef.resource, from.resourceFieldRef.divisor);
    }
  }
  return env;
}
