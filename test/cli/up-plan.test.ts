import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { versions } from '../../constructs/versions.js';
import type { KubeObject } from '../../cli/cluster-api.js';
import { istioOperatorYaml } from '../../cli/istio.js';
import { runPlan, type StepResult } from '../../cli/plan.js';
import { Bringup, type PlatformInputs, type UpOptions } from '../../cli/up.js';
import { services as shopServices } from '../../charts/platform.js';
import { synthPlatform } from '../support/platform.js';
import {
  halfDoneWorld,
  helmRelease,
  istioObjects,
  keptSecrets,
  kindKubeconfig,
  makeWorld,
  scriptHealthyTools,
  strimziObjects,
  type World,
} from './support/world.js';

let inputs: PlatformInputs;
let objects: KubeObject[];

beforeAll(() => {
  const synth = synthPlatform();
  objects = synth.objects as KubeObject[];
  inputs = { objects: () => objects, secrets: () => synth.platform.requiredSecrets };
});

/** Every service of the model: one image and one database Secret each. */
const services = shopServices.map((s) => s.name);
/** The database Secrets a half-done world lacks, as the secrets step names them. */
const missingSecrets = services.filter((s) => !keptSecrets.includes(s)).map((s) => `shop/${s}-db-credentials`);

/** Scripts kind, docker, istioctl and helm for a machine that starts with no cluster; effects play what the tools would do. */
function scriptFreshMachine(w: World) {
  scriptHealthyTools(w);
  const state = { clusterExists: false, strimziInstalled: false, imageIds: new Map<string, string>(), builds: 0 };
  w.recorder
    .on('kind get clusters', () => ({ stdout: state.clusterExists ? 'meshkit\n' : '', stderr: state.clusterExists ? '' : 'No kind clusters found.\n' }))
    .on(`kind create cluster --name meshkit --config ${w.dirs.repo}/kind-config.yaml --wait 180s`, {}, () => (state.clusterExists = true))
    .on('kind get kubeconfig --name meshkit', { stdout: kindKubeconfig() })
    .on(/^docker image inspect --format '\{\{\.Id\}\}' /, (line) => {
      const id = state.imageIds.get(line.split(' ').at(-1)!);
      return id ? { stdout: `${id}\n` } : { code: 1, stderr: 'Error: No such image' };
    })
    .on(/^DOCKER_BUILDKIT=1 docker build /, {}, (line) => state.imageIds.set(/--tag (\S+)/.exec(line)![1]!, `sha256:build${++state.builds}`))
    .on(/^kind load docker-image /, { stdout: 'Image: "meshkit/user:dev" with ID "sha256:..." not yet present on node "meshkit-control-plane", loading...\n' })
    .on(`${w.dirs.istioHome}/bin/istioctl install --skip-confirmation --kubeconfig ${w.dirs.work}/kubeconfig -f ${w.dirs.work}/istio-operator.yaml`, {}, () => {
      for (const o of istioObjects()) w.cluster.putReady(o);
    })
    .on(`helm list --kubeconfig ${w.dirs.work}/kubeconfig --namespace kafka --filter '^strimzi-cluster-operator$' --output json`, () => ({
      stdout: state.strimziInstalled ? helmRelease() : '[]',
    }))
    .on(
      `helm upgrade --install strimzi-cluster-operator oci://quay.io/strimzi-helm/strimzi-kafka-operator --version ${versions.strimzi} --namespace kafka --kubeconfig ${w.dirs.work}/kubeconfig`,
      {},
      () => {
        state.strimziInstalled = true;
        for (const o of strimziObjects()) w.cluster.putReady(o);
      },
    );
  return state;
}

async function up(w: World, options: UpOptions = {}): Promise<StepResult[]> {
  const bringup = new Bringup(w.ctx, inputs, options);
  try {
    return await runPlan(w.ctx, 'up', bringup.steps());
  } finally {
    bringup.close();
  }
}

const outcomes = (results: StepResult[]) => Object.fromEntries(results.map((r) => [r.id, r.outcome]));
const detail = (results: StepResult[], id: string) => results.find((r) => r.id === id)?.detail ?? '';

function doctorCommands(w: World): string[] {
  return [
    `docker version --format '{{.Server.Version}}'`,
    `docker info --format '{{.MemTotal}} {{.NCPU}}'`,
    'kind version',
    'kubectl version --client --output=json',
    `${w.dirs.istioHome}/bin/istioctl version --remote=false`,
    'helm version --short',
    'kind get clusters',
  ];
}

