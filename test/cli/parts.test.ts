import { describe, expect, it } from 'vitest';
import { versions } from '../../constructs/versions.js';
import { connectionFromKubeconfig, type KubeObject } from '../../cli/cluster-api.js';
import { imageVersion, loadAddons, probeIstio } from '../../cli/istio.js';
import { phaseOf } from '../../cli/manifests.js';
import { orderForApply } from '../../manifests/deploy-order.js';
import { parseObjects } from '../../manifests/parse.js';
import { runPlan } from '../../cli/plan.js';
import { readiness } from '../../cli/readiness.js';
import { CommandError, formatCommand, mustRun, ProcessRunner } from '../../cli/runner.js';
import { ensureSecrets } from '../../cli/secrets.js';
import { Bringup } from '../../cli/up.js';
import { FakeCluster } from './support/fake-cluster.js';
import { helmRelease, istioObjects, kindKubeconfig, makeWorld, strimziObjects } from './support/world.js';

const obj = (kind: string, name: string, apiVersion = 'v1', extra: Partial<KubeObject> = {}): KubeObject => ({
  apiVersion,
  kind,
  metadata: { name, namespace: 'shop' },
  ...extra,
});

describe('command lines', () => {
  it('are printed as a shell would need them, quoting only what needs quoting', () => {
    expect(formatCommand('kind', ['create', 'cluster', '--name', 'meshkit'])).toBe('kind create cluster --name meshkit');
    expect(formatCommand('helm', ['list', '--filter', '^strimzi$', "it's"])).toBe(`helm list --filter '^strimzi$' 'it'\\''s'`);
  });

  it('run for real without a shell: output, exit codes, a missing program, a timeout', async () => {
    const runner = new ProcessRunner(() => undefined);
    expect(await runner.run(process.execPath, ['-e', 'process.stdout.write("a b"); process.stderr.write("warn"); process.exit(3)'])).toEqual({
      code: 3,
      stdout: 'a b',
      stderr: 'warn',
    });
    expect(await runner.run(process.execPath, ['-e', 'process.stdin.pipe(process.stdout)'], { input: 'piped' })).toMatchObject({ code: 0, stdout: 'piped' });
    expect(await runner.run('meshkit-no-such-tool', [])).toEqual({ code: 127, stdout: '', stderr: 'meshkit-no-such-tool: command not found' });
    expect((await runner.run(process.execPath, ['-e', 'setTimeout(() => {}, 10000)'], { timeoutMs: 200 })).code).toBe(124);
    const forward = runner.start(process.execPath, ['-e', 'setTimeout(() => {}, 10000)']);
    forward.stop();
    expect((await forward.exited).code).toBe(143);
  });

  it('that fail raise an error with the command, the exit code, the last output lines and the fix', async () => {
    const runner = new ProcessRunner(() => undefined);
    const error = await mustRun(runner, process.execPath, ['-e', 'console.error("line 1\\nline 2"); process.exit(2)'], { fix: 'do this' }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CommandError);
    expect((error as Error).message).toBe(
      `\`${process.execPath} -e 'console.error("line 1\\nline 2"); process.exit(2)'\` failed with exit code 2:\n    line 1\n    line 2\n  fix: do this`,
    );
  });
});

describe('kubeconfig from kind', () => {
  it('gives the server, the CA and the client certificate of the current context', () => {
    const c = connectionFromKubeconfig(kindKubeconfig('https://127.0.0.1:40000'));
    expect(c).toEqual({
      url: 'https://127.0.0.1:40000',
      caCert: '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n',
      token: '',
      clientCert: '-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n',
      clientKey: '-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n',
    });
    expect(() => connectionFromKubeconfig(kindKubeconfig(), 'kind-other')).toThrow("kubeconfig has no context 'kind-other'");
  });
});

