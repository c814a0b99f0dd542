import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { HttpMetrics } from '../../apps/kit/metrics.js';
import { defaultTimeouts, type Context } from '../../cli/context.js';
import { formatCommand } from '../../cli/runner.js';
import { clusterEnvironment } from '../../chaos/cluster/environment.js';
import { chaosKubeApi, ClusterAccess, inPodHttpScript } from '../../chaos/cluster/kube.js';
import type { ChaosEnvironment } from '../../chaos/environment.js';
import { counterDeltas, gaugeTotals } from '../../chaos/metrics/collector.js';
import { openCluster } from '../../chaos/main.js';
import { synthChaos } from '../../chaos/synth.js';
import { KubeClient, type KubeObject } from '../../infra/kube-client.js';
import { kubeconfigFor } from '../cli/support/world.js';
import { Recorder } from '../cli/support/recorder.js';

// The Kubernetes steps of the chaos scenarios against the real kube-apiserver (no kubelet:
// pods are created and marked ready here, as the kubelet would; what needs the kubelet —
// kubectl exec and port-forward — goes through the bring-up's CommandRunner, recorded).

const connection = inject('kube');
const admin = new KubeClient(connection);
const run = randomBytes(3).toString('hex');
const ns = { shop: `chaos-shop-${run}`, kafka: `chaos-kafka-${run}`, istio: `chaos-istio-${run}` };
const kubeconfig = '/tmp/chaos-test-kubeconfig';
const resourcesDir = mkdtempSync(join(tmpdir(), 'meshkit-chaos-res-'));
const created: KubeObject[] = [];

async function createPod(namespace: string, name: string, labels: Record<string, string>, ready = true): Promise<void> {
  const pod: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels },
    spec: { containers: [{ name: labels.app ?? 'main', image: 'example/app:1' }] },
  };
  await admin.request('POST', `/api/v1/namespaces/${namespace}/pods`, { body: pod });
  created.push(pod);
  if (ready) await markReady(namespace, name);
}

/** What the kubelet would report for a started pod. */
async function markReady(namespace: string, name: string): Promise<void> {
  await admin.request('PATCH', `/api/v1/namespaces/${namespace}/pods/${name}/status`, {
    contentType: 'application/merge-patch+json',
    body: { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date().toISOString() }] } },
  });
}

async function ensureNamespace(name: string): Promise<void> {
  await admin
    .request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } })
    .catch((error: { status?: number }) => {
      if (error.status !== 409) throw error;
    });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function access(recorder: Recorder, fetchImpl?: typeof fetch): ClusterAccess {
  return new ClusterAccess({
    api: chaosKubeApi(new KubeClient(connection)),
    runner: recorder,
    kubeconfig,
    sleep: () => sleep(50),
    now: Date.now,
    fetch: fetchImpl,
    freePort: async () => 45678,
  });
}

function environment(recorder: Recorder, fetchImpl?: typeof fetch): ChaosEnvironment {
  return clusterEnvironment({
    access: access(recorder, fetchImpl),
    baseUrl: 'http://localhost:8080',
    namespaces: ns,
    kafkaCluster: 'meshkit',
    servicePort: () => 8080,
    adminPort: 9090,
    resourcesDir,
    orderSweep: { intervalMs: 10_000, staleMs: 60_000 },
  });
}

const execLine = (namespace: string, pod: string, container: string, ...command: string[]) =>
  formatCommand('kubectl', ['--kubeconfig', kubeconfig, 'exec', '--namespace', namespace, pod, '--container', container, '--', ...command]);

async function metricsText(status: number, count: number): Promise<string> {
  const metrics = new HttpMetrics('payment', { defaultMetrics: false });
  for (let i = 0; i < count; i++) metrics.observe('POST', '/charges', status, 0.01);
  return metrics.registry.metrics();
}

beforeAll(async () => {
  for (const name of Object.values(ns)) await ensureNamespace(name);
  await createPod(ns.shop, 'payment-b', { app: 'payment' });
  await createPod(ns.shop, 'payment-a', { app: 'payment' });
  await createPod(ns.shop, 'payment-c', { app: 'payment' }, false);
  await createPod(ns.shop, 'order-1', { app: 'order' });
  await createPod(ns.istio, 'istio-ingressgateway-x', { istio: 'ingressgateway', app: 'istio-ingressgateway' });
  synthChaos(resourcesDir);
});

