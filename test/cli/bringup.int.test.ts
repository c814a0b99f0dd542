import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { applyObjects } from '../../cli/apply.js';
import { kubeClusterApi, type ClusterApi } from '../../cli/cluster-api.js';
import { defaultTimeouts, type Context } from '../../cli/context.js';
import type { DiagnoseDeps } from '../../cli/diagnose.js';
import { parseObjects } from '../../manifests/parse.js';
import { runPlan, type StepResult } from '../../cli/plan.js';
import { Bringup, type PlatformInputs } from '../../cli/up.js';
import { waitUntilReady, WaitTimeoutError } from '../../cli/wait.js';
import { ensureStrimziCrds } from '../../infra/upstream/strimzi-crds.js';
import { KubeClient, type KubeObject } from '../../infra/kube-client.js';
import { kubeconfigFor } from './support/world.js';
import { synthPlatform } from '../support/platform.js';
import { Recorder } from './support/recorder.js';

const connection = inject('kube');
/** Drives the test server directly (status updates stand in for the controllers it lacks). */
const admin = new KubeClient(connection);
const { platform, objects } = synthPlatform();
const inputs: PlatformInputs = { objects: () => objects as KubeObject[], secrets: () => platform.requiredSecrets };

/**
 * Plays the Strimzi operator the test server lacks: marks every Kafka and KafkaTopic Ready
 * for its current generation, through the status subresource as the operator does.
 */
async function strimziReconciles(): Promise<void> {
  for (const kind of ['Kafka', 'KafkaTopic']) {
    for (const o of await admin.list('kafka.strimzi.io/v1', kind, { namespace: 'kafka' })) {
      const plural = kind === 'Kafka' ? 'kafkas' : 'kafkatopics';
      await admin.request('PATCH', `/apis/kafka.strimzi.io/v1/namespaces/kafka/${plural}/${o.metadata.name}/status`, {
        contentType: 'application/merge-patch+json',
        body: {
          status: { observedGeneration: o.metadata.generation, conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date().toISOString() }] },
        },
      });
    }
  }
}

function realContext(recorder: Recorder, output: string[], onSleep: () => Promise<void> = async () => undefined): Context {
  return {
    runner: recorder,
    connect: (c) => kubeClusterApi(new KubeClient(c)),
    print: (line) => output.push(line),
    repoRoot: mkdtempSync(join(tmpdir(), 'meshkit-cli-int-')),
    workDir: mkdtempSync(join(tmpdir(), 'meshkit-cli-work-')),
    env: {},
    timeouts: { ...defaultTimeouts, pollMs: 100, kafkaMs: 20_000, servicesMs: 20_000, strimziMs: 20_000 },
    now: () => Date.now(),
    sleep: async (ms) => {
      await onSleep();
      await new Promise((resolve) => setTimeout(resolve, ms));
    },
    portFree: async () => true,
    hostFreeMemory: () => 16 * 1024 ** 3,
  };
}

function kindRecorder(): Recorder {
  return new Recorder().on('kind get clusters', { stdout: 'meshkit\n' }).on('kind get kubeconfig --name meshkit', { stdout: kubeconfigFor(connection) });
}

const strimziCrds = () =>
  ensureStrimziCrds().flatMap((file) => parseObjects(readFileSync(file, 'utf8'), file).filter((o) => o.kind === 'CustomResourceDefinition'));

let api: ClusterApi;
let deps: DiagnoseDeps;
const quiet = realContext(new Recorder(), []);

beforeAll(() => {
  api = kubeClusterApi(new KubeClient(connection));
  deps = { api, logs: async () => '' };
});
afterAll(() => {
  api.close();
  admin.close();
});

