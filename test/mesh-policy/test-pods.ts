/**
 * The shop's pods for the mesh-policy tests, without the shop's apps: the synthesized shop applied for real, then
 * one pod per workload as a kubelet and the EndpointSlice controller would leave it in the
 * apiserver (Pod with labels, ServiceAccount and podIP, Ready; EndpointSlice from
 * local/mesh/endpoints-controller.ts), each in its own network namespace on local/mesh's pod
 * network, with Istio's interception (local/mesh/interception.ts) and a real sidecar
 * (infra/istiod.ts's startSidecar). The app container is a small HTTP server whose behaviour a
 * test sets (fail with a status, hang, reset after reading) and which counts what reached it.
 */
import { join } from 'node:path';
import { cachePath } from '../../infra/cache.js';
import { startSidecar, type RunningIstiod, type RunningSidecar } from '../../infra/istiod.js';
import type { KubeClient, KubeConnection, KubeObject } from '../../infra/kube-client.js';
import { spawnManaged, type ManagedProcess } from '../../infra/processes.js';
import { endpointSliceFor } from '../../local/mesh/endpoints-controller.js';
import { interceptPod } from '../../local/mesh/interception.js';
import { injectedLabels } from '../../local/mesh/istio-injection.js';
import type { PodNetwork } from '../../local/mesh/pod-network.js';

/** The app's port (every shop Service's targetPort) and the test server's control port, never intercepted. */
export const appPort = 8080;
export const controlPort = 9901;
/** The uid the test server runs as: not the proxy's (root), so its outbound traffic goes through Envoy. */
const appUid = 65534;

/**
 * The test server. Port 8080 (behind the sidecar) answers every request with its pod name after
 * applying the current behaviour; port 9901 (excluded from interception, reached from the test):
 * `POST /behaviour` {status, delayMs, reset, match}, `GET /counts`, `POST /clear`, and
 * `POST /call` {ip, host, method, path, headers, n}: n concurrent requests from this pod (so
 * through its sidecar's outbound listener) to ip:8080 with that Host header.
 */
const server = `
const http = require('node:http');
const pod = process.env.POD_NAME;
let behaviour = {};
let counts = {};
let inflight = 0, maxInflight = 0;
const json = (res, status, body) => { res.statusCode = status; res.setHeader('content-type', 'application/json'); res.end(JSON.stringify(body)); };
http.createServer((req, res) => {
  const key = req.method + ' ' + req.url + (req.headers['idempotency-key'] ? ' key' : '');
  counts[key] = (counts[key] || 0) + 1;
  inflight++; maxInflight = Math.max(maxInflight, inflight);
  res.on('close', () => { inflight--; });
  const b = behaviour.match === undefined || req.url.startsWith(behaviour.match) ? behaviour : {};
  req.resume();
  req.on('end', () => {
    if (b.reset) { req.socket.destroy(); return; }
    const reply = () => { if (!res.destroyed) json(res, b.status || 200, { pod, key }); };
    if (b.delayMs) setTimeout(reply, b.delayMs); else reply();
  });
}).listen(${appPort}, '0.0.0.0');
function call(o) {
  return new Promise((resolve) => {
    const started = Date.now();
    const req = http.request({ host: o.ip, port: ${appPort}, method: o.method, path: o.path, agent: false, headers: { host: o.host, ...(o.headers || {}) }, timeout: 15000 }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, ms: Date.now() - started, body: body.slice(0, 300), overloaded: res.headers['x-envoy-overloaded'] === 'true' }));
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', (e) => resolve({ status: 0, ms: Date.now() - started, body: String(e.code || e.message), overloaded: false }));
    req.end(o.method === 'GET' || o.method === 'HEAD' ? undefined : '{}');
  });
}
http.createServer((req, res) => {
  let text = '';
  req.on('data', (c) => { text += c; });
  req.on('end', async () => {
    const body = text ? JSON.parse(text) : {};
    if (req.url === '/behaviour') { behaviour = body; return json(res, 200, behaviour); }
    if (req.url === '/counts') return json(res, 200, { counts, maxInflight, inflight });
    if (req.url === '/clear') { counts = {}; maxInflight = inflight; behaviour = {}; return json(res, 200, {}); }
    if (req.url === '/call') return json(res, 200, await Promise.all(Array.from({ length: body.n || 1 }, () => call(body))));
    json(res, 404, {});
  });
}).listen(${controlPort}, '0.0.0.0');
`;