afterAll(async () => {
  for (const pod of created) await admin.delete('v1', 'Pod', pod.metadata.name, pod.metadata.namespace).catch(() => undefined);
  for (const name of Object.values(ns)) await admin.delete('v1', 'Namespace', name).catch(() => undefined);
  rmSync(resourcesDir, { recursive: true, force: true });
  admin.close();
});

describe('pods and the chaos switch', () => {
  it('picks the ready pods of a service by its app label, in name order', async () => {
    expect(await environment(new Recorder()).instances('payment')).toEqual(['payment-a', 'payment-b']);
  });

  it('says when a service has no ready pod', async () => {
    await expect(environment(new Recorder()).instances('user')).rejects.toThrow(
      `no ready pod of user in namespace ${ns.shop}: \`make status\` shows what is missing`,
    );
  });

  it('sets and resets one pod’s chaos switch on its admin port through kubectl exec', async () => {
    const recorder = new Recorder().on(/ exec /, { stdout: '{"failRate":0.5,"latencyMs":0}' });
    const env = environment(recorder);
    await env.setChaos('payment', 'payment-a', { failRate: 0.5, latencyMs: 0 });
    await env.clearChaos('payment', 'payment-a');
    expect(recorder.calls).toEqual([
      execLine(ns.shop, 'payment-a', 'payment', 'node', '-e', inPodHttpScript, 'POST', 'http://127.0.0.1:9090/admin/chaos', '{"failRate":0.5,"latencyMs":0}'),
      execLine(ns.shop, 'payment-a', 'payment', 'node', '-e', inPodHttpScript, 'DELETE', 'http://127.0.0.1:9090/admin/chaos'),
    ]);
  });

  it('fails with the command and its output when the exec fails', async () => {
    const recorder = new Recorder().on(/ exec /, { code: 1, stderr: 'error: unable to upgrade connection: container not found ("payment")' });
    await expect(environment(recorder).setChaos('payment', 'payment-a', { failRate: 0.5, latencyMs: 0 })).rejects.toThrow(
      /failed with exit code 1:\n.*container not found/,
    );
  });
});