describe('applying on a real kube-apiserver', () => {
  it('installs CustomResourceDefinitions first and sends their custom resources only once they are Established and served', async () => {
    const group = `cli-${randomBytes(4).toString('hex')}.meshkit.test`;
    const crd: KubeObject = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `widgets.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } } } },
          },
        ],
      },
    };
    const widget: KubeObject = { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'one', namespace: 'default' }, spec: { size: 3 } };
    // The custom resource comes first in the input: only reordering plus waiting makes this work.
    const summary = await applyObjects(quiet, deps, [widget, crd], { timeoutMs: 30_000 });
    expect(summary.created).toEqual([`CustomResourceDefinition widgets.${group}`, 'Widget default/one']);
    expect((await api.get(`${group}/v1`, 'Widget', 'one', 'default'))?.spec).toEqual({ size: 3 });
  });

  it("installs Strimzi's CRDs and waits until each is Established", async () => {
    const crds = strimziCrds();
    expect(crds.map((c) => c.metadata.name)).toEqual(
      expect.arrayContaining(['kafkas.kafka.strimzi.io', 'kafkanodepools.kafka.strimzi.io', 'kafkatopics.kafka.strimzi.io']),
    );
    await applyObjects(quiet, deps, crds, { timeoutMs: 60_000 });
    for (const crd of crds) {
      const stored = await api.get('apiextensions.k8s.io/v1', 'CustomResourceDefinition', crd.metadata.name);
      expect((stored?.status as { conditions: { type: string; status: string }[] }).conditions).toContainEqual(
        expect.objectContaining({ type: 'Established', status: 'True' }),
      );
    }
    expect(await api.serves('kafka.strimzi.io/v1', 'Kafka')).toBe(true);
  });
});

describe('make apply against a real kube-apiserver', () => {
  const steps = ['cluster', 'namespaces', 'secrets', 'kafka', 'shop'] as const;
  let first: StepResult[];
  let firstPasswords: Map<string, string>;

  async function passwords(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const ref of platform.requiredSecrets) {
      const secret = await api.get('v1', 'Secret', ref.name, ref.namespace);
      out.set(ref.name, Buffer.from((secret?.data as { password: string }).password, 'base64').toString('utf8'));
    }
    return out;
  }

  async function applyRun(): Promise<{ results: StepResult[]; output: string[]; recorder: Recorder }> {
    const recorder = kindRecorder();
    const output: string[] = [];
    const bringup = new Bringup(realContext(recorder, output, strimziReconciles), inputs);
    try {
      return { results: await runPlan(realContext(recorder, output, strimziReconciles), 'apply', bringup.steps(steps, 'apply')), output, recorder };
    } finally {
      bringup.close();
    }
  }

  beforeAll(async () => {
    // What the istio and strimzi steps leave behind: istio-system (mesh-wide policy lives there) and Strimzi's CRDs.
    await api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } });
    await applyObjects(quiet, deps, strimziCrds(), { timeoutMs: 60_000 });
    const run = await applyRun();
    first = run.results;
    expect(run.recorder.unscripted).toEqual([]);
    if (first.some((r) => r.outcome === 'failed')) throw new Error(run.output.join('\n'));
    firstPasswords = await passwords();
  });

  it('creates every synthesized object, server-side applied by field manager meshkit', async () => {
    expect(first.map((r) => `${r.id}:${r.outcome}`)).toEqual(['cluster:skipped', 'namespaces:ran', 'secrets:ran', 'kafka:ran', 'shop:ran']);
    for (const o of objects) {
      const stored = await api.get(o.apiVersion, o.kind, o.metadata.name, o.metadata.namespace);
      expect(stored, `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`).toBeDefined();
      const managers = ((stored!.metadata.managedFields ?? []) as { manager: string; operation: string }[])
        .filter((m) => m.operation === 'Apply')
        .map((m) => m.manager);
      expect(managers).toContain('meshkit');
    }
  });

  it('waited for Kafka and its topics to report Ready before applying the shop', async () => {
    const kafka = await api.get('kafka.strimzi.io/v1', 'Kafka', 'meshkit', 'kafka');
    expect((kafka?.status as { conditions: { type: string; status: string }[] }).conditions).toContainEqual(
      expect.objectContaining({ type: 'Ready', status: 'True' }),
    );
    expect(first.find((r) => r.id === 'kafka')?.detail).toMatch(/; 4 Ready$/);
  });

  it('creates each database Secret with a random alphanumeric password', async () => {
    expect([...firstPasswords.keys()].sort()).toEqual([
      'notification-db-credentials',
      'order-db-credentials',
      'payment-db-credentials',
      'product-db-credentials',
      'user-db-credentials',
    ]);
    for (const p of firstPasswords.values()) expect(p).toMatch(/^[A-Za-z0-9]{32}$/);
    const secret = await api.get('v1', 'Secret', 'order-db-credentials', 'shop');
    expect(secret?.metadata.labels).toEqual({ 'app.kubernetes.io/managed-by': 'meshkit-cli' });
  });

  /** resourceVersion and stored spec (keys sorted) of every synthesized object. */
  async function snapshot(): Promise<Map<string, { rv: string; spec: string }>> {
    const canon = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(canon)
        : v && typeof v === 'object'
          ? Object.fromEntries(
              Object.keys(v)
                .sort()
                .map((k) => [k, canon((v as Record<string, unknown>)[k])]),
            )
          : v;
    const out = new Map<string, { rv: string; spec: string }>();
    for (const o of objects) {
      const stored = await api.get(o.apiVersion, o.kind, o.metadata.name, o.metadata.namespace);
      out.set(`${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`, {
        rv: String(stored?.metadata.resourceVersion),
        spec: JSON.stringify(canon(stored?.spec)),
      });
    }
    return out;
  }

  it('changes nothing on a second run: nothing created, every password kept, every object as it was', async () => {
    const before = await snapshot();
    const { results } = await applyRun();
    const after = await snapshot();
    expect(results.map((r) => `${r.id}:${r.outcome}`)).toEqual(['cluster:skipped', 'namespaces:ran', 'secrets:skipped', 'kafka:ran', 'shop:ran']);
    expect(await passwords()).toEqual(firstPasswords);
    for (const [key, { spec }] of after) expect(spec, key).toBe(before.get(key)?.spec);
    // What the CLI reports as "configured" is exactly what the server rewrote. (The server
    // stores some empty lists and label maps, such as a NetworkPolicy's `egress: []`, as
    // absent; an object sending one is rewritten on each apply with the same content.)
    const rewritten = [...after].filter(([k, v]) => before.get(k)?.rv !== v.rv).length;
    const counts = ['namespaces', 'kafka', 'shop'].map((id) =>
      /^(\d+) objects: (\d+) created, (\d+) configured, (\d+) unchanged/.exec(results.find((r) => r.id === id)!.detail)!,
    );
    expect(counts.map((m) => Number(m[2]))).toEqual([0, 0, 0]);
    expect(counts.reduce((sum, m) => sum + Number(m[3]), 0)).toBe(rewritten);
    expect(counts.reduce((sum, m) => sum + Number(m[4]), 0)).toBe(objects.length - rewritten);
  });
});

describe('waiting on a real kube-apiserver', () => {
  const ns = `cli-wait-${randomBytes(3).toString('hex')}`;
  const deployment = (name: string): KubeObject => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image: `meshkit/${name}:dev` }] } },
    },
  });

  beforeAll(async () => {
    await api.apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]);
  });

  it('finishes as soon as the Deployment reports Available for its generation', async () => {
    const [stored] = await api.apply([deployment('ready')]);
    await admin.request('PATCH', `/apis/apps/v1/namespaces/${ns}/deployments/ready/status`, {
      contentType: 'application/merge-patch+json',
      body: {
        status: {
          observedGeneration: stored!.metadata.generation,
          replicas: 1,
          updatedReplicas: 1,
          readyReplicas: 1,
          availableReplicas: 1,
          conditions: [
            {
              type: 'Available',
              status: 'True',
              reason: 'MinimumReplicasAvailable',
              lastTransitionTime: new Date().toISOString(),
              lastUpdateTime: new Date().toISOString(),
            },
          ],
        },
      },
    });
    const started = Date.now();
    await waitUntilReady(quiet, deps, [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'ready', namespace: ns }], {
      timeoutMs: 10_000,
      what: 'the ready Deployment',
    });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('gives up on a Deployment that never becomes ready and reports its pod, the pod events and its last log lines', async () => {
    await api.apply([deployment('stuck')]);
    // What kubelet and the scheduler would have produced: a crash-looping pod and its events.
    const pod = 'stuck-6b7d9-x2x4q';
    await admin.request('POST', `/api/v1/namespaces/${ns}/pods`, {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: pod, labels: { app: 'stuck' } },
        spec: { containers: [{ name: 'stuck', image: 'meshkit/stuck:dev' }] },
      },
    });
    const now = new Date().toISOString();
    await admin.request('PATCH', `/api/v1/namespaces/${ns}/pods/${pod}/status`, {
      contentType: 'application/merge-patch+json',
      body: {
        status: {
          phase: 'Running',
          conditions: [
            { type: 'Ready', status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [stuck]', lastTransitionTime: now },
          ],
          containerStatuses: [
            {
              name: 'stuck',
              image: 'meshkit/stuck:dev',
              imageID: '',
              ready: false,
              restartCount: 3,
              state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container=stuck' } },
              lastState: { terminated: { reason: 'Error', exitCode: 1, startedAt: now, finishedAt: now } },
            },
          ],
        },
      },
    });
    await admin.request('POST', `/api/v1/namespaces/${ns}/events`, {
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: `${pod}.backoff` },
        involvedObject: { apiVersion: 'v1', kind: 'Pod', name: pod, namespace: ns },
        reason: 'BackOff',
        message: 'Back-off restarting failed container stuck in pod stuck',
        type: 'Warning',
        count: 5,
        firstTimestamp: now,
        lastTimestamp: now,
        source: { component: 'kubelet' },
      },
    });
    const recorder = new Recorder().on(`kubectl --kubeconfig /k logs --namespace ${ns} ${pod} --container stuck --tail=20 --previous`, {
      stdout: 'listening on :8080\nFATAL: password authentication failed for user "stuck"\n',
    });
    const logs: DiagnoseDeps['logs'] = async (namespace, name, container, { previous, tail }) => {
      const result = await recorder.run('kubectl', [
        '--kubeconfig',
        '/k',
        'logs',
        '--namespace',
        namespace,
        name,
        '--container',
        container,
        `--tail=${tail}`,
        ...(previous ? ['--previous'] : []),
      ]);
      if (result.code !== 0) throw new Error(result.stderr);
      return result.stdout;
    };

    const error = await waitUntilReady(quiet, { api, logs }, [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'stuck', namespace: ns }], {
      timeoutMs: 1_500,
      what: 'the stuck Deployment',
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WaitTimeoutError);
    const lines = (error as Error).message.split('\n');
    expect(lines[0]).toBe('timed out after 1.5s waiting for the stuck Deployment: 1 of 1 not ready');
    // No controller runs here, so the Deployment has no status at all: 0 of 1.
    expect(lines.slice(2)).toEqual([
      `Deployment ${ns}/stuck: 0/1 available, 0 updated`,
      `  pod ${ns}/${pod}: Running, not ready`,
      '    Ready=False (ContainersNotReady: containers with unready status: [stuck])',
      '    container stuck: waiting CrashLoopBackOff: back-off 40s restarting failed container=stuck, 3 restarts, last exit: Error exit code 1',
      '    recent events:',
      '      Warning BackOff (x5): Back-off restarting failed container stuck in pod stuck',
      '    last log lines of stuck (previous run):',
      '      listening on :8080',
      '      FATAL: password authentication failed for user "stuck"',
      '  hint: the container keeps exiting: its last log lines above say why',
    ]);
    expect(recorder.unscripted).toEqual([]);
  });
});
