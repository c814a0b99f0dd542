import type { ClusterApi, KubeObject } from './cluster-api.js';
import { settings } from './context.js';
import { conditionsOf, describeCondition, describeRef, readiness, type Ref } from './readiness.js';

/** Reads what a diagnosis needs: objects through the API, container logs through kubectl (they come from the kubelet). */
export interface DiagnoseDeps {
  readonly api: ClusterApi;
  /** Last lines of a container's log; rejects (or returns an explanation) when the kubelet has none. */
  logs(namespace: string, pod: string, container: string, options: { previous: boolean; tail: number }): Promise<string>;
}

interface ContainerStatus {
  name: string;
  ready?: boolean;
  restartCount?: number;
  state?: { waiting?: { reason?: string; message?: string }; running?: object; terminated?: { reason?: string; exitCode?: number; message?: string } };
  lastState?: { terminated?: { reason?: string; exitCode?: number } };
}

interface PodStatus {
  phase?: string;
  conditions?: { type: string; status: string; reason?: string; message?: string }[];
  containerStatuses?: ContainerStatus[];
  initContainerStatuses?: ContainerStatus[];
}

interface KubeEvent {
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  involvedObject?: { kind?: string; name?: string };
  lastTimestamp?: string;
  eventTime?: string;
  firstTimestamp?: string;
  series?: { count?: number; lastObservedTime?: string };
  metadata: { creationTimestamp?: string };
}

const maxPods = 3;
const eventLines = 6;
const logLines = 20;

/** Pods that belong to the object: the workload's selector, or the labels Strimzi puts on what it runs. */
export function podSelector(object: KubeObject | undefined, ref: Ref): { namespace: string; selector: string } | undefined {
  const namespace = ref.namespace ?? 'default';
  const matchLabels = (object?.spec as { selector?: { matchLabels?: Record<string, string> } } | undefined)?.selector?.matchLabels;
  if (matchLabels && Object.keys(matchLabels).length > 0) {
    return {
      namespace,
      selector: Object.entries(matchLabels)
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    };
  }
  if (ref.apiVersion.startsWith('kafka.strimzi.io/')) {
    if (ref.kind === 'Kafka') return { namespace, selector: `strimzi.io/cluster=${ref.name}` };
    const cluster = (object?.metadata.labels as Record<string, string> | undefined)?.['strimzi.io/cluster'];
    // Topics are reconciled by the topic operator inside the entity operator pod.
    if (cluster && ref.kind === 'KafkaTopic') return { namespace, selector: `strimzi.io/name=${cluster}-entity-operator` };
  }
  return undefined;
}