describe('manifests', () => {
  it('are ordered definitions, identities, Services, policy, DestinationRules, VirtualServices, then workloads; stable within a kind', () => {
    const input = [
      obj('Deployment', 'a', 'apps/v1'),
      obj('VirtualService', 'a', 'networking.istio.io/v1'),
      obj('PodDisruptionBudget', 'a', 'policy/v1'),
      obj('Widget', 'a', 'example.com/v1'),
      obj('DestinationRule', 'b', 'networking.istio.io/v1'),
      obj('DestinationRule', 'a', 'networking.istio.io/v1'),
      obj('AuthorizationPolicy', 'a', 'security.istio.io/v1'),
      obj('StatefulSet', 'a-db', 'apps/v1'),
      obj('Service', 'a'),
      obj('ServiceAccount', 'a'),
      obj('CustomResourceDefinition', 'widgets.example.com', 'apiextensions.k8s.io/v1'),
      obj('Namespace', 'shop'),
    ];
    expect(orderForApply(input).map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'Namespace/shop',
      'CustomResourceDefinition/widgets.example.com',
      'ServiceAccount/a',
      'Service/a',
      'AuthorizationPolicy/a',
      'DestinationRule/b',
      'DestinationRule/a',
      'VirtualService/a',
      'Widget/a',
      'StatefulSet/a-db',
      'Deployment/a',
      'PodDisruptionBudget/a',
    ]);
  });

  it('are split into the namespaces, Kafka and shop steps', () => {
    expect(phaseOf({ apiVersion: 'v1', kind: 'Namespace' })).toBe('namespaces');
    expect(phaseOf({ apiVersion: 'kafka.strimzi.io/v1', kind: 'KafkaTopic' })).toBe('kafka');
    expect(phaseOf({ apiVersion: 'security.istio.io/v1', kind: 'RequestAuthentication' })).toBe('shop');
  });

  it("are parsed from multi-document YAML with Helm's document end markers, rejecting what is not an object", () => {
    const text =
      '---\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\n...\n---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n...\n';
    expect(parseObjects(text, 'x.yaml').map((o) => o.metadata.name)).toEqual(['a', 'b']);
    expect(() => parseObjects('apiVersion: v1\nkind: Service\n', 'y.yaml')).toThrow('y.yaml: document 1 is not a Kubernetes object');
    expect(() => loadAddons(undefined)).toThrow(/set ISTIO_HOME to the Istio 1\.30\.8 release directory/);
  });
});

describe('readiness', () => {
  const deployment = (status: Record<string, unknown>, generation = 2) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'd', generation },
    spec: { replicas: 2 },
    status,
  });
  const available = { type: 'Available', status: 'True' };

  it('of a Deployment needs the current generation observed, Available, and every replica updated and available', () => {
    expect(readiness(deployment({ observedGeneration: 2, updatedReplicas: 2, availableReplicas: 2, replicas: 2, conditions: [available] })).ready).toBe(true);
    expect(readiness(deployment({ observedGeneration: 1, updatedReplicas: 2, availableReplicas: 2, replicas: 2, conditions: [available] })).ready).toBe(false);
    expect(readiness(deployment({ observedGeneration: 2, updatedReplicas: 1, availableReplicas: 2, replicas: 3, conditions: [available] })).detail).toBe(
      '2/2 available, 1 updated',
    );
    expect(readiness(deployment({ observedGeneration: 2, updatedReplicas: 2, availableReplicas: 2, replicas: 3, conditions: [available] })).ready).toBe(false);
    expect(readiness(undefined)).toEqual({ ready: false, detail: 'does not exist' });
  });

  it('of a StatefulSet, a CRD and Strimzi resources follows their own status', () => {
    expect(
      readiness({
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { name: 's' },
        spec: { replicas: 1 },
        status: { readyReplicas: 1, updatedReplicas: 1 },
      }).ready,
    ).toBe(true);
    expect(
      readiness({
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: 'c' },
        status: { conditions: [{ type: 'Established', status: 'True' }] },
      }).ready,
    ).toBe(true);
    const kafka = (status: Record<string, unknown>) => ({ apiVersion: 'kafka.strimzi.io/v1', kind: 'Kafka', metadata: { name: 'k', generation: 3 }, status });
    expect(readiness(kafka({ observedGeneration: 3, conditions: [{ type: 'Ready', status: 'True' }] })).ready).toBe(true);
    expect(readiness(kafka({ observedGeneration: 2, conditions: [{ type: 'Ready', status: 'True' }] })).ready).toBe(false);
    expect(readiness(kafka({ conditions: [{ type: 'NotReady', status: 'True', reason: 'InvalidResourceException', message: 'bad' }] }))).toEqual({
      ready: false,
      detail: 'NotReady=True (InvalidResourceException: bad)',
    });
    expect(readiness({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' } }).ready).toBe(true);
  });
});

