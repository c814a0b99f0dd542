import type { ServiceName } from '../../charts/platform.js';
import type { ChaosEnvironment, Outage, ShopDeployment } from '../environment.js';
import { envoyStatsCollector, prometheusCollector, serviceMetricsCollector } from '../metrics/sources.js';
import type { ClusterAccess, PodInfo } from './kube.js';
import { loadChaosResources } from '../synth.js';

export interface ClusterEnvironmentOptions extends ShopDeployment {
  readonly access: ClusterAccess;
  /** The ingress gateway on the laptop (kind maps NodePort 30080 to localhost:8080). */
  readonly baseUrl: string;
  /** Base URL of Prometheus (a port-forward opened on first use). @default - no Prometheus figures */
  readonly prometheusUrl?: () => Promise<string>;
  readonly close?: () => Promise<void>;
}

/**
 * The shop on the kind cluster: load through the Istio ingress gateway, the chaos switch and
 * /metrics of a pod through `kubectl exec` (the admin port is on no Service), Envoy stats
 * through `pilot-agent request GET stats` in the sidecars, Istio's request metrics from
 * Prometheus, pods killed through the Kubernetes API.
 */
export function clusterEnvironment(options: ClusterEnvironmentOptions): ChaosEnvironment {
  const { access, namespaces } = options;
  const shop = namespaces.shop;
  const admin = (path: string) => `http://127.0.0.1:${options.adminPort}${path}`;

  const servicePods = async (service: ServiceName): Promise<PodInfo[]> => {
    const pods = await access.readyPods(shop, `app=${service}`);
    if (pods.length === 0) throw new Error(`no ready pod of ${service} in namespace ${shop}: \`make status\` shows what is missing`);
    return pods;
  };

  const outage = async (namespace: string, selector: string, what: string): Promise<Outage> => {
    const victims = await access.readyPods(namespace, selector);
    if (victims.length === 0) throw new Error(`no ready ${what} pod (${selector}) in namespace ${namespace}`);
    for (const pod of victims) await access.killPod(pod);
    return {
      description: `killed ${what} pod${victims.length > 1 ? 's' : ''} ${victims.map((p) => `${p.namespace}/${p.name}`).join(', ')} (grace period 0)`,
      restore: async (timeoutMs) => {
        const fresh = await access.waitForReplacement(namespace, selector, victims, victims.length, timeoutMs);
        return `replacement ready: ${fresh.map((p) => p.name).join(', ')}`;
      },
    };
  };

  return {
    mode: 'cluster',
    baseUrl: options.baseUrl,
    description: `the kind cluster through the Istio ingress gateway at ${options.baseUrl}`,
    orderSweep: options.orderSweep,
    instances: async (service) => (await servicePods(service)).map((p) => p.name),
    setChaos: async (service, pod, settings) => {
      await access.httpInPod(shop, pod, service, 'POST', admin('/admin/chaos'), settings);
    },
    clearChaos: async (service, pod) => {
      await access.httpInPod(shop, pod, service, 'DELETE', admin('/admin/chaos'));
    },
    serviceMetrics: (service) =>
      serviceMetricsCollector(service, async () =>
        (await servicePods(service)).map((pod) => ({ source: pod.name, read: () => access.httpInPod(shop, pod.name, service, 'GET', admin('/metrics')) })),
      ),
    envoy: (from, to) =>
      envoyStatsCollector({
        name: `Envoy stats of ${from === 'gateway' ? 'the ingress gateway' : `${from}'s sidecars`} → ${to}`,
        upstream: { host: `${to}.${shop}.svc.cluster.local`, port: options.servicePort(to) },
        proxies: async () =>
          from === 'gateway'
            ? (await access.readyPods(namespaces.istio, 'istio=ingressgateway')).map((p) => `${namespaces.istio}/${p.name}`)
            : (await servicePods(from)).map((p) => `${shop}/${p.name}`),
        stats: (qualified) => {
          const [namespace, pod] = qualified.split('/') as [string, string];
          return access.envoyStats(namespace, pod);
        },
      }),
    prometheus: options.prometheusUrl
      ? (to) => prometheusCollector({ baseUrl: options.prometheusUrl!, destinationService: to, sourceWorkload: 'istio-ingressgateway' })
      : undefined,
    applyResources: async (name) => {
      const { objects, names } = loadChaosResources(options.resourcesDir, name);
      await access.apply(objects);
      return { description: `applied ${names}`, remove: async () => `deleted ${(await access.remove(objects)).join(', ') || 'nothing (already gone)'}` };
    },
    killKafkaBroker: () => outage(namespaces.kafka, `strimzi.io/cluster=${options.kafkaCluster},strimzi.io/broker-role=true`, 'Kafka broker'),
    killDatabase: (service) => outage(shop, `app=${service}-db`, `${service} database`),
    restock: async (units) => {
      const [db] = await access.readyPods(shop, 'app=product-db');
      if (!db) throw new Error(`no ready product database pod (app=product-db) in ${shop}`);
      const sql = `UPDATE inventory SET available = GREATEST(available, ${Math.floor(units)})`;
      const out = await access.exec(shop, db.name, 'postgres', ['sh', '-c', `psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c '${sql}'`]);
      return `${sql} in ${db.name}: ${out.trim()}`;
    },
    close: options.close ?? (async () => undefined),
  };
}
