import { beforeAll, describe, expect, it } from 'vitest';
import type { KubeObject } from '../../cli/cluster-api.js';
import { diagnose, type DiagnoseDeps } from '../../cli/diagnose.js';
import { runPlan } from '../../cli/plan.js';
import { Bringup, type PlatformInputs } from '../../cli/up.js';
import { services } from '../../charts/platform.js';
import { synthPlatform } from '../support/platform.js';
import { FakeCluster } from './support/fake-cluster.js';
import { halfDoneWorld } from './support/world.js';

let inputs: PlatformInputs;
let objects: KubeObject[];

beforeAll(() => {
  const synth = synthPlatform();
  objects = synth.objects as KubeObject[];
  inputs = { objects: () => objects, secrets: () => synth.platform.requiredSecrets };
});

function pod(name: string, labels: Record<string, string>, status: Record<string, unknown>, namespace = 'shop'): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, labels }, spec: {}, status };
}

function event(podName: string, type: string, reason: string, message: string, count: number, at: string, namespace = 'shop'): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${podName}.${reason}.${at}`, namespace },
    involvedObject: { kind: 'Pod', name: podName, namespace },
    type,
    reason,
    message,
    count,
    lastTimestamp: at,
  };
}

const notReady = { type: 'Ready', status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status' };

describe('a bring-up that times out explains why', () => {
  it('names the stuck Deployments, their pods, events, last log lines and what to do', async () => {
    const w = halfDoneWorld(objects);
    w.cluster.stuck = (o) => o.kind === 'Deployment' && ['order', 'payment'].includes(o.metadata.name);
    w.cluster
      .put(
        pod(
          'order-7c9d4-abcde',
          { app: 'order' },
          {
            phase: 'Pending',
            conditions: [notReady],
            containerStatuses: [
              {
                name: 'order',
                ready: false,
                restartCount: 0,
                state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "meshkit/order:dev"' } },
              },
              { name: 'istio-proxy', ready: true, restartCount: 0, state: { running: {} } },
            ],
          },
        ),
      )
      .put(event('order-7c9d4-abcde', 'Normal', 'Pulling', 'Pulling image "meshkit/order:dev"', 4, '2025-01-01T10:00:05Z'))
      .put(event('order-7c9d4-abcde', 'Warning', 'Failed', 'Failed to pull image "meshkit/order:dev": not found', 4, '2025-01-01T10:00:06Z'))
      .put(
        pod(
          'payment-5f6b8-xyz12',
          { app: 'payment' },
          {
            phase: 'Running',
            conditions: [notReady],
            containerStatuses: [
              {
                name: 'payment',
                ready: false,
                restartCount: 4,
                state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 1m20s restarting failed container' } },
                lastState: { terminated: { reason: 'Error', exitCode: 1 } },
              },
            ],
          },
        ),
      );
    const logs = `kubectl --kubeconfig ${w.dirs.work}/kubeconfig logs --namespace shop payment-5f6b8-xyz12 --container payment --tail=20 --previous`;
    w.recorder.on(logs, { stdout: '{"level":"info","msg":"starting"}\nError: connect ECONNREFUSED 10.96.0.12:5432\n' });

    const bringup = new Bringup(w.ctx, inputs, { skipImages: true });
    const results = await runPlan(w.ctx, 'up', bringup.steps());
    bringup.close();

    expect(results.map((r) => `${r.id}:${r.outcome}`).slice(-3)).toEqual(['databases:ran', 'services:failed', 'gateway-auth:not run']);
    expect(results.find((r) => r.id === 'services')?.detail).toBe(`timed out after 5m00s waiting for the services: 2 of ${services.length} not ready`);
    expect(w.recorder.calls).toContain(logs);
    // A long wait says what it is waiting for every 30 s.
    expect(w.output).toContain(
      '  … 30.0s: waiting for Deployment shop/order (0/2 available, 2 updated, Available=False (MinimumReplicasUnavailable: Deployment does not have minimum availability.)), Deployment shop/payment (0/2 available, 2 updated, Available=False (MinimumReplicasUnavailable: Deployment does not have minimum availability.))',
    );
    expect(w.recorder.unscripted).toEqual([]);
    const report = w.output.join('\n');
    expect(report).toContain(
      [
        '    Deployment shop/order: 0/2 available, 2 updated, Available=False (MinimumReplicasUnavailable: Deployment does not have minimum availability.)',
        '      pod shop/order-7c9d4-abcde: Pending, not ready',
        '        Ready=False (ContainersNotReady: containers with unready status)',
        '        container order: waiting ImagePullBackOff: Back-off pulling image "meshkit/order:dev"',
        '        container istio-proxy: running, ready',
        '        recent events:',
        '          Normal Pulling (x4): Pulling image "meshkit/order:dev"',
        '          Warning Failed (x4): Failed to pull image "meshkit/order:dev": not found',
        '      hint: the meshkit image is not on the kind node: run `make images` (docker build + kind load), then `make apply`',
      ].join('\n'),
    );
    expect(report).toContain(
      [
        '      pod shop/payment-5f6b8-xyz12: Running, not ready',
        '        Ready=False (ContainersNotReady: containers with unready status)',
        '        container payment: waiting CrashLoopBackOff: back-off 1m20s restarting failed container, 4 restarts, last exit: Error exit code 1',
        '        last log lines of payment (previous run):',
        '          {"level":"info","msg":"starting"}',
        '          Error: connect ECONNREFUSED 10.96.0.12:5432',
        '      hint: the container keeps exiting: its last log lines above say why',
      ].join('\n'),
    );
    // The summary still accounts for every step.
    expect(w.output.at(-2)).toMatch(/^ {2}failed\s+5m00s {2}services ready \(Deployments\)$/);
    expect(w.output.at(-1)).toMatch(/^ {2}not run\s+0\.0s {2}gateway accepts the user service's tokens/);
  });
});

describe('diagnose', () => {
  const logsFrom =
    (byPod: Record<string, string>): DiagnoseDeps['logs'] =>
    async (_ns, podName) => {
      const text = byPod[podName];
      if (text === undefined) throw new Error(`container "x" in pod "${podName}" is waiting to start`);
      return text;
    };

  it('for an unschedulable pod, quotes the scheduler and says to give Docker more memory', async () => {
    const api = new FakeCluster()
      .put({
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { name: 'order-db', namespace: 'shop' },
        spec: { replicas: 1, selector: { matchLabels: { app: 'order-db' } } },
      })
      .put(
        pod(
          'order-db-0',
          { app: 'order-db' },
          {
            phase: 'Pending',
            conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available: 1 Insufficient memory.' }],
          },
        ),
      )
      .put(
        event(
          'order-db-0',
          'Warning',
          'FailedScheduling',
          '0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available',
          3,
          '2025-01-01T10:00:00Z',
        ),
      );
    const text = await diagnose({ api, logs: logsFrom({}) }, { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'order-db', namespace: 'shop' });
    expect(text.split('\n')).toEqual([
      'StatefulSet shop/order-db: 0/1 ready, 0 updated',
      '  pod shop/order-db-0: Pending, not ready',
      '    PodScheduled=False (Unschedulable: 0/1 nodes are available: 1 Insufficient memory.)',
      '    recent events:',
      '      Warning FailedScheduling (x3): 0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available',
      '  hint: not enough memory or CPU for the cluster: give Docker at least 8 GiB (Docker Desktop: Settings > Resources), close other clusters (`kind get clusters`), then re-run `make up`',
    ]);
  });

  it('for a Deployment without pods, shows the warnings its ReplicaSet got', async () => {
    const api = new FakeCluster()
      .put({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'user', namespace: 'shop' },
        spec: { replicas: 1, selector: { matchLabels: { app: 'user' } } },
      })
      .put({
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: 'user-6d.1', namespace: 'shop' },
        involvedObject: { kind: 'ReplicaSet', name: 'user-6d7f9c' },
        type: 'Warning',
        reason: 'FailedCreate',
        message: 'Error creating: pods "user-6d7f9c-" is forbidden: error looking up service account shop/user: serviceaccount "user" not found',
        count: 7,
      });
    const text = await diagnose({ api, logs: logsFrom({}) }, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'user', namespace: 'shop' });
    expect(text.split('\n')).toEqual([
      'Deployment shop/user: 0/1 available, 0 updated',
      '  no pods match app=user in shop: the controller has not created any',
      '    ReplicaSet user-6d7f9c: Warning FailedCreate (x7): Error creating: pods "user-6d7f9c-" is forbidden: error looking up service account shop/user: serviceaccount "user" not found',
    ]);
  });

  it('for a Kafka that is not Ready, shows its condition, the broker pods and the Strimzi operator log', async () => {
    const api = new FakeCluster()
      .put({
        apiVersion: 'kafka.strimzi.io/v1',
        kind: 'Kafka',
        metadata: { name: 'meshkit', namespace: 'kafka', generation: 1 },
        spec: {},
        status: {
          observedGeneration: 1,
          conditions: [
            {
              type: 'NotReady',
              status: 'True',
              reason: 'TimeoutException',
              message: 'Exceeded timeout of 300000ms while waiting for Pods resource meshkit-dual-role-0 to be ready',
            },
            { type: 'Warning', status: 'True', reason: 'KafkaStorage', message: 'The storage of the node pool is ephemeral' },
          ],
        },
      })
      .put(
        pod(
          'meshkit-dual-role-0',
          { 'strimzi.io/cluster': 'meshkit' },
          { phase: 'Running', conditions: [notReady], containerStatuses: [{ name: 'kafka', ready: false, restartCount: 0, state: { running: {} } }] },
          'kafka',
        ),
      )
      .put(
        pod(
          'strimzi-cluster-operator-7d-q',
          { name: 'strimzi-cluster-operator' },
          { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
          'kafka',
        ),
      );
    const text = await diagnose(
      {
        api,
        logs: logsFrom({
          'meshkit-dual-role-0': 'INFO KafkaServer starting',
          'strimzi-cluster-operator-7d-q': 'WARN Reconciliation #12(timer) Kafka(kafka/meshkit): failed',
        }),
      },
      { apiVersion: 'kafka.strimzi.io/v1', kind: 'Kafka', name: 'meshkit', namespace: 'kafka' },
    );
    expect(text.split('\n')).toEqual([
      'Kafka kafka/meshkit: NotReady=True (TimeoutException: Exceeded timeout of 300000ms while waiting for Pods resource meshkit-dual-role-0 to be ready)',
      '  Warning=True (KafkaStorage: The storage of the node pool is ephemeral)',
      '  pod kafka/meshkit-dual-role-0: Running, not ready',
      '    Ready=False (ContainersNotReady: containers with unready status)',
      '    container kafka: running, not ready',
      '    last log lines of kafka:',
      '      INFO KafkaServer starting',
      '  last log lines of the Strimzi operator (strimzi-cluster-operator-7d-q):',
      '    WARN Reconciliation #12(timer) Kafka(kafka/meshkit): failed',
    ]);
  });

  it('says so when the logs cannot be read instead of failing the diagnosis', async () => {
    const api = new FakeCluster()
      .put({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'user', namespace: 'shop' },
        spec: { replicas: 1, selector: { matchLabels: { app: 'user' } } },
      })
      .put(pod('user-1', { app: 'user' }, { phase: 'Running', containerStatuses: [{ name: 'user', ready: false, restartCount: 0, state: { running: {} } }] }));
    const text = await diagnose({ api, logs: logsFrom({}) }, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'user', namespace: 'shop' });
    expect(text).toContain('  last log lines of user:\n      (logs unavailable: container "x" in pod "user-1" is waiting to start)');
  });
});
