import type { ServiceName } from '../../charts/platform.js';
import type { KubeObject } from '../../infra/kube-client.js';
import type { LocalPod } from '../../local/mesh/kubelet.js';
import type { MeshShop } from '../../local/mesh/mesh-shop.js';
import { inPodHttpScript } from '../cluster/kube.js';
import type { AppliedResources, ChaosEnvironment, Outage, ShopDeployment } from '../environment.js';
import { envoyStatsCollector, serviceMetricsCollector } from '../metrics/sources.js';
import { loadChaosResources } from '../synth.js';

/** What the chaos runner uses of a running mesh shop (local/mesh/mesh-shop.ts). */
export type MeshShopHandle = Pick<MeshShop, 'kube' | 'pods' | 'exec' | 'gatewayUrl'>;

export interface MeshEnvironmentOptions extends ShopDeployment {
  readonly shop: MeshShopHandle;
  /** psql of the PostgreSQL the database pods run (infra/postgres.ts's bindir). */
  readonly psql: string;
  /** How long the gateway may take to receive or drop an applied route from istiod. @default 20000 */
  readonly pushTimeoutMs?: number;
  readonly close?: () => Promise<void>;
}

const labelsOf = (pod: LocalPod) => (pod.object.metadata.labels as Record<string, string> | undefined) ?? {};
const byName = (a: LocalPod, b: LocalPod) => a.name.localeCompare(b.name);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The gateway pod of a mesh shop (its proxy runs as the pod's container, in router mode). */
export function meshGateway(pods: readonly LocalPod[]): LocalPod {
  const gateway = pods.find((p) => labelsOf(p).istio === 'ingressgateway' && p.proxy);
  if (!gateway) throw new Error('the mesh shop runs no ingress gateway pod (istio=ingressgateway)');
  return gateway;
}

/** Hosts of the VirtualServices among `objects` that bind to a gateway (the edge's routes). */
function edgeHosts(objects: readonly KubeObject[]): string[] {
  return objects
    .filter((o) => o.kind === 'VirtualService')
    .map((o) => o.spec as { hosts?: string[]; gateways?: string[] })
    .filter((spec) => (spec.gateways ?? []).some((g) => g !== 'mesh'))
    .flatMap((spec) => spec.hosts ?? []);
}

/**
 * The shop on the local mesh (startMeshShop): load through the ingress gateway pod (the
 * shop's loopback relay to it), the chaos switch and /metrics through a process run in the pod's network namespace
 * (as root, which the pod's interception rules exclude, as `kubectl exec` would be), Envoy
 * stats from the sidecars' and the gateway's admin API, fault resources applied to the
 * apiserver (istiod pushes them; the run waits until the gateway has them), a database or
 * the Kafka broker crashed by SIGKILL of its container's process (the kubelet restarts it).
 */
export function meshEnvironment(options: MeshEnvironmentOptions): ChaosEnvironment {
  const { shop, namespaces } = options;
  const gateway = meshGateway(shop.pods());
  // The loopback relay to the gateway pod (the load generator targets loopback only), as kind's port mapping is on a cluster.
  const baseUrl = shop.gatewayUrl;
  if (!baseUrl) throw new Error('the mesh shop runs without its ingress gateway (mesh: false): the chaos load goes through the gateway');
  const admin = (path: string) => `http://127.0.0.1:${options.adminPort}${path}`;

  const podsOf = (namespace: string, matches: (labels: Record<string, string>) => boolean) =>
    shop
      .pods()
      .filter((p) => p.namespace === namespace && matches(labelsOf(p)))
      .sort(byName);
  const servicePods = (service: ServiceName): LocalPod[] => {
    const pods = podsOf(namespaces.shop, (l) => l.app === service).filter((p) => p.ready);
    if (pods.length === 0) throw new Error(`no ready pod of ${service} runs on the mesh (namespace ${namespaces.shop})`);
    return pods;
  };
  const httpInPod = async (pod: string, method: string, url: string, body?: unknown): Promise<string> =>
    shop.exec(pod, process.execPath, ['-e', inPodHttpScript, method, url, ...(body === undefined ? [] : [JSON.stringify(body)])], { timeoutMs: 15_000 });
  const proxyOf = (name: string) => {
    const pod = shop.pods().find((p) => p.name === name);
    const proxy = pod?.sidecar ?? pod?.proxy;
    if (!proxy) throw new Error(`pod ${name} runs no Envoy (no sidecar, not a gateway)`);
    return proxy;
  };

  /** Waits until the gateway's routes carry (or no longer carry) every host; Envoy applies istiod's push asynchronously. */
  const awaitGatewayRoutes = async (hosts: readonly string[], present: boolean): Promise<string> => {
    if (hosts.length === 0) return '';
    const began = Date.now();
    const timeoutMs = options.pushTimeoutMs ?? 20_000;
    for (;;) {
      const routes = await proxyOf(meshGateway(shop.pods()).name).admin('/config_dump?resource=dynamic_route_configs');
      if (hosts.every((h) => routes.includes(`"${h}`) === present))
        return `; the gateway's Envoy ${present ? 'had' : 'dropped'} ${hosts.join(', ')} after ${Date.now() - began} ms`;
      if (Date.now() - began > timeoutMs)
        throw new Error(
          `the gateway's Envoy did not ${present ? 'receive' : 'drop'} routes for ${hosts.join(', ')} within ${timeoutMs / 1000}s (istiod: see its log)`,
        );
      await sleep(250);
    }
  };

  /** SIGKILL of every app container of the pods (not their sidecars): a crash; the kubelet restarts them with back-off. */
  const crash = (pods: readonly LocalPod[], what: string): Outage => {
    if (pods.length === 0) throw new Error(`no ${what} pod runs on the mesh`);
    const killed = pods.flatMap((pod) =>
      pod.containers
        .filter((c) => c.process && c.process.exited === undefined)
        .map((c) => {
          const pid = c.process!.pid;
          process.kill(pid, 'SIGKILL');
          return { pod: pod.name, container: c, pid, restarts: c.restartCount };
        }),
    );
    if (killed.length === 0) throw new Error(`the ${what} pod${pods.length > 1 ? 's have' : ' has'} no running container to kill`);
    return {
      description: `killed ${what}: ${killed.map((k) => `${k.pod}/${k.container.name} (pid ${k.pid})`).join(', ')} with SIGKILL; the kubelet restarts the container`,
      restore: async (timeoutMs) => {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const back = killed.every((k) => k.container.restartCount > k.restarts && k.container.ready && k.container.process?.exited === undefined);
          if (back)
            return `restarted and ready: ${killed.map((k) => `${k.pod}/${k.container.name} (pid ${k.container.process!.pid}, restart ${k.container.restartCount})`).join(', ')}`;
          if (Date.now() > deadline) {
            const state = killed.map(
              (k) => `${k.pod}/${k.container.name}: restarts ${k.container.restartCount}, ready ${k.container.ready}, last exit ${k.container.lastExit ?? '-'}`,
            );
            throw new Error(`${what} not back within ${Math.round(timeoutMs / 1000)}s: ${state.join('; ')}`);
          }
          await sleep(500);
        }
      },
    };
  };

  return {
    mode: 'mesh',
    baseUrl,
    description: `the local mesh (istiod, Envoy sidecars, ${shop.pods().length} pods in network namespaces) through the ingress gateway pod ${gateway.name} (${gateway.ip}) at ${baseUrl}`,
    orderSweep: options.orderSweep,
    instances: async (service) => servicePods(service).map((p) => p.name),
    setChaos: async (_service, pod, settings) => {
      await httpInPod(pod, 'POST', admin('/admin/chaos'), settings);
    },
    clearChaos: async (_service, pod) => {
      await httpInPod(pod, 'DELETE', admin('/admin/chaos'));
    },
    serviceMetrics: (service) =>
      serviceMetricsCollector(service, async () =>
        servicePods(service).map((pod) => ({ source: pod.name, read: () => httpInPod(pod.name, 'GET', admin('/metrics')) })),
      ),
    envoy: (from, to) =>
      envoyStatsCollector({
        name: `Envoy stats of ${from === 'gateway' ? 'the ingress gateway' : `${from}'s sidecars`} → ${to}`,
        upstream: { host: `${to}.${namespaces.shop}.svc.cluster.local`, port: options.servicePort(to) },
        proxies: async () => (from === 'gateway' ? [meshGateway(shop.pods()).name] : servicePods(from).map((p) => p.name)),
        stats: (pod) => proxyOf(pod).admin(`/stats?filter=${encodeURIComponent('^cluster\\.outbound\\|')}`),
      }),
    applyResources: async (name): Promise<AppliedResources> => {
      const { objects, names } = loadChaosResources(options.resourcesDir, name);
      await shop.kube.applyServerSide(objects);
      const hosts = edgeHosts(objects);
      return {
        description: `applied ${names}${await awaitGatewayRoutes(hosts, true)}`,
        remove: async () => {
          const removed: string[] = [];
          for (const o of [...objects].reverse())
            if (await shop.kube.delete(o.apiVersion, o.kind, o.metadata.name, o.metadata.namespace))
              removed.push(`${o.kind} ${o.metadata.namespace}/${o.metadata.name}`);
          return `deleted ${removed.join(', ') || 'nothing (already gone)'}${await awaitGatewayRoutes(hosts, false)}`;
        },
      };
    },
    killKafkaBroker: async () =>
      crash(
        podsOf(namespaces.kafka, (l) => l['strimzi.io/cluster'] === options.kafkaCluster && l['strimzi.io/broker-role'] === 'true'),
        'the Kafka broker',
      ),
    killDatabase: async (service) =>
      crash(
        podsOf(namespaces.shop, (l) => l.app === `${service}-db`),
        `the ${service} database`,
      ),
    restock: async (units) => {
      const [db] = podsOf(namespaces.shop, (l) => l.app === 'product-db').filter((p) => p.ready);
      if (!db) throw new Error('no ready product database pod (app=product-db) runs on the mesh');
      const env = db.containers[0]!.env;
      const sql = `UPDATE inventory SET available = GREATEST(available, ${Math.floor(units)})`;
      // As root in the pod's namespace: excluded from interception, so straight to the database's loopback listener.
      const out = await shop.exec(db.name, 'env', [
        `PGPASSWORD=${env.POSTGRES_PASSWORD ?? ''}`,
        options.psql,
        '-h',
        '127.0.0.1',
        '-U',
        env.POSTGRES_USER ?? 'postgres',
        '-d',
        env.POSTGRES_DB ?? env.POSTGRES_USER ?? 'postgres',
        '-v',
        'ON_ERROR_STOP=1',
        '-c',
        sql,
      ]);
      return `${sql} in ${db.name}: ${out.trim()}`;
    },
    close: options.close ?? (async () => undefined),
  };
}
