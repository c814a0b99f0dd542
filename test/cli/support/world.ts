import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { versions } from '../../../constructs/versions.js';
import type { KubeConnection } from '../../../infra/kube-client.js';
import type { KubeObject } from '../../../cli/cluster-api.js';
import { defaultTimeouts, type Context } from '../../../cli/context.js';
import { FakeCluster } from './fake-cluster.js';
import { Recorder } from './recorder.js';

/** The kubeconfig `kind get kubeconfig` would print, for a real test apiserver (bearer token instead of a client certificate). */
export function kubeconfigFor(c: KubeConnection): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'kind-meshkit', cluster: { server: c.url, 'certificate-authority-data': Buffer.from(c.caCert).toString('base64') } }],
    contexts: [{ name: 'kind-meshkit', context: { cluster: 'kind-meshkit', user: 'kind-meshkit' } }],
    'current-context': 'kind-meshkit',
    users: [{ name: 'kind-meshkit', user: { token: c.token } }],
  });
}

/** A kubeconfig shaped like `kind get kubeconfig` output (the credentials are placeholders; the fake never checks them). */
export function kindKubeconfig(server = 'https://127.0.0.1:41234'): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return `apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: ${b64('-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n')}
    server: ${server}
  name: kind-meshkit
contexts:
- context:
    cluster: kind-meshkit
    user: kind-meshkit
  name: kind-meshkit
current-context: kind-meshkit
preferences: {}
users:
- name: kind-meshkit
  user:
    client-certificate-data: ${b64('-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n')}
    client-key-data: ${b64('-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n')}
`;
}

/** Add-on manifests shaped like Istio's samples/addons (Helm output with `...` document end markers). */
function addonYaml(name: string, port: number): string {
  return `---
# Source: ${name}/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: istio-system
spec:
  ports:
  - name: http
    port: ${port}
  selector:
    app: ${name}
...
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: istio-system
spec:
  replicas: 1
  selector:
    matchLabels:
      app: ${name}
  template:
    metadata:
      labels:
        app: ${name}
    spec:
      containers:
      - name: ${name}
        image: example/${name}:1
...
`;
}

export interface World {
  readonly ctx: Context;
  readonly recorder: Recorder;
  readonly cluster: FakeCluster;
  readonly output: string[];
  readonly dirs: { repo: string; work: string; istioHome: string };
  /** Virtual milliseconds elapsed (sleep advances it, and lets the fake controllers reconcile). */
  clock: number;
  /** The ingress gateway as `ctx.fetch` sees it: the user service's register/login and the JWT-protected GET /users/me. */
  readonly gateway: FakeGateway;
}

/** Answers the user routes through the gateway; GET /users/me is 401 while `acceptsTokens` is false (istiod has no JWKS). */
export class FakeGateway {
  acceptsTokens = true;
  /** `METHOD /path` of every request, in order. */
  readonly requests: string[] = [];

  readonly fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : input);
    const method = init?.method ?? 'GET';
    this.requests.push(`${method} ${url.pathname}`);
    const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { server: 'istio-envoy' } });
    if (method === 'POST' && url.pathname === '/users') return json(201, { id: 'u1' });
    if (method === 'POST' && url.pathname === '/sessions') return json(200, { accessToken: 'header.payload.signature' });
    if (method === 'GET' && url.pathname === '/users/me')
      return this.acceptsTokens ? json(200, { id: 'u1' }) : new Response('Jwt verification fails', { status: 401, headers: { server: 'istio-envoy' } });
    return new Response('', { status: 404, headers: { server: 'istio-envoy' } });
  }) as typeof fetch;
}

/**
 * A fresh machine for unit tests: a fake repo root (with Dockerfile and kind-config.yaml),
 * an Istio release directory with bin/istioctl and samples/addons, a recorder for every
 * external command, a FakeCluster behind `connect`, and a virtual clock.
 */
export function makeWorld(
  options: { env?: Record<string, string>; freeMemory?: number; busyPorts?: number[]; sysctl?: Record<string, string | undefined> } = {},
): World {
  const root = mkdtempSync(join(tmpdir(), 'meshkit-cli-'));
  const dirs = { repo: join(root, 'repo'), work: join(root, 'work'), istioHome: join(root, `istio-${versions.istio}`) };
  mkdirSync(dirs.repo, { recursive: true });
  writeFileSync(join(dirs.repo, 'Dockerfile'), 'FROM scratch\n');
  mkdirSync(join(dirs.istioHome, 'bin'), { recursive: true });
  writeFileSync(join(dirs.istioHome, 'bin', 'istioctl'), '');
  mkdirSync(join(dirs.istioHome, 'samples', 'addons'), { recursive: true });
  for (const [name, port] of [
    ['prometheus', 9090],
    ['grafana', 3000],
    ['kiali', 20001],
  ] as const) {
    writeFileSync(join(dirs.istioHome, 'samples', 'addons', `${name}.yaml`), addonYaml(name, port));
  }
  const recorder = new Recorder();
  const cluster = new FakeCluster();
  const output: string[] = [];
  const world: World = {
    recorder,
    cluster,
    output,
    dirs,
    clock: 0,
    gateway: new FakeGateway(),
    ctx: undefined as unknown as Context,
  };
  (world as { ctx: Context }).ctx = {
    runner: recorder,
    connect: () => cluster,
    print: (line) => output.push(line),
    repoRoot: dirs.repo,
    workDir: dirs.work,
    env: { PATH: '', ISTIO_HOME: dirs.istioHome, ...options.env },
    timeouts: defaultTimeouts,
    now: () => world.clock,
    sleep: async (ms) => {
      world.clock += ms;
      cluster.reconcile();
    },
    portFree: async (port) => !(options.busyPorts ?? []).includes(port),
    hostFreeMemory: () => options.freeMemory ?? 16 * 1024 ** 3,
    // A Linux host with kind's recommended inotify limits unless the test says otherwise.
    fetch: world.gateway.fetch,
    sysctl: (key) => ({ 'fs.inotify.max_user_watches': '524288', 'fs.inotify.max_user_instances': '512', ...options.sysctl })[key],
  };
  return world;
}