describe('metric collection', () => {
  it('reads /metrics of every ready pod of a service through kubectl exec, per pod', async () => {
    const answers: Record<string, string> = { 'payment-a': await metricsText(503, 7), 'payment-b': await metricsText(201, 3) };
    const recorder = new Recorder().on(/ exec .* GET http:\/\/127\.0\.0\.1:9090\/metrics$/, (line) => ({
      stdout: answers[/ (payment-[ab]) /.exec(line)![1]!],
    }));
    const snapshot = await environment(recorder).serviceMetrics('payment').snapshot(Date.now());
    expect(Object.keys(snapshot)).toEqual(['payment-a', 'payment-b']);
    expect(snapshot['payment-a']!.counters['payment.503']).toBe(7);
    expect(counterDeltas({}, snapshot)['payment.requests']).toBe(10);
  });

  it('reads Envoy stats of the gateway pods and of a service’s sidecars with pilot-agent', async () => {
    const stats = (retries: number) =>
      `cluster.outbound|8080|v1|payment.${ns.shop}.svc.cluster.local.upstream_rq_retry: ${retries}\ncluster.outbound|8080|v1|payment.${ns.shop}.svc.cluster.local.outlier_detection.ejections_active: 1\n`;
    const recorder = new Recorder().on(/pilot-agent request GET stats$/, (line) => ({ stdout: stats(line.includes('order-1') ? 5 : 2) }));
    const env = environment(recorder);
    const sidecars = await env.envoy!('order', 'payment').snapshot(Date.now());
    const gateway = await env.envoy!('gateway', 'payment').snapshot(Date.now());
    expect(recorder.calls).toEqual([
      execLine(ns.shop, 'order-1', 'istio-proxy', 'pilot-agent', 'request', 'GET', 'stats'),
      execLine(ns.istio, 'istio-ingressgateway-x', 'istio-proxy', 'pilot-agent', 'request', 'GET', 'stats'),
    ]);
    expect(sidecars[`${ns.shop}/order-1`]!.counters['envoy.retries']).toBe(5);
    expect(gateway[`${ns.istio}/istio-ingressgateway-x`]!.counters['envoy.retries']).toBe(2);
    expect(gaugeTotals(sidecars)['envoy.ejected_now']).toBe(1);
  });

  it('port-forwards Prometheus to a free loopback port and waits until it is ready', async () => {
    const recorder = new Recorder();
    let probes = 0;
    const fakeFetch = (async (url: string | URL) => {
      probes += 1;
      if (probes < 3) throw new Error('ECONNREFUSED');
      expect(String(url)).toBe('http://127.0.0.1:45678/-/ready');
      return new Response('Prometheus Server is Ready.');
    }) as typeof fetch;
    const { url, forward } = await access(recorder, fakeFetch).forwardPrometheus(ns.istio);
    expect(url).toBe('http://127.0.0.1:45678');
    expect(recorder.started.map((s) => s.line)).toEqual([
      `kubectl --kubeconfig ${kubeconfig} port-forward --namespace ${ns.istio} service/prometheus 45678:9090`,
    ]);
    forward.stop();
    expect(recorder.started[0]!.stopped).toBe(true);
  });

  it('says why when the Prometheus port-forward dies', async () => {
    const recorder = new Recorder();
    const fakeFetch = (async () => {
      recorder.started[0]?.finish({ code: 1, stderr: 'error: services "prometheus" not found' });
      throw new Error('ECONNREFUSED');
    }) as typeof fetch;
    await expect(access(recorder, fakeFetch).forwardPrometheus(ns.istio)).rejects.toThrow(
      /exited with code 1: error: services "prometheus" not found \(`make up` installs the Prometheus add-on\)/,
    );
  });
});

describe('fault resources', () => {
  it('applies the synthesized edge faults for real and deletes exactly them on revert', async () => {
    await ensureNamespace('shop');
    const env = environment(new Recorder());
    const applied = await env.applyResources!('edge-faults');
    expect(applied.description).toBe('applied VirtualService shop/edge-faults');
    const stored = await admin.get('networking.istio.io/v1', 'VirtualService', 'edge-faults', 'shop');
    expect(stored?.spec).toMatchObject({ hosts: ['faults.chaos.meshkit.local'], gateways: ['istio-system/edge'] });
    expect(await applied.remove()).toBe('deleted VirtualService shop/edge-faults');
    expect(await admin.get('networking.istio.io/v1', 'VirtualService', 'edge-faults', 'shop')).toBeUndefined();
    expect(await applied.remove()).toBe('deleted nothing (already gone)');
  });

  it('says how to make a fault resource that was never synthesized', async () => {
    await expect(environment(new Recorder()).applyResources!('no-such-chart')).rejects.toThrow(
      `${join(resourcesDir, 'no-such-chart.yaml')} is missing: run \`make chaos\``,
    );
  });
});