describe('Istio', () => {
  it('reads the running version out of the istiod image reference', () => {
    expect(imageVersion('docker.io/istio/pilot:1.30.8')).toBe('1.30.8');
    expect(imageVersion('gcr.io/istio-release/pilot:1.30.8-distroless')).toBe('1.30.8');
    expect(imageVersion('localhost:5000/istio/pilot:1.30.8@sha256:0123abcd')).toBe('1.30.8');
    expect(imageVersion('docker.io/istio/pilot:latest')).toBeUndefined();
  });

  it('counts as installed only at the pinned version, with the NodePort gateway, both ready', async () => {
    const api = new FakeCluster();
    expect(await probeIstio(api)).toEqual({ done: false, detail: 'Istio is not installed' });
    const [istiod, gateway, service] = istioObjects();
    api
      .putReady(istiod!)
      .putReady(gateway!)
      .put({ ...service!, spec: { type: 'LoadBalancer', ports: [{ port: 80, nodePort: 31234 }] } });
    expect(await probeIstio(api)).toEqual({ done: false, detail: 'the ingress gateway Service is LoadBalancer without NodePorts 30080/30443' });
    api.put(service!);
    expect(await probeIstio(api)).toEqual({ done: true, detail: `Istio ${versions.istio} ready, ingress gateway on NodePort 30080/30443` });
    api.put(gateway!);
    expect((await probeIstio(api)).detail).toBe(`Istio ${versions.istio} installed, istio-ingressgateway not ready (0/1 available, 0 updated)`);
  });

  it('install failures come with a diagnosis of istiod and the gateway', async () => {
    const w = makeWorld();
    w.recorder.on('kind get kubeconfig --name meshkit', { stdout: kindKubeconfig() }).on(/istioctl install /, {
      code: 1,
      stderr: 'Istiod encountered an error: failed to wait for resource: resources not ready after 5m0s: context deadline exceeded\n',
    });
    w.cluster.put({ ...istioObjects()[0]!, spec: { ...(istioObjects()[0]!.spec as object), selector: { matchLabels: { app: 'istiod' } } } });
    w.cluster.put({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'istiod-5c-abc', namespace: 'istio-system', labels: { app: 'istiod' } },
      status: {
        phase: 'Pending',
        conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available: 1 Insufficient memory.' }],
      },
    });
    const bringup = new Bringup(w.ctx, { objects: () => [], secrets: () => [] });
    const [result] = await runPlan(w.ctx, 'up', bringup.steps(['istio']));
    expect(result!.outcome).toBe('failed');
    const report = w.output.join('\n');
    expect(report).toContain('context deadline exceeded');
    expect(report).toContain('    Deployment istio-system/istiod: 0/1 available, 0 updated\n      pod istio-system/istiod-5c-abc: Pending, not ready');
    expect(report).toContain('hint: not enough memory or CPU for the cluster');
    expect(report).toContain('    Deployment istio-system/istio-ingressgateway: does not exist');
  });
});

