/**
 * Istio's part of a pod's life in the mesh runtime, with the colleague's infra/istiod.ts doing
 * the control plane and the proxies:
 * - the injection webhook's decision and the labels it adds (`security.istio.io/tlsMode: istio`,
 *   which auto-mTLS reads from endpoints, and the canonical service labels);
 * - the istio-init step (interception.ts) and `startSidecar` (pilot-agent + Envoy) in the pod's
 *   namespace, before the app containers start (holdApplicationUntilProxyStarts), with the app's
 *   HTTP probes rewritten to the agent's /app-health/<container>/<probe> on 15020 as the
 *   injector does (ISTIO_KUBE_APP_PROBERS), so the kubelet's plaintext probes survive STRICT mTLS;
 * - the ingress gateway as `istioctl install` would declare it (ServiceAccount, Service 80→8080,
 *   a Deployment whose istio-proxy container runs `pilot-agent proxy router`), which the kubelet
 *   runs through the same hook.
 *
 * The proxy runs as root, not as uid 1337: startSidecar does not switch users, so
 * istio-iptables is told the proxy's uid and gid are 0 (`--proxy-uid=0 --proxy-gid=0`): its
 * connections are returned untouched; the apps run as their own non-root users, so theirs are
 * redirected. Only root-run commands of the local kubelet (exec probes) bypass the proxy, as
 * a kubelet's own probes would.
 */
import type { KubeConnection, KubeObject } from '../../infra/kube-client.js';
import { startSidecar, type RunningIstiod, type RunningSidecar } from '../../infra/istiod.js';
import type { ContainerSpec } from './pod-env.js';
import type { PodNetwork } from './pod-network.js';
import type { SidecarHook } from './kubelet.js';
import { interceptPod } from './interception.js';

/** The image a proxy container names (the injector's and the gateway chart's). */
export const proxyImage = 'docker.io/istio/proxyv2';
export const gatewayNamespace = 'istio-system';
export const gatewayName = 'istio-ingressgateway';
/** The gateway's ServiceAccount as Istio's default install names it: the principal meshkit's policies allow (mesh/edge-gateway.ts). */
export const gatewayServiceAccount = 'istio-ingressgateway-service-account';
/** The port the gateway's Envoy listens on for the Gateway's port 80 (the chart's targetPort). */
export const gatewayTargetPort = 8080;

type Labels = Record<string, string>;

/** What the injection webhook decides: the namespace has `istio-injection: enabled` and the pod does not opt out. */
export function injects(namespaceLabels: Labels | undefined, pod: KubeObject): boolean {
  const annotations = pod.metadata.annotations as Labels | undefined;
  const labels = pod.metadata.labels as Labels | undefined;
  if (annotations?.['sidecar.istio.io/inject'] === 'false' || labels?.['sidecar.istio.io/inject'] === 'false') return false;
  return namespaceLabels?.['istio-injection'] === 'enabled' || labels?.['sidecar.istio.io/inject'] === 'true';
}

/** The labels the injector adds to an injected pod. */
export function injectedLabels(pod: KubeObject): Labels {
  const labels = (pod.metadata.labels as Labels | undefined) ?? {};
  return {
    'security.istio.io/tlsMode': 'istio',
    'service.istio.io/canonical-name': labels['service.istio.io/canonical-name'] ?? labels['app.kubernetes.io/name'] ?? labels.app ?? pod.metadata.name,
    'service.istio.io/canonical-revision': labels['service.istio.io/canonical-revision'] ?? labels['app.kubernetes.io/version'] ?? labels.version ?? 'latest',
  };
}

/** Istio's rewrite of an HTTP probe: the agent's path for it. */
export function appHealthPath(container: string, kind: 'readiness' | 'liveness' | 'startup'): string {
  return `/app-health/${container}/${{ readiness: 'readyz', liveness: 'livez', startup: 'startupz' }[kind]}`;
}

interface ProbeSpec {
  httpGet?: { path?: string; port: number | string; scheme?: string };
  timeoutSeconds?: number;
}

/** ISTIO_KUBE_APP_PROBERS for a pod's containers: each HTTP probe under its /app-health path, named ports resolved. */
export function appProbers(
  containers: readonly (ContainerSpec & { readinessProbe?: ProbeSpec; livenessProbe?: ProbeSpec; startupProbe?: ProbeSpec })[],
): string {
  const probers: Record<string, unknown> = {};
  for (const c of containers) {
    for (const [kind, probe] of [
      ['readiness', c.readinessProbe],
      ['liveness', c.livenessProbe],
      ['startup', c.startupProbe],
    ] as const) {
      if (!probe?.httpGet) continue;
      const port = typeof probe.httpGet.port === 'number' ? probe.httpGet.port : c.ports?.find((p) => p.name === probe.httpGet!.port)?.containerPort;
      probers[appHealthPath(c.name, kind)] = {
        httpGet: { path: probe.httpGet.path ?? '/', port, scheme: probe.httpGet.scheme ?? 'HTTP' },
        timeoutSeconds: probe.timeoutSeconds ?? 1,
      };
    }
  }
  return JSON.stringify(probers);
}