function isPodReady(pod: KubeObject): boolean {
  const status = (pod.status ?? {}) as PodStatus;
  if (status.phase === 'Succeeded') return true;
  return status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function eventTime(e: KubeEvent): string {
  return e.series?.lastObservedTime ?? e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp ?? '';
}

function formatEvent(e: KubeEvent): string {
  const count = e.series?.count ?? e.count ?? 1;
  return `${e.type ?? 'Normal'} ${e.reason ?? ''}${count > 1 ? ` (x${count})` : ''}: ${(e.message ?? '').trim()}`;
}

/** What to do about the usual ways a kind bring-up fails, keyed by what the pod or its events say. */
function hintsFor(text: string): string[] {
  const hints: string[] = [];
  if (/ErrImagePull|ImagePullBackOff|ErrImageNeverPull/.test(text)) {
    hints.push(
      /meshkit\//.test(text)
        ? 'the meshkit image is not on the kind node: run `make images` (docker build + kind load), then `make apply`'
        : 'the node cannot pull a public image: check the network or proxy of Docker; `docker pull <image>` on the host and `kind load docker-image <image> --name meshkit` works around it',
    );
  }
  if (/Insufficient (memory|cpu)|OutOfmemory|OOMKilled/i.test(text)) {
    hints.push(
      'not enough memory or CPU for the cluster: give Docker at least 8 GiB (Docker Desktop: Settings > Resources), close other clusters (`kind get clusters`), then re-run `make up`',
    );
  }
  if (/CreateContainerConfigError|secret .* not found|configmap .* not found/i.test(text)) {
    hints.push('a referenced Secret or ConfigMap is missing: `make apply` creates the database Secrets; check the names in the events above');
  }
  if (/CrashLoopBackOff|Error exit|exit code [1-9]/i.test(text)) hints.push('the container keeps exiting: its last log lines above say why');
  if (/Readiness probe failed|Liveness probe failed/.test(text)) hints.push('the app runs but its health endpoint fails: see its log lines above');
  if (/FailedMount|unbound immediate PersistentVolumeClaims/.test(text))
    hints.push('a volume cannot be provisioned or mounted: `kubectl get pvc -A` shows which claim is pending');
  return hints;
}

function describeContainer(c: ContainerStatus, init: boolean): string {
  const kind = init ? 'init container' : 'container';
  const restarts = c.restartCount ? `, ${c.restartCount} restarts` : '';
  const last = c.lastState?.terminated
    ? `, last exit: ${c.lastState.terminated.reason ?? 'terminated'} exit code ${c.lastState.terminated.exitCode ?? '?'}`
    : '';
  const s = c.state ?? {};
  if (s.waiting) return `${kind} ${c.name}: waiting ${s.waiting.reason ?? ''}${s.waiting.message ? `: ${s.waiting.message}` : ''}${restarts}${last}`;
  if (s.terminated) return `${kind} ${c.name}: terminated ${s.terminated.reason ?? ''} exit code ${s.terminated.exitCode ?? '?'}${restarts}`;
  if (s.running) return `${kind} ${c.name}: running, ${c.ready ? 'ready' : 'not ready'}${restarts}${last}`;
  return `${kind} ${c.name}: no state yet`;
}

async function describePod(deps: DiagnoseDeps, pod: KubeObject, events: KubeEvent[]): Promise<string[]> {
  const ns = pod.metadata.namespace ?? 'default';
  const status = (pod.status ?? {}) as PodStatus;
  const lines = [`pod ${ns}/${pod.metadata.name}: ${status.phase ?? 'Unknown'}, ${isPodReady(pod) ? 'ready' : 'not ready'}`];
  for (const c of status.conditions ?? []) {
    if (c.status !== 'True' && (c.reason || c.message)) lines.push(`  ${describeCondition(c)}`);
  }
  const containers = [
    ...(status.initContainerStatuses ?? []).map((c) => ({ c, init: true })),
    ...(status.containerStatuses ?? []).map((c) => ({ c, init: false })),
  ];
  for (const { c, init } of containers) lines.push(`  ${describeContainer(c, init)}`);

  const own = events
    .filter((e) => e.involvedObject?.kind === 'Pod' && e.involvedObject.name === pod.metadata.name)
    .sort((a, b) => eventTime(a).localeCompare(eventTime(b)));
  if (own.length > 0) {
    lines.push('  recent events:');
    for (const e of own.slice(-eventLines)) lines.push(`    ${formatEvent(e)}`);
  }

  // Logs exist once a container has started; a crashing one's previous run says why it died.
  const started = containers.filter(({ c }) => !c.ready && (c.state?.running || c.state?.terminated || (c.restartCount ?? 0) > 0 || c.lastState?.terminated));
  for (const { c } of started.slice(0, 2)) {
    const previous = !c.state?.running && (c.restartCount ?? 0) > 0;
    let text: string;
    try {
      text = (await deps.logs(ns, pod.metadata.name, c.name, { previous, tail: logLines })).trim();
    } catch (error) {
      text = `(logs unavailable: ${(error instanceof Error ? error.message : String(error)).split('\n')[0]})`;
    }
    lines.push(`  last log lines of ${c.name}${previous ? ' (previous run)' : ''}:`);
    for (const line of (text || '(empty)').split('\n').slice(-logLines)) lines.push(`    ${line}`);
  }
  return lines;
}

/**
 * Explains why `ref` is not ready: its own conditions, the pods that should serve it
 * (phase, container states, recent events, last log lines) and a hint for the usual
 * causes on kind (image not loaded, not enough memory, missing Secret, crash loop).
 */
export async function diagnose(deps: DiagnoseDeps, ref: Ref): Promise<string> {
  const object = await deps.api.get(ref.apiVersion, ref.kind, ref.name, ref.namespace);
  const detail = readiness(object).detail;
  const lines = [`${describeRef(ref)}: ${detail}`];
  for (const c of conditionsOf(object)) {
    // Conditions that explain trouble: a false one with a message, or Strimzi's NotReady/Warning.
    const troubled = (c.status !== 'True' && c.message) || (c.status === 'True' && /^(NotReady|Warning|Failed|ReplicaFailure)$/.test(c.type));
    if (troubled && !detail.includes(describeCondition(c))) lines.push(`  ${describeCondition(c)}`);
  }
  const namespace = ref.namespace;
  const events = namespace ? ((await deps.api.list('v1', 'Event', { namespace })) as unknown as KubeEvent[]) : [];

  const scope = podSelector(object, ref);
  if (scope) {
    const pods = await deps.api.list('v1', 'Pod', { namespace: scope.namespace, labelSelector: scope.selector });
    const notReady = pods.filter((p) => !isPodReady(p));
    if (pods.length === 0) {
      lines.push(`  no pods match ${scope.selector} in ${scope.namespace}: the controller has not created any`);
      // The controller reports why (quota, admission, a missing ServiceAccount) on the object or its ReplicaSet.
      const related = events
        .filter((e) => e.type === 'Warning' && (e.involvedObject?.name ?? '').startsWith(ref.name))
        .sort((a, b) => eventTime(a).localeCompare(eventTime(b)));
      for (const e of related.slice(-eventLines)) lines.push(`    ${e.involvedObject?.kind} ${e.involvedObject?.name}: ${formatEvent(e)}`);
    } else if (notReady.length === 0) {
      lines.push(`  all ${pods.length} pods matching ${scope.selector} are ready; the controller has not caught up yet`);
    }
    for (const pod of notReady.slice(0, maxPods)) lines.push(...(await describePod(deps, pod, events)).map((l) => `  ${l}`));
    if (notReady.length > maxPods) lines.push(`  … and ${notReady.length - maxPods} more pods not ready`);
  }

  if (ref.apiVersion.startsWith('kafka.strimzi.io/')) {
    // Strimzi explains most of its failures only in the operator log.
    const operators = await deps.api.list('v1', 'Pod', { namespace: settings.strimziNamespace, labelSelector: 'name=strimzi-cluster-operator' });
    if (operators.length === 0) lines.push(`  no Strimzi operator pod in ${settings.strimziNamespace}: is the operator installed (\`make up\` step strimzi)?`);
    for (const op of operators.slice(0, 1)) {
      try {
        const text = (
          await deps.logs(op.metadata.namespace ?? settings.strimziNamespace, op.metadata.name, 'strimzi-cluster-operator', { previous: false, tail: 15 })
        ).trim();
        lines.push(`  last log lines of the Strimzi operator (${op.metadata.name}):`);
        for (const line of (text || '(empty)').split('\n')) lines.push(`    ${line}`);
      } catch (error) {
        lines.push(`  (operator logs unavailable: ${(error instanceof Error ? error.message : String(error)).split('\n')[0]})`);
      }
    }
  }

  for (const hint of new Set(hintsFor(lines.join('\n')))) lines.push(`  hint: ${hint}`);
  return lines.join('\n');
}