describe('Strimzi', () => {
  it('on a version change upgrades the release, then the CRDs Helm leaves alone, and waits for the operator', async () => {
    const w = makeWorld();
    const kc = `${w.dirs.work}/kubeconfig`;
    let chart = 'strimzi-kafka-operator-1.1.0';
    const crds = strimziObjects().filter((o) => o.kind === 'CustomResourceDefinition');
    w.recorder
      .on('kind get kubeconfig --name meshkit', { stdout: kindKubeconfig() })
      .on(`helm list --kubeconfig ${kc} --namespace kafka --filter '^strimzi-cluster-operator$' --output json`, () => ({ stdout: helmRelease(chart) }))
      .on(/^helm upgrade --install /, {}, () => {
        chart = `strimzi-kafka-operator-${versions.strimzi}`;
        w.cluster.putReady(strimziObjects()[0]!);
      })
      .on(`helm show crds oci://quay.io/strimzi-helm/strimzi-kafka-operator --version ${versions.strimzi}`, {
        stdout: crds.map((c) => `---\n${JSON.stringify(c)}\n`).join(''),
      });
    const bringup = new Bringup(w.ctx, { objects: () => [], secrets: () => [] });
    const [result] = await runPlan(w.ctx, 'up', bringup.steps(['strimzi']));
    expect(result).toMatchObject({
      outcome: 'ran',
      detail: `upgraded from strimzi-kafka-operator-1.1.0 strimzi-kafka-operator-${versions.strimzi}; CRDs upgraded: 3 objects: 3 created, 0 configured, 0 unchanged`,
    });
    expect(w.output).toContain(
      `  Helm release strimzi-cluster-operator is strimzi-kafka-operator-1.1.0 (deployed), pinned is strimzi-kafka-operator-${versions.strimzi}`,
    );
    expect(w.recorder.calls.filter((c) => c.startsWith('helm '))).toEqual([
      `helm list --kubeconfig ${kc} --namespace kafka --filter '^strimzi-cluster-operator$' --output json`,
      `helm list --kubeconfig ${kc} --namespace kafka --filter '^strimzi-cluster-operator$' --output json`,
      `helm upgrade --install strimzi-cluster-operator oci://quay.io/strimzi-helm/strimzi-kafka-operator --version ${versions.strimzi} --namespace kafka --kubeconfig ${kc}`,
      `helm show crds oci://quay.io/strimzi-helm/strimzi-kafka-operator --version ${versions.strimzi}`,
    ]);
  });
});

describe('database Secrets', () => {
  const ref = { name: 'user-db-credentials', namespace: 'shop', keys: ['password'], createdBy: 'make up' };

  it('are never overwritten; one that exists without the key is reported with the fix', async () => {
    const api = new FakeCluster().put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: ref.name, namespace: 'shop' }, data: { pass: 'eA==' } });
    await expect(ensureSecrets(api, [ref])).rejects.toThrow(
      'Secret shop/user-db-credentials exists but lacks key(s) password; it was not created by meshkit. Delete it (kubectl -n shop delete secret user-db-credentials) and re-run; the CLI never overwrites a Secret.',
    );
    expect(api.createdSecrets).toEqual([]);
  });

  it('keep the value of a concurrent run that created the Secret first', async () => {
    const api = new FakeCluster();
    const get = api.get.bind(api);
    let first = true;
    // Between our read and our create, another `make up` creates it.
    api.get = async (...args) => {
      const found = await get(...args);
      if (first && args[1] === 'Secret') {
        first = false;
        await api.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: ref.name, namespace: 'shop' }, stringData: { password: 'theirs' } });
      }
      return found;
    };
    expect(await ensureSecrets(api, [ref])).toEqual({ created: [], kept: ['shop/user-db-credentials'] });
    expect(api.createdSecrets).toHaveLength(1);
    expect(Buffer.from((api.createdSecrets[0]!.data as { password: string }).password, 'base64').toString()).toBe('theirs');
  });
});