describe('killing pods', () => {
  it('kills the database pod of one service at once and waits for the replacement the StatefulSet makes', async () => {
    await createPod(ns.shop, 'product-db-0', { app: 'product-db' });
    const before = await admin.get('v1', 'Pod', 'product-db-0', ns.shop);
    const env = environment(new Recorder());
    const outage = await env.killDatabase!('product');
    expect(outage.description).toBe(`killed product database pod ${ns.shop}/product-db-0 (grace period 0)`);
    // No kubelet holds it: a pod deleted with grace 0 is gone at once.
    expect(await admin.get('v1', 'Pod', 'product-db-0', ns.shop)).toBeUndefined();
    // Play the StatefulSet controller and the kubelet: same name, new pod.
    const controller = (async () => {
      await sleep(300);
      await createPod(ns.shop, 'product-db-0', { app: 'product-db' }, false);
      await sleep(300);
      await markReady(ns.shop, 'product-db-0');
    })();
    expect(await outage.restore(10_000)).toBe('replacement ready: product-db-0');
    await controller;
    const after = await admin.get('v1', 'Pod', 'product-db-0', ns.shop);
    expect(after!.metadata.uid).not.toBe(before!.metadata.uid);
  });

  it('gives up waiting for a replacement after the timeout, saying what it saw', async () => {
    await createPod(ns.shop, 'user-db-0', { app: 'user-db' });
    const outage = await environment(new Recorder()).killDatabase!('user');
    await expect(outage.restore(300)).rejects.toThrow('no ready replacement for user-db-0 in ' + ns.shop + ' within 0s: no pods');
  });

  it('kills the Kafka broker pod, chosen by its Strimzi labels, and leaves the operators alone', async () => {
    await createPod(ns.kafka, 'meshkit-dual-role-0', { app: 'kafka', 'strimzi.io/cluster': 'meshkit', 'strimzi.io/broker-role': 'true' });
    await createPod(ns.kafka, 'meshkit-entity-operator-x', { app: 'entity-operator', 'strimzi.io/cluster': 'meshkit' });
    const outage = await environment(new Recorder()).killKafkaBroker!();
    expect(outage.description).toBe(`killed Kafka broker pod ${ns.kafka}/meshkit-dual-role-0 (grace period 0)`);
    expect(await admin.get('v1', 'Pod', 'meshkit-dual-role-0', ns.kafka)).toBeUndefined();
    expect(await admin.get('v1', 'Pod', 'meshkit-entity-operator-x', ns.kafka)).toBeDefined();
  });

  it('refuses to report an outage when there is nothing to kill', async () => {
    await expect(environment(new Recorder()).killDatabase!('notification')).rejects.toThrow(
      `no ready notification database pod (app=notification-db) in namespace ${ns.shop}`,
    );
  });
});

describe('restocking', () => {
  it('raises the product stock with one UPDATE through psql in the product database pod', async () => {
    await admin.delete('v1', 'Pod', 'product-db-0', ns.shop); // the replacement an earlier test made
    await createPod(ns.shop, 'product-db-1', { app: 'product-db' });
    const recorder = new Recorder().on(/psql/, { stdout: 'UPDATE 6\n' });
    const done = await environment(recorder).restock!(5_000);
    const sql = 'UPDATE inventory SET available = GREATEST(available, 5000)';
    expect(recorder.calls).toEqual([
      execLine(ns.shop, 'product-db-1', 'postgres', 'sh', '-c', `psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c '${sql}'`),
    ]);
    expect(done).toBe(`${sql} in product-db-1: UPDATE 6`);
  });
});

describe('the chaos CLI’s cluster mode', () => {
  it('opens the kind cluster through the bring-up’s session and finds the shop’s pods', async () => {
    await ensureNamespace('shop');
    await createPod('shop', `notification-chaos-${run}`, { app: 'notification' });
    const recorder = new Recorder()
      .on('kind get clusters', { stdout: 'meshkit\n' })
      .on('kind get kubeconfig --name meshkit', { stdout: kubeconfigFor(connection) });
    const ctx: Context = {
      runner: recorder,
      connect: () => {
        throw new Error('openCluster makes its own client');
      },
      print: () => undefined,
      repoRoot: resourcesDir,
      workDir: mkdtempSync(join(tmpdir(), 'meshkit-chaos-work-')),
      env: {},
      timeouts: defaultTimeouts,
      now: Date.now,
      sleep,
      portFree: async () => true,
      hostFreeMemory: () => 16 * 1024 ** 3,
    };
    const env = await openCluster(ctx);
    try {
      expect(env.description).toBe('the kind cluster through the Istio ingress gateway at http://localhost:8080');
      expect(await env.instances('notification')).toEqual([`notification-chaos-${run}`]);
      expect(recorder.calls).toEqual(['kind get clusters', 'kind get kubeconfig --name meshkit']);
    } finally {
      await env.close();
    }
  });

  it('says to run make up when there is no kind cluster', async () => {
    const recorder = new Recorder().on('kind get clusters', { stdout: 'other\n' });
    await expect(openCluster({ runner: recorder } as unknown as Context)).rejects.toThrow('no kind cluster meshkit: `make up` first');
  });
});
