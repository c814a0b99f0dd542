import { kubeClusterApi, type ClusterApi, type KubeObject } from '../../cli/cluster-api.js';
import { addons } from '../../cli/istio.js';
import { formatCommand, mustRun, type CommandRunner, type RunningCommand } from '../../cli/runner.js';
import { KubeApiError, type KubeClient } from '../../infra/kube-client.js';

/** The bring-up's ClusterApi plus the one verb chaos needs on top: delete (fault resources, killed pods). */
export interface ChaosKubeApi extends ClusterApi {
  /**
   * Deletes an object (background propagation); `gracePeriodSeconds: 0` kills a pod at once
   * (SIGKILL, no drain) as a crash would. Resolves false when it did not exist.
   */
  delete(apiVersion: string, kind: string, name: string, namespace: string | undefined, options?: { gracePeriodSeconds?: number }): Promise<boolean>;
}

/** ChaosKubeApi over the same KubeClient the bring-up and the integration tests use. */
export function chaosKubeApi(client: KubeClient): ChaosKubeApi {
  return {
    ...kubeClusterApi(client),
    async delete(apiVersion, kind, name, namespace, options = {}) {
      const m = await client.mapping(apiVersion, kind);
      const ns = m.namespaced ? `/namespaces/${encodeURIComponent(namespace ?? 'default')}` : '';
      const body: Record<string, unknown> = { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background' };
      if (options.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = options.gracePeriodSeconds;
      try {
        await client.request('DELETE', `${m.groupVersionPath}${ns}/${m.resource}/${encodeURIComponent(name)}`, { body });
        return true;
      } catch (error) {
        if (error instanceof KubeApiError && error.status === 404) return false;
        throw error;
      }
    },
  };
}

/** What the chaos runner needs to know about a pod. */
export interface PodInfo {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly phase: string;
  /** The Ready condition is True and the pod is not being deleted. */
  readonly ready: boolean;
  readonly labels: Readonly<Record<string, string>>;
}

interface PodShape {
  metadata: { name: string; namespace?: string; uid?: string; labels?: Record<string, string>; deletionTimestamp?: string };
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}

export function podInfo(object: KubeObject): PodInfo {
  const pod = object as unknown as PodShape;
  const readyCondition = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  return {
    name: pod.metadata.name,
    namespace: pod.metadata.namespace ?? 'default',
    uid: pod.metadata.uid ?? '',
    phase: pod.status?.phase ?? 'Unknown',
    ready: readyCondition && pod.status?.phase === 'Running' && pod.metadata.deletionTimestamp === undefined,
    labels: pod.metadata.labels ?? {},
  };
}

/** Node one-liner run inside a service container (the image holds Node and nothing else): one HTTP call on the pod's loopback. */
export const inPodHttpScript =
  "const [m,u,b]=process.argv.slice(1);fetch(u,{method:m,headers:b?{'content-type':'application/json'}:{},body:b||undefined,signal:AbortSignal.timeout(10000)})" +
  ".then(async r=>{process.stdout.write(await r.text());if(!r.ok){process.stderr.write(' HTTP '+r.status);process.exit(1)}})" +
  '.catch(e=>{process.stderr.write(String(e));process.exit(1)})';

export interface ClusterAccessDeps {
  readonly api: ChaosKubeApi;
  /** kubectl for what needs the kubelet: exec (chaos switch, Envoy stats, psql) and port-forward (Prometheus). */
  readonly runner: CommandRunner;
  /** The kubeconfig the bring-up CLI wrote for the kind cluster (passed to every kubectl). */
  readonly kubeconfig: string;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
  /** Probe of a local URL (the Prometheus port-forward). */
  readonly fetch?: typeof fetch;
  /** A free loopback port for a port-forward. */
  readonly freePort?: () => Promise<number>;
}

/**
 * The Kubernetes steps of the chaos scenarios: pods by label, kubectl exec into a
 * container, killing a pod, applying and deleting fault resources, waiting for a
 * replacement, port-forwarding Prometheus. Reads and writes go through the Kubernetes API
 * (ChaosKubeApi); only exec and port-forward, which need the kubelet, go through kubectl.
 */
export class ClusterAccess {
  constructor(private readonly deps: ClusterAccessDeps) {}

  get api(): ChaosKubeApi {
    return this.deps.api;
  }

  /** Pods matching `labelSelector`, sorted by name (a stable choice of "one pod"). */
  async pods(namespace: string, labelSelector: string): Promise<PodInfo[]> {
    const items = await this.deps.api.list('v1', 'Pod', { namespace, labelSelector });
    return items.map(podInfo).sort((a, b) => a.name.localeCompare(b.name));
  }

  async readyPods(namespace: string, labelSelector: string): Promise<PodInfo[]> {
    return (await this.pods(namespace, labelSelector)).filter((p) => p.ready);
  }

  /** `kubectl exec` of one command in one container; stdout, or CommandError with the output. */
  exec(namespace: string, pod: string, container: string, command: readonly string[], timeoutMs = 30_000): Promise<string> {
    return mustRun(
      this.deps.runner,
      'kubectl',
      ['--kubeconfig', this.deps.kubeconfig, 'exec', '--namespace', namespace, pod, '--container', container, '--', ...command],
      {
        timeoutMs,
        fix: `check the pod with \`kubectl --kubeconfig ${this.deps.kubeconfig} describe pod --namespace ${namespace} ${pod}\``,
      },
    );
  }

  /** One HTTP call from inside a service container to its own loopback (the admin port is not on any Service). */
  httpInPod(namespace: string, pod: string, container: string, method: string, url: string, body?: unknown): Promise<string> {
    return this.exec(namespace, pod, container, ['node', '-e', inPodHttpScript, method, url, ...(body === undefined ? [] : [JSON.stringify(body)])]);
  }

  /** Envoy's admin stats of a pod's sidecar (or of a gateway pod): `pilot-agent request GET stats`. */
  envoyStats(namespace: string, pod: string): Promise<string> {
    return this.exec(namespace, pod, 'istio-proxy', ['pilot-agent', 'request', 'GET', 'stats']);
  }

  /** Kills a pod at once (grace period 0); its controller starts a replacement. */
  async killPod(pod: PodInfo): Promise<void> {
    const deleted = await this.deps.api.delete('v1', 'Pod', pod.name, pod.namespace, { gracePeriodSeconds: 0 });
    if (!deleted) throw new Error(`pod ${pod.namespace}/${pod.name} was already gone`);
  }

  /**
   * Waits until `count` pods matching the selector are ready and none of them is one of
   * `replaced` (by uid: a StatefulSet's replacement keeps the name). Bounded by `timeoutMs`.
   */
  async waitForReplacement(namespace: string, labelSelector: string, replaced: readonly PodInfo[], count: number, timeoutMs: number): Promise<PodInfo[]> {
    const old = new Set(replaced.map((p) => p.uid));
    const deadline = this.deps.now() + timeoutMs;
    let last: PodInfo[] = [];
    for (;;) {
      last = await this.pods(namespace, labelSelector);
      const fresh = last.filter((p) => p.ready && !old.has(p.uid));
      if (fresh.length >= count && !last.some((p) => old.has(p.uid))) return fresh;
      if (this.deps.now() >= deadline) {
        const state = last.map((p) => `${p.name} ${p.phase}${p.ready ? ' ready' : ''}${old.has(p.uid) ? ' (the killed one)' : ''}`).join(', ') || 'no pods';
        throw new Error(`no ready replacement for ${replaced.map((p) => p.name).join(', ')} in ${namespace} within ${Math.round(timeoutMs / 1000)}s: ${state}`);
      }
      await this.deps.sleep(1_000);
    }
  }

  /** Server-side apply of fault resources, in order. */
  async apply(objects: readonly KubeObject[]): Promise<void> {
    await this.deps.api.apply(objects);
  }

  /** Deletes fault resources, last first; returns what was actually there. */
  async remove(objects: readonly KubeObject[]): Promise<string[]> {
    const removed: string[] = [];
    for (const o of [...objects].reverse()) {
      if (await this.deps.api.delete(o.apiVersion, o.kind, o.metadata.name, o.metadata.namespace))
        removed.push(`${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    }
    return removed;
  }

  /**
   * Port-forwards Istio's Prometheus add-on to a free loopback port and waits until it
   * answers `/-/ready`. The caller stops it.
   */
  async forwardPrometheus(istioNamespace: string, timeoutMs = 30_000): Promise<{ url: string; forward: RunningCommand }> {
    const prometheus = addons.find((a) => a.name === 'prometheus')!;
    const port = await (this.deps.freePort ?? (() => Promise.reject(new Error('no freePort given'))))();
    const args = [
      '--kubeconfig',
      this.deps.kubeconfig,
      'port-forward',
      '--namespace',
      istioNamespace,
      `service/${prometheus.name}`,
      `${port}:${prometheus.port}`,
    ];
    const forward = this.deps.runner.start('kubectl', args);
    const url = `http://127.0.0.1:${port}`;
    const doFetch = this.deps.fetch ?? fetch;
    let exited: string | undefined;
    void forward.exited.then((r) => (exited = `exited with code ${r.code}: ${`${r.stderr}${r.stdout}`.trim().slice(-300)}`));
    const deadline = this.deps.now() + timeoutMs;
    for (;;) {
      if (exited) throw new Error(`\`${formatCommand('kubectl', args)}\` ${exited} (\`make up\` installs the Prometheus add-on)`);
      try {
        const res = await doFetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2_000) });
        if (res.ok) return { url, forward };
      } catch {
        // not forwarding yet
      }
      if (this.deps.now() >= deadline) {
        forward.stop();
        throw new Error(`Prometheus did not answer on ${url} within ${Math.round(timeoutMs / 1000)}s (port-forward of service/${prometheus.name})`);
      }
      await this.deps.sleep(500);
    }
  }
}
