/**
 * Service names resolving inside pods as cluster DNS answers them, without a DNS server:
 * each pod gets /etc/netns/<its namespace>/hosts and resolv.conf, which `ip netns exec`
 * bind-mounts over /etc/hosts and /etc/resolv.conf for every process it starts in the pod.
 * glibc applies search domains to DNS queries only, not to /etc/hosts, so the short forms a
 * search path would complete (`user`, `user.shop`, `user.shop.svc`) are written out too.
 */

/** One name the cluster DNS would answer: a Service (its ClusterIP, or for a headless one its ready pods) or a pod of a headless Service. */
export interface DnsRecord {
  /** Service name, or `<hostname>.<subdomain>` for a pod of a headless Service. */
  readonly name: string;
  readonly namespace: string;
  readonly ips: readonly string[];
}

export const clusterDomain = 'cluster.local';

/** The names of a record as seen from a pod in `fromNamespace`, fully qualified first. */
export function namesOf(record: DnsRecord, fromNamespace: string): string[] {
  const fqdn = `${record.name}.${record.namespace}.svc.${clusterDomain}`;
  const names = [fqdn, `${record.name}.${record.namespace}.svc`, `${record.name}.${record.namespace}`];
  if (record.namespace === fromNamespace) names.push(record.name);
  return names;
}

/** The pod's /etc/hosts: localhost, its own name, then every record with an address. */
export function hostsFile(pod: { readonly name: string; readonly namespace: string; readonly ip: string }, records: readonly DnsRecord[]): string {
  const lines = [
    '# written by meshkit local/mesh: cluster DNS for this pod',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    `${pod.ip}\t${pod.name}`,
  ];
  for (const record of [...records].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`))) {
    for (const ip of record.ips) lines.push(`${ip}\t${namesOf(record, pod.namespace).join(' ')}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The pod's /etc/resolv.conf: the search path and ndots of a ClusterFirst pod. No DNS server
 * listens in the pod, so a name that is not in its hosts file fails at once (connection refused).
 */
export function resolvConf(namespace: string): string {
  return [
    '# written by meshkit local/mesh: names resolve from /etc/hosts; nothing listens on the nameserver',
    'nameserver 127.0.0.1',
    `search ${namespace}.svc.${clusterDomain} svc.${clusterDomain} ${clusterDomain}`,
    'options ndots:5 attempts:1 timeout:1',
    '',
  ].join('\n');
}