describe('make up on a machine without a cluster', () => {
  it('runs every step in order and exactly these commands', async () => {
    const w = makeWorld();
    scriptFreshMachine(w);
    const results = await up(w);

    expect(outcomes(results)).toEqual({
      preflight: 'ran',
      cluster: 'ran',
      namespaces: 'ran',
      secrets: 'ran',
      images: 'ran',
      istio: 'ran',
      addons: 'ran',
      strimzi: 'ran',
      kafka: 'ran',
      shop: 'ran',
      databases: 'ran',
      services: 'ran',
      'gateway-auth': 'ran',
    });
    const kubeconfig = `${w.dirs.work}/kubeconfig`;
    const helmList = `helm list --kubeconfig ${kubeconfig} --namespace kafka --filter '^strimzi-cluster-operator$' --output json`;
    expect(w.recorder.calls).toEqual([
      ...doctorCommands(w),
      'kind get clusters',
      `kind create cluster --name meshkit --config ${w.dirs.repo}/kind-config.yaml --wait 180s`,
      'kind get kubeconfig --name meshkit',
      ...services.flatMap((s) => [
        `docker image inspect --format '{{.Id}}' meshkit/${s}:dev`,
        `DOCKER_BUILDKIT=1 docker build --file ${w.dirs.repo}/Dockerfile --build-arg SERVICE=${s} --tag meshkit/${s}:dev ${w.dirs.repo}`,
        `docker image inspect --format '{{.Id}}' meshkit/${s}:dev`,
      ]),
      `kind load docker-image ${services.map((s) => `meshkit/${s}:dev`).join(' ')} --name meshkit`,
      `${w.dirs.istioHome}/bin/istioctl install --skip-confirmation --kubeconfig ${kubeconfig} -f ${w.dirs.work}/istio-operator.yaml`,
      helmList,
      helmList,
      `helm upgrade --install strimzi-cluster-operator oci://quay.io/strimzi-helm/strimzi-kafka-operator --version ${versions.strimzi} --namespace kafka --kubeconfig ${kubeconfig}`,
    ]);
    expect(w.recorder.unscripted).toEqual([]);
    // The files handed to the tools are the ones the CLI generated.
    expect(readFileSync(join(w.dirs.work, 'istio-operator.yaml'), 'utf8')).toBe(istioOperatorYaml());
    expect(readFileSync(join(w.dirs.work, 'kubeconfig'), 'utf8')).toBe(kindKubeconfig());
  });

  it('applies namespaces first, Kafka before the shop, and within the shop DestinationRules before VirtualServices and config before workloads', async () => {
    const w = makeWorld();
    scriptFreshMachine(w);
    await up(w);
    const applied = w.cluster.applied;
    const first = (prefix: string) => applied.findIndex((a) => a.startsWith(prefix));
    const last = (prefix: string) => applied.findLastIndex((a) => a.startsWith(prefix));
    expect(applied.slice(0, 2).sort()).toEqual(['Namespace kafka', 'Namespace shop']);
    expect(last('KafkaNodePool ')).toBeLessThan(first('Kafka kafka/meshkit'));
    expect(last('Kafka kafka/meshkit')).toBeLessThan(first('KafkaTopic '));
    expect(last('KafkaTopic ')).toBeLessThan(first('ServiceAccount shop/'));
    expect(last('ServiceAccount shop/')).toBeLessThan(first('Service shop/'));
    expect(last('Service shop/')).toBeLessThan(first('DestinationRule '));
    expect(last('DestinationRule ')).toBeLessThan(first('VirtualService '));
    expect(last('VirtualService ')).toBeLessThan(first('StatefulSet '));
    expect(last('StatefulSet ')).toBeLessThan(first('Deployment shop/'));
    expect(last('Deployment shop/')).toBeLessThan(first('PodDisruptionBudget '));
    // Every synthesized object was applied exactly once, plus the six add-on objects.
    const addonObjects = ['prometheus', 'grafana', 'kiali'].flatMap((n) => [`Service istio-system/${n}`, `Deployment istio-system/${n}`]);
    expect(applied.filter((a) => !addonObjects.includes(a)).sort()).toEqual(
      objects.map((o) => `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`).sort(),
    );
  });

  it('creates one random 32-character alphanumeric password per database Secret', async () => {
    const w = makeWorld();
    scriptFreshMachine(w);
    await up(w);
    const secrets = w.cluster.createdSecrets;
    expect(secrets.map((s) => s.metadata.name).sort()).toEqual(services.map((s) => `${s}-db-credentials`).sort());
    const passwords = secrets.map((s) => Buffer.from((s.data as { password: string }).password, 'base64').toString('utf8'));
    for (const p of passwords) expect(p).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(new Set(passwords).size).toBe(passwords.length);
  });

  it('prints each step with its time and a closing summary', async () => {
    const w = makeWorld();
    scriptFreshMachine(w);
    await up(w);
    expect(w.output[0]).toBe('meshkit up: 13 steps');
    expect(w.output).toContain('▶ [6/13] Istio 1.30.8 (minimal profile + ingress gateway on NodePort)');
    // The virtual clock advances only while waiting: the Kafka wait took one 2 s poll.
    expect(w.output.some((l) => /^ {2}✓ done \(2\.0s\): 5 objects: 5 created, 0 configured, 0 unchanged; 4 Ready$/.test(l))).toBe(true);
    expect(w.output).toContain('meshkit up: done in 10.0s');
    expect(w.output.at(-2)).toMatch(/^ {2}ran {6}\s+\d+\.\ds {2}services ready \(Deployments\)$/);
    expect(w.output.at(-1)).toMatch(/^ {2}ran {6}\s+\d+\.\ds {2}gateway accepts the user service's tokens \(istiod has fetched its JWKS\)$/);
  });

  it('converges on a second run: nothing is created, installed or changed again', async () => {
    const w = makeWorld();
    scriptFreshMachine(w);
    await up(w);
    const firstCalls = w.recorder.calls.length;
    const results = await up(w, { skipImages: true });
    const again = w.recorder.calls.slice(firstCalls);

    expect(outcomes(results)).toEqual({
      preflight: 'ran',
      cluster: 'skipped',
      namespaces: 'ran',
      secrets: 'skipped',
      images: 'skipped',
      istio: 'skipped',
      addons: 'skipped',
      strimzi: 'skipped',
      kafka: 'ran',
      shop: 'ran',
      databases: 'skipped',
      services: 'skipped',
      'gateway-auth': 'ran',
    });
    for (const id of ['namespaces', 'kafka', 'shop']) expect(detail(results, id)).toMatch(/: 0 created, 0 configured, \d+ unchanged/);
    expect(again.filter((c) => /kind create|istioctl install|helm upgrade|docker build/.test(c))).toEqual([]);
    expect(w.cluster.createdSecrets).toHaveLength(services.length);
  });
});

describe('make up on a half-done cluster', () => {
  const halfDone = () => halfDoneWorld(objects);

  it('skips what is done, finishes the rest, and runs no install command', async () => {
    const w = halfDone();
    const results = await up(w, { skipImages: true });
    expect(outcomes(results)).toEqual({
      preflight: 'ran',
      cluster: 'skipped',
      namespaces: 'ran',
      secrets: 'ran',
      images: 'skipped',
      istio: 'skipped',
      addons: 'skipped',
      strimzi: 'skipped',
      kafka: 'ran',
      shop: 'ran',
      databases: 'ran',
      services: 'ran',
      'gateway-auth': 'ran',
    });
    expect(w.recorder.calls).toEqual([
      ...doctorCommands(w),
      'kind get clusters',
      'kind get kubeconfig --name meshkit',
      `helm list --kubeconfig ${w.dirs.work}/kubeconfig --namespace kafka --filter '^strimzi-cluster-operator$' --output json`,
    ]);
    expect(w.recorder.unscripted).toEqual([]);
    expect(detail(results, 'secrets')).toBe(`created ${missingSecrets.length} (${missingSecrets.join(', ')}), kept ${keptSecrets.length}`);
    expect(detail(results, 'kafka')).toMatch(/^5 objects: 0 created, 0 configured, 5 unchanged/);
    const user = await w.cluster.get('v1', 'Secret', 'user-db-credentials', 'shop');
    expect(Buffer.from((user!.data as { password: string }).password, 'base64').toString()).toBe('kept-user');
  });

  it('upgrades Istio in place when istiod runs another version', async () => {
    const w = halfDone();
    w.cluster.putReady(istioObjects('1.29.2')[0]!);
    w.recorder.on(
      `${w.dirs.istioHome}/bin/istioctl install --skip-confirmation --kubeconfig ${w.dirs.work}/kubeconfig -f ${w.dirs.work}/istio-operator.yaml`,
      {},
      () => w.cluster.putReady(istioObjects()[0]!),
    );
    const results = await up(w, { skipImages: true });
    expect(outcomes(results).istio).toBe('ran');
    expect(w.output).toContain(`  istiod runs 1.29.2, pinned is ${versions.istio}: istioctl upgrades it in place`);
    expect(w.recorder.calls.filter((c) => c.includes('istioctl install'))).toHaveLength(1);
  });

  it('loads the images through docker save + kind load image-archive when kind load docker-image fails (containerd image store, kind#3795)', async () => {
    const w = halfDone();
    w.recorder
      .on(/^DOCKER_BUILDKIT=1 docker build /)
      .on(/^kind load docker-image /, { code: 1, stderr: 'ERROR: failed to detect containerd snapshotter' })
      .on(/^docker save --output \S+\/images\.tar meshkit\/user:dev /)
      .on(/^kind load image-archive \S+\/images\.tar --name meshkit$/)
      .on(/^docker image inspect /, { stdout: 'sha256:same\n' });
    const results = await up(w);
    expect(detail(results, 'images')).toBe(
      `${services.length} images built (none changed) and loaded into kind through \`docker save\` + \`kind load image-archive\` (\`kind load docker-image\` failed)`,
    );
    const loads = w.recorder.calls.filter((c) => /^(kind load|docker save)/.test(c));
    expect(loads.map((c) => c.replace(/\/\S*\/images\.tar/, '<archive>'))).toEqual([
      `kind load docker-image ${services.map((s) => `meshkit/${s}:dev`).join(' ')} --name meshkit`,
      `docker save --output <archive> ${services.map((s) => `meshkit/${s}:dev`).join(' ')}`,
      'kind load image-archive <archive> --name meshkit',
    ]);
  });

  it('restarts the Deployments whose image changed when images are rebuilt', async () => {
    const w = halfDone();
    w.cluster.putReady({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'order', namespace: 'shop' }, spec: { replicas: 2 } });
    w.recorder
      .on(/^DOCKER_BUILDKIT=1 docker build /)
      .on(/^kind load docker-image /)
      .once(`docker image inspect --format '{{.Id}}' meshkit/order:dev`, { stdout: 'sha256:old\n' })
      .on(/^docker image inspect /, { stdout: 'sha256:new\n' });
    const results = await up(w);
    expect(detail(results, 'images')).toBe(`${services.length} images built (changed: order) and loaded into kind; restarted order`);
    expect(w.cluster.patches).toEqual([
      {
        name: 'Deployment shop/order',
        patch: { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': '1970-01-01T00:00:00.000Z' } } } } },
      },
    ]);
  });

  it('stops before touching anything when the preflight finds a missing tool', async () => {
    const w = makeWorld();
    w.recorder
      .on(`docker version --format '{{.Server.Version}}'`, { stdout: '28.2.2\n' })
      .on(`docker info --format '{{.MemTotal}} {{.NCPU}}'`, { stdout: `${16 * 1024 ** 3} 8\n` })
      .on('kubectl version --client --output=json', { stdout: JSON.stringify({ clientVersion: { gitVersion: 'v1.34.1' } }) })
      .on(`${w.dirs.istioHome}/bin/istioctl version --remote=false`, { stdout: `client version: ${versions.istio}\n` })
      .on('helm version --short', { stdout: 'v3.18.4\n' })
      .on('kind version', { code: 127, stderr: 'kind: command not found' });
    const results = await up(w);
    expect(results.map((r) => r.outcome)).toEqual(['failed', ...Array(12).fill('not run')]);
    expect(detail(results, 'preflight')).toBe('kind not ready: fix what is marked FAIL above (`make doctor` re-checks)');
    expect(w.output.some((l) => l.includes('FAIL  kind') && l.includes('not found on PATH'))).toBe(true);
    expect(w.recorder.calls.some((c) => c.startsWith('kind create'))).toBe(false);
  });
});

describe('make up waits until the gateway accepts a token of the user service (istiod and the JWKS)', () => {
  const halfDone = () => halfDoneWorld(objects);
  const istiodPatches = (w: World) => w.cluster.patches.filter((p) => p.name === 'Deployment istio-system/istiod');

  it('restarts istiod once when fresh tokens stay refused (401: its JWKS fetch ran before the user service and backs off), then passes', async () => {
    const w = halfDone();
    w.gateway.acceptsTokens = false;
    const patch = w.cluster.mergePatch.bind(w.cluster);
    w.cluster.mergePatch = async (...args: Parameters<typeof patch>) => {
      await patch(...args);
      if (args[2] === 'istiod') w.gateway.acceptsTokens = true; // a fresh istiod fetches the JWKS at once
    };
    const results = await up(w, { skipImages: true });
    expect(outcomes(results)['gateway-auth']).toBe('ran');
    expect(istiodPatches(w)).toEqual([
      {
        name: 'Deployment istio-system/istiod',
        patch: { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': expect.any(String) } } } } },
      },
    ]);
    // Refused tokens are given jwksNudgeMs (20 s) before the restart: istiod may be about to push.
    expect(w.output).toContain(
      '  tokens refused for 20.0s (GET /users/me with a fresh token answered 401 (Jwt verification fails)): istiod fetched the JWKS before the user service ran and is backing off; restarting istiod',
    );
    expect(detail(results, 'gateway-auth')).toMatch(
      /^GET \/users\/me answered 200 to a fresh token after 12 tries \(\d+\.\ds\); istiod was restarted to fetch the JWKS; `make smoke` runs the whole flow$/,
    );
    // Each try is the smoke test's flow: register, log in, the JWT-protected route with the token.
    expect(w.gateway.requests.slice(0, 3)).toEqual(['POST /users', 'POST /sessions', 'GET /users/me']);
  });

  it('restarts nothing when the gateway accepts tokens by itself within jwksNudgeMs, and prints progress while it waits', async () => {
    const w = halfDone();
    let first: number | undefined;
    const real = w.gateway.fetch;
    (w.ctx as { fetch?: typeof fetch }).fetch = (async (input: string | URL | Request, init?: RequestInit) => {
      first ??= w.clock;
      // 40 s without a healthy user pod behind the gateway, then 10 s of refused tokens, then accepted.
      if (w.clock - first < 40_000) return new Response('no healthy upstream', { status: 503 });
      w.gateway.acceptsTokens = w.clock - first >= 50_000;
      return real(input, init);
    }) as typeof fetch;
    const results = await up(w, { skipImages: true });
    expect(outcomes(results)['gateway-auth']).toBe('ran');
    expect(istiodPatches(w)).toEqual([]);
    expect(w.output).toContain('  … 30.0s: waiting for the gateway to accept a token: POST /users answered 503 (no healthy upstream)');
    expect(detail(results, 'gateway-auth')).toMatch(/^GET \/users\/me answered 200 to a fresh token after 26 tries \(50\.0s\); `make smoke`/);
  });

  it('waits without restarting istiod while the gateway has no route or the user service does not answer yet', async () => {
    const w = halfDone();
    let calls = 0;
    const real = w.gateway.fetch;
    (w.ctx as { fetch?: typeof fetch }).fetch = (async (input: string | URL | Request, init?: RequestInit) =>
      ++calls <= 3 ? new Response('no healthy upstream', { status: 503 }) : real(input, init)) as typeof fetch;
    const results = await up(w, { skipImages: true });
    expect(detail(results, 'gateway-auth')).toMatch(/^GET \/users\/me answered 200 to a fresh token after 4 tries/);
    expect(istiodPatches(w)).toEqual([]);
  });

  it('fails after gatewayAuthMs with the last answer and where to look when tokens are never accepted', async () => {
    const w = halfDone();
    w.gateway.acceptsTokens = false;
    const results = await up(w, { skipImages: true });
    expect(outcomes(results)['gateway-auth']).toBe('failed');
    expect(detail(results, 'gateway-auth')).toBe(
      'timed out after 5m00s waiting for the gateway to accept a token of the user service: last try: GET /users/me with a fresh token answered 401 (Jwt verification fails)',
    );
    expect(
      w.output.some((l) =>
        l.includes('istiod has no valid JWKS for the issuer even after a restart: check that the user service serves /.well-known/jwks.json'),
      ),
    ).toBe(true);
    expect(istiodPatches(w)).toHaveLength(1);
  });
});
