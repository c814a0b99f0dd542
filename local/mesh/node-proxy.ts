/**
 * The node's view of Services, pushed into every pod: cluster DNS (hosts and resolv.conf,
 * cluster-dns.ts) and kube-proxy's ClusterIP rules (service-proxy.ts), both computed from the
 * Services and EndpointSlices in the apiserver, as CoreDNS and kube-proxy read them.
 */
import type { KubeClient, KubeObject } from '../../infra/kube-client.js';
import { hostsFile, resolvConf, type DnsRecord } from './cluster-dns.js';
import type { PodNetwork } from './pod-network.js';
import { serviceJumps, serviceRules, type ServicePortEndpoints } from './service-proxy.js';

interface Slice {
  endpoints?: { addresses: string[]; conditions?: { ready?: boolean }; hostname?: string }[];
  ports?: { name?: string; port?: number; protocol?: string }[];
}

/** What the Services and EndpointSlices of the cluster mean for DNS and ClusterIP routing. */
export interface ServiceView {
  readonly records: DnsRecord[];
  readonly ports: ServicePortEndpoints[];
}

/** Reads every Service and EndpointSlice (all namespaces) and derives the DNS records and ClusterIP rules. */
export async function readServiceView(kube: KubeClient): Promise<ServiceView> {
  const services = await kube.list('v1', 'Service');
  const slices = await kube.list('discovery.k8s.io/v1', 'EndpointSlice');
  const records: DnsRecord[] = [];
  const ports: ServicePortEndpoints[] = [];
  for (const service of services) {
    const spec = service.spec as { clusterIP?: string; ports?: { name?: string; port: number; protocol?: string }[] };
    const namespace = service.metadata.namespace ?? 'default';
    const own = slices.filter(
      (s) =>
        s.metadata.namespace === namespace &&
        (s.metadata.labels as Record<string, string> | undefined)?.['kubernetes.io/service-name'] === service.metadata.name,
    ) as (KubeObject & Slice)[];
    const ready = own.flatMap((s) => (s.endpoints ?? []).filter((e) => e.conditions?.ready !== false));
    const headless = !spec.clusterIP || spec.clusterIP === 'None';
    records.push({ name: service.metadata.name, namespace, ips: headless ? ready.flatMap((e) => e.addresses) : [spec.clusterIP!] });
    for (const endpoint of ready) {
      if (headless && endpoint.hostname) records.push({ name: `${endpoint.hostname}.${service.metadata.name}`, namespace, ips: endpoint.addresses });
    }
    if (headless) continue;
    for (const port of spec.ports ?? []) {
      const protocol = (port.protocol ?? 'TCP') as ServicePortEndpoints['protocol'];
      const endpoints = own.flatMap((s) => {
        const target = (s.ports ?? []).find((p) => (p.name ?? '') === (port.name ?? '') && (p.protocol ?? 'TCP') === protocol)?.port;
        if (target === undefined) return [];
        return (s.endpoints ?? []).filter((e) => e.conditions?.ready !== false).flatMap((e) => e.addresses.map((a) => `${a}:${target}`));
      });
      ports.push({ clusterIp: spec.clusterIP!, port: port.port, protocol, endpoints });
    }
  }
  return { records, ports };
}

/** Keeps each pod's hosts, resolv.conf and ClusterIP rules in line with the latest ServiceView. */
export class NodeProxy {
  private readonly applied = new Map<string, string>();
  private view: ServiceView = { records: [], ports: [] };

  constructor(
    private readonly kube: KubeClient,
    private readonly network: PodNetwork,
  ) {}

  /** Re-reads Services and EndpointSlices and updates every pod whose files or rules changed. */
  async refresh(pods: readonly { readonly name: string; readonly namespace: string; readonly ip: string }[]): Promise<void> {
    this.view = await readServiceView(this.kube);
    for (const pod of pods) await this.writePod(pod);
  }

  /** Writes one pod's files and rules from the current view (before its first process starts). */
  async writePod(pod: { readonly name: string; readonly namespace: string; readonly ip: string }): Promise<void> {
    const hosts = hostsFile(pod, this.view.records);
    const rules = serviceRules(this.view.ports);
    if (this.applied.get(`${pod.name}/hosts`) !== hosts) {
      this.network.writeEtc(pod.name, 'hosts', hosts);
      this.network.writeEtc(pod.name, 'resolv.conf', resolvConf(pod.namespace));
      this.applied.set(`${pod.name}/hosts`, hosts);
    }
    if (this.applied.get(`${pod.name}/rules`) !== rules) {
      await this.network.exec(pod.name, 'iptables-restore', ['--noflush'], { input: rules });
      this.applied.set(`${pod.name}/rules`, rules);
    }
  }

  /** Sends the pod's nat and filter OUTPUT through the service chains (after a sidecar's own rules). */
  async enableServiceRules(podName: string): Promise<void> {
    await this.network.exec(podName, 'iptables-restore', ['--noflush'], { input: serviceJumps() });
  }

  /** Forgets a removed pod. */
  forget(podName: string): void {
    this.applied.delete(`${podName}/hosts`);
    this.applied.delete(`${podName}/rules`);
  }
}