/** The workload a pod belongs to: its Deployment (ReplicaSet name minus the hash), StatefulSet, or itself. */
function workloadOf(pod: KubeObject): string {
  const owner = (pod.metadata.ownerReferences as { kind: string; name: string }[] | undefined)?.[0];
  if (!owner) return pod.metadata.name;
  if (owner.kind === 'ReplicaSet') return owner.name.replace(/-[a-z0-9]+$/, '');
  return owner.name;
}

/** The ingress gateway's objects, as Istio's gateway chart makes them (one replica, proxy in router mode). */
export function gatewayObjects(istioVersion: string): KubeObject[] {
  const labels = { app: gatewayName, istio: 'ingressgateway' };
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: gatewayServiceAccount, namespace: gatewayNamespace, labels } },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: gatewayName, namespace: gatewayNamespace, labels },
      spec: {
        type: 'ClusterIP',
        selector: labels,
        ports: [
          { name: 'status-port', port: 15021, targetPort: 15021, protocol: 'TCP' },
          { name: 'http2', port: 80, targetPort: gatewayTargetPort, protocol: 'TCP' },
        ],
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: gatewayName, namespace: gatewayNamespace, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: {
            labels: { ...labels, 'sidecar.istio.io/inject': 'false', 'service.istio.io/canonical-name': gatewayName },
            annotations: { 'sidecar.istio.io/inject': 'false' },
          },
          spec: {
            serviceAccountName: gatewayServiceAccount,
            terminationGracePeriodSeconds: 5,
            containers: [
              {
                name: 'istio-proxy',
                image: `${proxyImage}:${istioVersion}`,
                args: ['proxy', 'router'],
                ports: [
                  { name: 'http-envoy-prom', containerPort: 15090 },
                  { name: 'status-port', containerPort: 15021 },
                  { name: 'http2', containerPort: gatewayTargetPort },
                ],
                readinessProbe: { httpGet: { path: '/healthz/ready', port: 15021 }, periodSeconds: 2, failureThreshold: 30 },
              },
            ],
          },
        },
      },
    },
  ];
}

export interface IstioHookOptions {
  readonly kube: KubeConnection;
  readonly istiod: RunningIstiod;
  readonly network: PodNetwork;
  /** pilot-agent, for istio-iptables. */
  readonly pilotAgent: string;
  /** Labels of each namespace (injection). */
  readonly namespaceLabels: (namespace: string) => Labels | undefined;
  readonly log?: (line: string) => void;
}

/** The SidecarHook the kubelet calls: istio-init, then pilot-agent + Envoy in the pod's namespace. */
export function istioSidecars(options: IstioHookOptions): SidecarHook {
  const start = async (pod: KubeObject, netns: string, ip: string, mode: 'sidecar' | 'router'): Promise<RunningSidecar> => {
    const spec = pod.spec as { serviceAccountName?: string; containers: ContainerSpec[] };
    return startSidecar({
      kube: options.kube,
      istiod: options.istiod,
      podName: pod.metadata.name,
      namespace: pod.metadata.namespace ?? 'default',
      serviceAccount: spec.serviceAccountName ?? 'default',
      podIp: ip,
      labels: pod.metadata.labels as Labels | undefined,
      workloadName: workloadOf(pod),
      appPorts: spec.containers.flatMap((c) => c.ports ?? []).map((p) => ({ name: p.name, containerPort: p.containerPort, protocol: p.protocol ?? 'TCP' })),
      netns,
      mode,
      concurrency: 1,
      env: {
        ISTIO_KUBE_APP_PROBERS: appProbers(spec.containers.filter((c) => !c.image.startsWith(proxyImage))),
        ISTIO_META_APP_CONTAINERS: spec.containers.map((c) => c.name).join(','),
        ...(mode === 'router' && { ISTIO_META_ROUTER_MODE: 'standard' }),
      },
      readyTimeoutMs: 120_000,
    });
  };
  return {
    injects: (pod) => injects(options.namespaceLabels(pod.metadata.namespace ?? 'default'), pod),
    async start(pod, runtime) {
      options.log?.(`sidecar ${pod.metadata.namespace}/${pod.metadata.name}: istio-iptables, pilot-agent + Envoy`);
      await interceptPod(options.network, pod.metadata.name, options.pilotAgent);
      const sidecar = await start(pod, runtime.netns, runtime.ip, 'sidecar');
      return { stop: () => sidecar.stop(), pids: [sidecar.process.pid], admin: (path: string) => sidecar.admin(path) };
    },
    runsImage: (image) => image.startsWith(proxyImage),
    async startProxyContainer(pod, runtime) {
      const proxy = await start(pod, runtime.netns, runtime.ip, 'router');
      return { process: proxy.process, stop: () => proxy.stop(), admin: (path: string) => proxy.admin(path) };
    },
    probeTarget: (_pod, container, kind) => ({ port: 15020, path: appHealthPath(container, kind) }),
  };
}