/** One response seen by a calling pod. */
export interface CallResult {
  readonly status: number;
  readonly ms: number;
  readonly body: string;
  /** Envoy's `x-envoy-overloaded: true`: a circuit breaker (connection pool) refused the request locally. */
  readonly overloaded: boolean;
}

/** What a test server has seen: requests by `METHOD path[ key]`, and the most it held at once. */
export interface Counts {
  readonly counts: Record<string, number>;
  readonly maxInflight: number;
}

/** How a test server answers on 8080 (only for paths starting with `match`, when given). */
export interface Behaviour {
  readonly status?: number;
  readonly delayMs?: number;
  readonly reset?: boolean;
  readonly match?: string;
}

export interface TestPod {
  readonly name: string;
  readonly service: string;
  readonly ip: string;
  readonly sidecar: RunningSidecar | undefined;
  readonly server: ManagedProcess;
  setBehaviour(behaviour: Behaviour): Promise<void>;
  counts(): Promise<Counts>;
  clear(): Promise<void>;
  /** `n` concurrent requests from this pod to `service` (by its ClusterIP, Host `<service>.shop.svc.cluster.local:8080`). */
  call(service: string, method: string, path: string, options?: { headers?: Record<string, string>; n?: number }): Promise<CallResult[]>;
}

async function control<T>(ip: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`http://${ip}:${controlPort}${path}`, {
    method: 'POST',
    body: JSON.stringify(body ?? {}),
    signal: AbortSignal.timeout(60_000),
  });
  if (!res.ok) throw new Error(`test server ${ip} ${path}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

export interface PodSetup {
  readonly kube: KubeConnection;
  readonly client: KubeClient;
  readonly network: PodNetwork;
  readonly istiod: RunningIstiod;
  readonly pilotAgent: string;
  /** ClusterIPs of the shop's Services by name. */
  readonly clusterIps: ReadonlyMap<string, string>;
}

/** The Pod the apiserver would hold for one replica of `deployment`: its template's labels, ServiceAccount and ports. */
function podObject(deployment: KubeObject, name: string): KubeObject {
  const template = (deployment.spec as { template: { metadata: { labels: Record<string, string> }; spec: Record<string, unknown> } }).template;
  const containers = template.spec.containers as { name: string; image: string; ports?: unknown[] }[];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: deployment.metadata.namespace, labels: template.metadata.labels },
    spec: {
      serviceAccountName: template.spec.serviceAccountName,
      automountServiceAccountToken: false,
      nodeName: 'meshkit-test-node',
      containers: containers.map((c) => ({ name: c.name, image: 'meshkit-test/policy-server', ports: c.ports })),
    },
  };
}

/**
 * Starts one pod of `deployment`: network namespace, the Pod (Ready, with its address) in the
 * apiserver, the test server as a non-root process, Istio's interception and the sidecar
 * (unless `sidecar: false`).
 */
export async function startTestPod(
  setup: PodSetup,
  deployment: KubeObject,
  name: string,
  options: { sidecar?: boolean; labels?: Record<string, string> } = {},
): Promise<TestPod> {
  const { network, client } = setup;
  const address = await network.addPod(name);
  const pod = podObject(deployment, name);
  if (options.labels) pod.metadata.labels = options.labels;
  // The injector's labels (auto mTLS reads security.istio.io/tlsMode from the endpoints' pods).
  if (options.sidecar !== false) pod.metadata.labels = { ...labels(pod), ...injectedLabels(pod) };
  const namespace = pod.metadata.namespace!;
  await client.request('POST', `/api/v1/namespaces/${namespace}/pods`, { body: pod });
  const now = new Date().toISOString();
  const condition = (type: string) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: now });
  await client.request('PATCH', `/api/v1/namespaces/${namespace}/pods/${name}/status`, {
    body: {
      status: {
        phase: 'Running',
        podIP: address.ip,
        podIPs: [{ ip: address.ip }],
        hostIP: network.gatewayIp,
        conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map(condition),
      },
    },
    contentType: 'application/merge-patch+json',
  });
  const logFile = join(cachePath('istio', 'logs'), `mesh-policy.${name}.server.log`);
  const server = await spawnManaged(
    'ip',
    ['netns', 'exec', address.netns, 'setpriv', `--reuid=${appUid}`, `--regid=${appUid}`, '--clear-groups', process.execPath, '-e', serverScript()],
    { name: `test server ${name}`, logFile, fix: `see ${logFile}`, env: { ...process.env, POD_NAME: name }, graceMs: 2_000 },
  );
  let sidecar: RunningSidecar | undefined;
  try {
    sidecar = await startPodSidecar();
    await server.waitUntil(
      `test server ${name} listening`,
      async () => (await fetch(`http://${address.ip}:${controlPort}/counts`).catch(() => undefined))?.ok === true,
      {
        timeoutMs: 60_000,
        intervalMs: 250,
      },
    );
  } catch (error) {
    // A pod that failed to start leaves nothing for another test to find: no process, no Pod object.
    await sidecar?.stop();
    await server.stop();
    await client.delete('v1', 'Pod', name, namespace).catch(() => undefined);
    throw error;
  }

  async function startPodSidecar(): Promise<RunningSidecar | undefined> {
    if (options.sidecar === false) return undefined;
    await interceptPod(network, name, setup.pilotAgent);
    // The control port is the test's back door, like the proxy's own ports: never captured inbound.
    await network.exec(name, 'iptables', ['-t', 'nat', '-I', 'PREROUTING', '1', '-p', 'tcp', '--dport', String(controlPort), '-j', 'RETURN']);
    const labels = pod.metadata.labels as Record<string, string>;
    return startSidecar({
      kube: setup.kube,
      istiod: setup.istiod,
      podName: name,
      namespace,
      serviceAccount: (pod.spec as { serviceAccountName: string }).serviceAccountName,
      podIp: address.ip,
      labels,
      workloadName: deployment.metadata.name,
      appPorts: [{ name: 'http', containerPort: appPort, protocol: 'TCP' }],
      netns: address.netns,
      concurrency: 1,
      readyTimeoutMs: 150_000,
    });
  }
  const service = labels(pod).app!;
  return {
    name,
    service,
    ip: address.ip,
    sidecar,
    server,
    setBehaviour: async (behaviour) => void (await control(address.ip, '/behaviour', behaviour)),
    counts: () => control<Counts>(address.ip, '/counts'),
    clear: async () => void (await control(address.ip, '/clear')),
    call: (target, method, path, callOptions = {}) => {
      const ip = setup.clusterIps.get(target);
      if (!ip) throw new Error(`no ClusterIP for Service ${target}`);
      return control<CallResult[]>(address.ip, '/call', {
        ip,
        host: `${target}.shop.svc.cluster.local:${appPort}`,
        method,
        path,
        headers: callOptions.headers,
        n: callOptions.n ?? 1,
      });
    },
  };
}

function labels(pod: KubeObject): Record<string, string> {
  return pod.metadata.labels as Record<string, string>;
}

function serverScript(): string {
  return server;
}

/** Writes each shop Service's EndpointSlice from the Pods in the apiserver, as the EndpointSlice controller would. */
export async function writeEndpointSlices(client: KubeClient, namespace: string): Promise<void> {
  const pods = await client.list('v1', 'Pod', { namespace });
  for (const service of await client.list('v1', 'Service', { namespace })) {
    const slice = endpointSliceFor(service, pods);
    if (slice) await client.applyServerSide([slice]);
  }
}

/** Envoy's counters of one cluster, by stat name (`upstream_rq_retry`…), from the sidecar's admin API. */
export async function clusterStats(sidecar: RunningSidecar, cluster: string): Promise<Record<string, number>> {
  const escaped = cluster.replace(/[.|]/g, (c) => `\\${c}`);
  const text = await sidecar.admin(`/stats?filter=${encodeURIComponent(`^cluster\\.${escaped};\\.`)}`);
  const stats: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const match = /^cluster\.[^;]+;\.([^:]+): (\d+)$/.exec(line.trim());
    if (match) stats[match[1]!] = Number(match[2]);
  }
  return stats;
}