/** Scripts the version probes of a machine where everything `make up` needs is installed. */
export function scriptHealthyTools(world: World): void {
  const istioctl = join(world.dirs.istioHome, 'bin', 'istioctl');
  world.recorder
    .on(`docker version --format '{{.Server.Version}}'`, { stdout: '28.2.2\n' })
    .on(`docker info --format '{{.MemTotal}} {{.NCPU}}'`, { stdout: `${16 * 1024 ** 3} 8\n` })
    .on('kind version', { stdout: `kind v${versions.kind} go1.24.6 linux/amd64\n` })
    .on('kubectl version --client --output=json', { stdout: JSON.stringify({ clientVersion: { gitVersion: 'v1.34.1' } }) })
    .on(`${istioctl} version --remote=false`, { stdout: `client version: ${versions.istio}\n` })
    .on('helm version --short', { stdout: 'v3.18.4+gd80839c\n' });
}

export const istiodImage = (version: string) => `docker.io/istio/pilot:${version}`;

/** What `istioctl install` leaves in istio-system (istioctl itself waits until it runs). */
export function istioObjects(version: string = versions.istio): KubeObject[] {
  const deployment = (name: string, image: string): KubeObject => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'istio-system' },
    spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { spec: { containers: [{ name: 'discovery', image }] } } },
  });
  return [
    deployment('istiod', istiodImage(version)),
    deployment('istio-ingressgateway', `docker.io/istio/proxyv2:${version}`),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'istio-ingressgateway', namespace: 'istio-system' },
      spec: {
        type: 'NodePort',
        ports: [
          { name: 'http2', port: 80, nodePort: 30080 },
          { name: 'https', port: 443, nodePort: 30443 },
        ],
      },
    },
  ];
}

/** What `helm upgrade --install` of the Strimzi chart leaves: the operator and its CRDs. */
export function strimziObjects(): KubeObject[] {
  const crd = (plural: string, kind: string): KubeObject => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.kafka.strimzi.io` },
    spec: { group: 'kafka.strimzi.io', names: { kind, plural }, scope: 'Namespaced', versions: [{ name: 'v1', served: true, storage: true }] },
  });
  return [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'strimzi-cluster-operator', namespace: 'kafka' },
      spec: { replicas: 1, selector: { matchLabels: { name: 'strimzi-cluster-operator', 'strimzi.io/kind': 'cluster-operator' } } },
    },
    crd('kafkas', 'Kafka'),
    crd('kafkanodepools', 'KafkaNodePool'),
    crd('kafkatopics', 'KafkaTopic'),
  ];
}

export const helmRelease = (chart = `strimzi-kafka-operator-${versions.strimzi}`) =>
  JSON.stringify([{ name: 'strimzi-cluster-operator', namespace: 'kafka', revision: '1', status: 'deployed', chart, app_version: versions.strimzi }]);

/**
 * A cluster where an earlier `make up` got as far as Kafka: Istio, the add-ons and Strimzi
 * installed and ready, namespaces and Kafka resources applied, 3 of 5 database Secrets
 * (passwords `kept-<service>`), nothing of the shop yet.
 */
/** The services whose database Secret a half-done world already holds (password `kept-<service>`); the others' are missing. */
export const keptSecrets: readonly string[] = ['user', 'product', 'order'];

export function halfDoneWorld(platform: readonly KubeObject[]): World {
  const w = makeWorld();
  scriptHealthyTools(w);
  w.recorder
    .on('kind get clusters', { stdout: 'meshkit\n' })
    .on('kind get kubeconfig --name meshkit', { stdout: kindKubeconfig() })
    .on(`helm list --kubeconfig ${w.dirs.work}/kubeconfig --namespace kafka --filter '^strimzi-cluster-operator$' --output json`, { stdout: helmRelease() });
  for (const o of [...istioObjects(), ...strimziObjects()]) w.cluster.putReady(o);
  for (const name of ['prometheus', 'grafana', 'kiali']) {
    w.cluster.putReady({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: 'istio-system' }, spec: { replicas: 1 } });
  }
  for (const o of platform.filter((o) => o.kind === 'Namespace' || o.apiVersion.startsWith('kafka.strimzi.io/'))) w.cluster.putReady(o);
  for (const s of keptSecrets) {
    w.cluster.put({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `${s}-db-credentials`, namespace: 'shop' },
      data: { password: Buffer.from(`kept-${s}`).toString('base64') },
    });
  }
  return w;
}
