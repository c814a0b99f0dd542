/**
 * kube-proxy's job for one pod: a connection to a Service's ClusterIP and port is DNATed to
 * one of its ready endpoints (chosen at random with equal weight, as kube-proxy's iptables
 * mode does), and refused with a TCP reset when there is none. kube-proxy does this in the
 * node's namespace; here every pod has its own, so the rules live in each pod's namespace,
 * in the nat OUTPUT chain after Istio's ISTIO_OUTPUT when the pod has a sidecar: the app's
 * traffic is redirected to Envoy first, as in a cluster, and only Envoy's own connections
 * (uid 1337, returned by ISTIO_OUTPUT) and unmeshed pods' reach these rules.
 */

/** One port of a ClusterIP Service with the addresses of its ready endpoints. */
export interface ServicePortEndpoints {
  readonly clusterIp: string;
  readonly port: number;
  readonly protocol: 'TCP' | 'UDP' | 'SCTP';
  /** `ip:targetPort` of each ready endpoint. */
  readonly endpoints: readonly string[];
}

export const natChain = 'MK-SERVICES';
export const filterChain = 'MK-SERVICES-REJECT';

/** Input for `iptables-restore --noflush`: both chains declared (so replaced whole) and filled. */
export function serviceRules(ports: readonly ServicePortEndpoints[]): string {
  const nat = [`*nat`, `:${natChain} - [0:0]`];
  const filter = [`*filter`, `:${filterChain} - [0:0]`];
  for (const p of ports) {
    const proto = p.protocol.toLowerCase();
    const match = `-d ${p.clusterIp}/32 -p ${proto} -m ${proto} --dport ${p.port}`;
    if (p.endpoints.length === 0) {
      if (proto === 'tcp') filter.push(`-A ${filterChain} ${match} -j REJECT --reject-with tcp-reset`);
      else filter.push(`-A ${filterChain} ${match} -j REJECT`);
      continue;
    }
    p.endpoints.forEach((endpoint, i) => {
      const left = p.endpoints.length - i;
      const pick = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(5)}` : '';
      nat.push(`-A ${natChain} ${match}${pick} -j DNAT --to-destination ${endpoint}`);
    });
  }
  return `${[...nat, 'COMMIT', ...filter, 'COMMIT'].join('\n')}\n`;
}

/** The jumps into the two chains, appended once per pod (after Istio's own rules when it has a sidecar). */
export function serviceJumps(): string {
  return [`*nat`, `-A OUTPUT -j ${natChain}`, 'COMMIT', `*filter`, `-A OUTPUT -j ${filterChain}`, 'COMMIT', ''].join('\n');
}
