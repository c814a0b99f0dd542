/**
 * Names of in-cluster Services as the mesh and DNS use them. A short name is relative to the
 * namespace of the object that uses it (Istio resolves a VirtualService or DestinationRule host
 * `reviews` in namespace `shop` to `reviews.shop.svc.cluster.local`, as DNS search paths do).
 */

export interface ServiceName {
  readonly name: string;
  readonly namespace: string;
}

export function serviceFqdn(name: string, namespace: string): string {
  return `${name}.${namespace}.svc.cluster.local`;
}

/**
 * The Service a host names, seen from `fromNamespace`: "order", "order.shop", "order.shop.svc"
 * or "order.shop.svc.cluster.local"; undefined for wildcards and names outside the cluster.
 */
export function serviceOfHost(host: string | undefined, fromNamespace: string): ServiceName | undefined {
  if (!host || host.includes('*')) return undefined;
  const parts = host
    .replace(/\.svc\.cluster\.local$/, '')
    .replace(/\.svc$/, '')
    .split('.');
  if (parts.length > 2 || !parts[0]) return undefined;
  return { name: parts[0], namespace: parts[1] ?? fromNamespace };
}

/** host:port pairs of in-cluster endpoints named in an env value (URLs or comma-separated host:port lists). */
export function endpointsIn(value: string): { host: string; port: number }[] {
  const found: { host: string; port: number }[] = [];
  const pattern = /(?:^|[/@,])([a-z0-9-]+(?:\.[a-z0-9-]+)*\.svc(?:\.cluster\.local)?):(\d+)/g;
  for (const match of value.matchAll(pattern)) found.push({ host: match[1]!, port: Number(match[2]) });
  return found;
}
