/**
 * The kubelet of the one local node: runs the Pods bound to it as processes in their own
 * network namespace (pod-network.ts), each container with exactly the command, args and
 * environment its spec gives (pod-env.ts, images.ts), its user from the securityContext,
 * volumes as directories, restarts per restartPolicy with back-off, startup/readiness/
 * liveness probes as specified, and the Pod's status (podIP, phase, conditions,
 * containerStatuses) written to the apiserver. A Pod deleted from the apiserver (or marked
 * for deletion) is stopped with its grace period and its namespace removed; a graceful
 * delete is then confirmed with grace 0, as the kubelet does.
 */
import { chownSync, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { KubeApiError, type KubeClient, type KubeObject } from '../../infra/kube-client.js';
import { spawnManaged, type ManagedProcess } from '../../infra/processes.js';
import { launchFor, type ContainerLaunch } from './images.js';
import type { NodeProxy } from './node-proxy.js';
import { containerEnv, type ContainerSpec, type EnvSources } from './pod-env.js';
import type { PodNetwork } from './pod-network.js';
import { PodStatusWriter, type RenderedStatus } from './pod-status.js';
import { nodeName } from './workload-controller.js';

interface Probe {
  httpGet?: { path?: string; port: number | string; scheme?: string; host?: string };
  tcpSocket?: { port: number | string };
  exec?: { command: string[] };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
  successThreshold?: number;
}

interface Container extends ContainerSpec {
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  securityContext?: { runAsUser?: number; runAsGroup?: number };
  volumeMounts?: { name: string; mountPath: string }[];
}

interface PodSpec {
  containers: Container[];
  restartPolicy?: 'Always' | 'OnFailure' | 'Never';
  securityContext?: { runAsUser?: number; runAsGroup?: number; fsGroup?: number };
  terminationGracePeriodSeconds?: number;
  volumes?: { name: string; persistentVolumeClaim?: { claimName: string } }[];
}

/** A proxy as it runs (a sidecar, or a gateway's proxy container). */
export interface RunningProxy {
  stop(): Promise<void>;
  /** GET from Envoy's admin API (inside the pod's namespace). */
  admin(path: string): Promise<string>;
}

/** What runs beside the app containers of an injected pod: set up after the network, before the apps. */
export interface SidecarHook {
  /** True when the pod gets a sidecar (its namespace has injection on and the pod does not opt out). */
  injects(pod: KubeObject): boolean;
  /** Sets up interception and starts the proxy in the pod's namespace; resolves once the proxy is ready. */
  start(
    pod: KubeObject,
    runtime: { readonly netns: string; readonly ip: string; readonly logDir: string },
  ): Promise<RunningProxy & { readonly pids: readonly number[] }>;
  /** True for a container image that is the proxy itself (a gateway pod's istio-proxy). */
  runsImage?(image: string): boolean;
  /** Starts such a container (pilot-agent in router mode) in the pod's namespace; resolves once it runs. */
  startProxyContainer?(pod: KubeObject, runtime: { readonly netns: string; readonly ip: string }): Promise<RunningProxy & { readonly process: ManagedProcess }>;
  /** Where the kubelet sends an HTTP probe of an injected pod (Istio rewrites them to the agent's port 15020). */
  probeTarget?(
    pod: KubeObject,
    container: string,
    kind: 'readiness' | 'liveness' | 'startup',
    probe: { port: number; path: string },
  ): { port: number; path: string };
}

export interface KubeletOptions {
  readonly kube: KubeClient;
  readonly network: PodNetwork;
  readonly nodeProxy: NodeProxy;
  /** Run directory: `logs/<pod>_<container>.log`, `volumes/<pod>/<volume>`. */
  readonly runDir: string;
  readonly sidecars?: SidecarHook;
  /** Progress and failures (a pod that could not start, and why). @default - none */
  readonly log?: (line: string) => void;
  /** Called when a pod's readiness changes or a pod starts or stops (the controllers reconcile). */
  readonly onChange?: () => void;
}

/** A container as it runs. */
export interface ContainerState {
  readonly name: string;
  readonly image: string;
  readonly command: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly ports: readonly number[];
  readonly logFile: string;
  process: ManagedProcess | undefined;
  ready: boolean;
  started: boolean;
  restartCount: number;
  lastExit: string | undefined;
}

/** A pod as it runs on this node. */
export interface LocalPod {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly netns: string;
  readonly ip: string;
  readonly containers: ContainerState[];
  readonly sidecar: (RunningProxy & { readonly pids: readonly number[] }) | undefined;
  /** A proxy that is the pod's container (the ingress gateway). */
  readonly proxy: RunningProxy | undefined;
  readonly ready: boolean;
  readonly object: KubeObject;
}

interface PodRuntime {
  object: KubeObject;
  name: string;
  namespace: string;
  uid: string;
  netns: string;
  ip: string;
  containers: ContainerState[];
  sidecar: (RunningProxy & { readonly pids: readonly number[] }) | undefined;
  proxy: RunningProxy | undefined;
  timers: Set<NodeJS.Timeout>;
  /** Extra cleanups (a proxy container's run directory). */
  stops: (() => Promise<void>)[];
  stopping: boolean;
  startTime: string;
  phase: 'Pending' | 'Running';
  status: PodStatusWriter;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class Kubelet {
  private readonly pods = new Map<string, PodRuntime>();
  private readonly starting = new Set<string>();
  private readonly sources: EnvSources;
  private readonly failures = new Map<string, string>();

  constructor(private readonly options: KubeletOptions) {
    const { kube } = options;
    this.sources = {
      secret: (ns, name) => kube.get('v1', 'Secret', name, ns),
      configMap: (ns, name) => kube.get('v1', 'ConfigMap', name, ns),
      services: (ns) => kube.list('v1', 'Service', { namespace: ns }),
    };
  }

  /** The pods running here, with their addresses and processes. */
  get localPods(): LocalPod[] {
    return [...this.pods.values()].map((p) => ({
      name: p.name,
      namespace: p.namespace,
      uid: p.uid,
      netns: p.netns,
      ip: p.ip,
      containers: p.containers,
      sidecar: p.sidecar,
      proxy: p.proxy,
      ready: p.containers.every((c) => c.ready),
      object: p.object,
    }));
  }

  /** Pods that could not be started, with why (the last failure per pod). */
  get startFailures(): ReadonlyMap<string, string> {
    return this.failures;
  }

  /** One pass: start pods bound here that do not run, stop pods that are gone or being deleted. */
  async reconcile(namespaces: readonly string[]): Promise<void> {
    const wanted = new Map<string, KubeObject>();
    for (const namespace of namespaces) {
      const list = await this.options.kube.request<{ items?: KubeObject[] }>(
        'GET',
        `/api/v1/namespaces/${namespace}/pods?${new URLSearchParams({ fieldSelector: `spec.nodeName=${nodeName}` })}`,
      );
      for (const item of list.items ?? []) wanted.set(item.metadata.uid as string, { ...item, apiVersion: 'v1', kind: 'Pod' });
    }
    for (const [uid, runtime] of this.pods) {
      const object = wanted.get(uid);
      if (!object || object.metadata.deletionTimestamp !== undefined) {
        void this.terminate(runtime, object !== undefined);
      }
    }
    for (const [uid, object] of wanted) {
      if (this.pods.has(uid) || this.starting.has(uid) || object.metadata.deletionTimestamp !== undefined) continue;
      // A StatefulSet pod recreated under the same name waits until its predecessor is gone.
      if ([...this.pods.values()].some((p) => p.name === object.metadata.name)) continue;
      this.starting.add(uid);
      void this.startPod(object)
        .catch((error: unknown) => {
          const why = error instanceof Error ? error.message : String(error);
          this.failures.set(object.metadata.name, why);
          this.options.log?.(`pod ${object.metadata.namespace}/${object.metadata.name} could not start: ${why.split('\n').slice(0, 3).join(' | ')}`);
        })
        .finally(() => this.starting.delete(uid));
    }
  }

  private key(runtime: PodRuntime): string {
    return runtime.uid;
  }

  private async startPod(object: KubeObject): Promise<void> {
    const { network, nodeProxy, sidecars } = this.options;
    const spec = object.spec as PodSpec;
    const name = object.metadata.name;
    const namespace = object.metadata.namespace ?? 'default';
    const address = await network.addPod(name);
    const runtime: PodRuntime = {
      object,
      name,
      namespace,
      uid: object.metadata.uid as string,
      netns: address.netns,
      ip: address.ip,
      containers: [],
      sidecar: undefined,
      proxy: undefined,
      timers: new Set(),
      stops: [],
      stopping: false,
      startTime: new Date().toISOString(),
      phase: 'Pending',
      status: new PodStatusWriter(
        () => this.renderStatus(runtime),
        (status) => this.sendStatus(runtime, status),
      ),
    };
    this.pods.set(this.key(runtime), runtime);
    try {
      object.status = { podIP: address.ip, podIPs: [{ ip: address.ip }], hostIP: network.gatewayIp, hostIPs: [{ ip: network.gatewayIp }] };
      runtime.object = object;
      await this.writeStatus(runtime, 'Pending');
      await nodeProxy.writePod({ name, namespace, ip: address.ip });
      const logDir = join(this.options.runDir, 'logs');
      mkdirSync(logDir, { recursive: true });
      if (sidecars?.injects(object)) {
        runtime.sidecar = await sidecars.start(object, { netns: address.netns, ip: address.ip, logDir });
      }
      await nodeProxy.enableServiceRules(name);
      const volumes = this.prepareVolumes(runtime, spec);
      for (const container of spec.containers) {
        if (sidecars?.runsImage?.(container.image)) {
          await this.runProxyContainer(runtime, container, join(logDir, `${name}_${container.name}.log`));
          continue;
        }
        const launch = launchFor(container);
        const env = { ...(await containerEnv(object, container, this.sources)) };
        const state: ContainerState = {
          name: container.name,
          image: container.image,
          command: [launch.command, ...launch.args],
          env: this.localEnv(runtime, container, launch, env, volumes),
          ports: (container.ports ?? []).map((p) => p.containerPort),
          logFile: join(logDir, `${name}_${container.name}.log`),
          process: undefined,
          ready: false,
          started: false,
          restartCount: 0,
          lastExit: undefined,
        };
        runtime.containers.push(state);
        const user = this.userOf(spec, container, launch);
        for (const dir of Object.values(volumes)) chownSync(dir, user.uid, spec.securityContext?.fsGroup ?? user.gid);
        await this.runContainer(runtime, container, state, launch, user);
      }
      await this.writeStatus(runtime, 'Running');
      this.failures.delete(name);
    } catch (error) {
      await this.terminate(runtime, false);
      throw error;
    }
    this.options.onChange?.();
  }

  /** Every volume of the pod as a directory; a PersistentVolumeClaim's outlives the pod (same claim name, same directory). */
  private prepareVolumes(runtime: PodRuntime, spec: PodSpec): Record<string, string> {
    const dirs: Record<string, string> = {};
    for (const volume of spec.volumes ?? []) {
      const claim = volume.persistentVolumeClaim?.claimName;
      const dir = claim ? join(this.options.runDir, 'claims', claim) : join(this.options.runDir, 'volumes', runtime.uid, volume.name);
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      dirs[volume.name] = dir;
    }
    return dirs;
  }

  /**
   * The spec's env plus what a container runtime adds (HOSTNAME, PATH, HOME, the image's ENV),
   * with paths under a volume's mountPath pointed at the volume's directory, and TMPDIR at the
   * pod's /tmp volume when it has one (processes share the host's filesystem).
   */
  private localEnv(runtime: PodRuntime, container: Container, launch: ContainerLaunch, env: Record<string, string>, volumes: Record<string, string>) {
    const merged: Record<string, string> = {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: '/',
      ...launch.imageEnv,
      HOSTNAME: runtime.name,
      ...env,
    };
    const mounts = (container.volumeMounts ?? []).map((m) => ({ path: m.mountPath.replace(/\/+$/, ''), dir: volumes[m.name]! }));
    for (const [key, value] of Object.entries(merged)) {
      const mount = mounts.find((m) => value === m.path || value.startsWith(`${m.path}/`));
      if (mount) merged[key] = `${mount.dir}${value.slice(mount.path.length)}`;
    }
    const tmp = mounts.find((m) => m.path === '/tmp');
    if (tmp) merged.TMPDIR = tmp.dir;
    return merged;
  }

  private userOf(spec: PodSpec, container: Container, launch: ContainerLaunch): { uid: number; gid: number } {
    if (launch.substituteUser) return launch.substituteUser;
    const uid = container.securityContext?.runAsUser ?? spec.securityContext?.runAsUser ?? launch.imageUser.uid;
    const gid = container.securityContext?.runAsGroup ?? spec.securityContext?.runAsGroup ?? launch.imageUser.gid;
    return { uid, gid };
  }

  private async runContainer(
    runtime: PodRuntime,
    container: Container,
    state: ContainerState,
    launch: ContainerLaunch,
    user: { uid: number; gid: number },
  ): Promise<void> {
    const spec = runtime.object.spec as PodSpec;
    const grace = (spec.terminationGracePeriodSeconds ?? 30) * 1000;
    const start = async () => {
      state.started = false;
      state.ready = false;
      state.process = await spawnManaged(
        'ip',
        ['netns', 'exec', runtime.netns, 'setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--', launch.command, ...launch.args],
        {
          name: `${runtime.name}/${state.name}`,
          logFile: state.logFile,
          fix: `see ${state.logFile}`,
          cwd: launch.cwd,
          env: state.env,
          stopSignal: launch.stopSignal,
          graceMs: grace,
        },
      );
      const proc = state.process;
      void this.watchExit(runtime, container, state, proc, start);
    };
    await start();
    this.startProbes(runtime, container, state);
  }

  /** A container that is the proxy itself: started through the hook, restarted the same way when it exits. */
  private async runProxyContainer(runtime: PodRuntime, container: Container, logFile: string): Promise<void> {
    const { sidecars } = this.options;
    const state: ContainerState = {
      name: container.name,
      image: container.image,
      command: ['pilot-agent', ...(container.args ?? [])],
      env: {},
      ports: (container.ports ?? []).map((p) => p.containerPort),
      logFile,
      process: undefined,
      ready: false,
      started: false,
      restartCount: 0,
      lastExit: undefined,
    };
    runtime.containers.push(state);
    const start = async () => {
      const proxy = await sidecars!.startProxyContainer!(runtime.object, { netns: runtime.netns, ip: runtime.ip });
      runtime.proxy = proxy;
      state.process = proxy.process;
      void this.watchExit(runtime, container, state, proxy.process, start);
    };
    runtime.stops.push(async () => runtime.proxy?.stop());
    await start();
    this.startProbes(runtime, container, state);
  }

  private async watchExit(runtime: PodRuntime, container: Container, state: ContainerState, proc: ManagedProcess, start: () => Promise<void>): Promise<void> {
    while (proc.exited === undefined) await sleep(200);
    if (runtime.stopping || state.process !== proc) return;
    state.lastExit = proc.exited;
    state.ready = false;
    state.started = false;
    await this.writeStatus(runtime, 'Running').catch(() => undefined);
    this.options.onChange?.();
    const policy = (runtime.object.spec as PodSpec).restartPolicy ?? 'Always';
    if (policy === 'Never' || (policy === 'OnFailure' && proc.exited === 'exit code 0')) return;
    // CrashLoopBackOff: 10 s doubling to 5 min in the kubelet; 1 s doubling to 30 s here.
    const delay = Math.min(30_000, 1000 * 2 ** Math.min(state.restartCount, 5));
    state.restartCount++;
    await sleep(delay);
    if (runtime.stopping) return;
    await start().catch((error: unknown) => this.failures.set(runtime.name, error instanceof Error ? error.message : String(error)));
  }

  private startProbes(runtime: PodRuntime, container: Container, state: ContainerState): void {
    const schedule = (fn: () => void, ms: number) => {
      const timer = setTimeout(() => {
        runtime.timers.delete(timer);
        if (!runtime.stopping) fn();
      }, ms);
      runtime.timers.add(timer);
    };
    const run = (kind: 'startup' | 'readiness' | 'liveness', probe: Probe | undefined, onResult: (ok: boolean | undefined) => void) => {
      if (!probe) return;
      let failures = 0;
      let successes = 0;
      const tick = async () => {
        const proc = state.process;
        if (proc && proc.exited === undefined && (kind === 'startup' || state.started)) {
          const ok = await this.probe(runtime, container, kind, probe).catch(() => false);
          if (ok) {
            successes++;
            failures = 0;
            if (successes >= (probe.successThreshold ?? 1)) onResult(true);
          } else {
            failures++;
            successes = 0;
            if (failures >= (probe.failureThreshold ?? 3)) {
              failures = 0;
              onResult(false);
            }
          }
        }
        schedule(() => void tick(), (probe.periodSeconds ?? 10) * 1000);
      };
      schedule(() => void tick(), (probe.initialDelaySeconds ?? 0) * 1000);
    };
    const setReady = (ready: boolean) => {
      if (state.ready === ready) return;
      state.ready = ready;
      void this.writeStatus(runtime, 'Running').catch(() => undefined);
      this.options.onChange?.();
    };
    if (container.startupProbe) {
      run('startup', container.startupProbe, (ok) => {
        if (ok && !state.started) {
          state.started = true;
          if (!container.readinessProbe) setReady(true);
        } else if (ok === false && !state.started) void state.process?.stop();
      });
    } else {
      // No startup probe: started as soon as the process runs.
      const mark = () => {
        if (state.process?.exited === undefined && !state.started) {
          state.started = true;
          if (!container.readinessProbe) setReady(true);
        }
        schedule(mark, 500);
      };
      mark();
    }
    run('readiness', container.readinessProbe, (ok) => ok !== undefined && setReady(ok));
    run('liveness', container.livenessProbe, (ok) => {
      if (ok === false) {
        setReady(false);
        // The kubelet kills the container; the restart policy brings it back.
        void state.process?.stop();
      }
    });
  }

  private portOf(container: Container, port: number | string): number {
    if (typeof port === 'number') return port;
    const found = container.ports?.find((p) => p.name === port)?.containerPort;
    if (found === undefined) throw new Error(`container ${container.name} has no port named ${port}`);
    return found;
  }

  private async probe(runtime: PodRuntime, container: Container, kind: 'startup' | 'readiness' | 'liveness', probe: Probe): Promise<boolean> {
    const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
    if (probe.exec) {
      const [command, ...args] = probe.exec.command;
      const resolved = command === 'pg_isready' ? 'pg_isready' : command!;
      await this.options.network.exec(runtime.name, resolved, args, { timeoutMs });
      return true;
    }
    if (probe.tcpSocket) {
      const port = this.portOf(container, probe.tcpSocket.port);
      return new Promise((resolve) => {
        const socket = connect({ host: runtime.ip, port, timeout: timeoutMs });
        socket.once('connect', () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('timeout', () => {
          socket.destroy();
          resolve(false);
        });
        socket.once('error', () => resolve(false));
      });
    }
    if (probe.httpGet) {
      let target = { port: this.portOf(container, probe.httpGet.port), path: probe.httpGet.path ?? '/' };
      if (runtime.sidecar && this.options.sidecars?.probeTarget) target = this.options.sidecars.probeTarget(runtime.object, container.name, kind, target);
      const res = await fetch(`http://${probe.httpGet.host ?? runtime.ip}:${target.port}${target.path}`, {
        signal: AbortSignal.timeout(timeoutMs),
        headers: { 'user-agent': 'kube-probe/1.34' },
      });
      await res.arrayBuffer().catch(() => undefined);
      return res.status >= 200 && res.status < 400;
    }
    return true;
  }

  /** Sets the pod's phase and queues a write of its status (pod-status.ts orders and retries them). */
  private writeStatus(runtime: PodRuntime, phase: 'Pending' | 'Running'): Promise<void> {
    runtime.phase = phase;
    return runtime.status.write();
  }

  private renderStatus(runtime: PodRuntime): RenderedStatus {
    const phase = runtime.phase;
    const now = new Date().toISOString();
    const ready = runtime.containers.length > 0 && runtime.containers.every((c) => c.ready);
    const condition = (type: string, status: boolean) => ({ type, status: status ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: now });
    const spec = runtime.object.spec as PodSpec;
    const status = {
      phase,
      podIP: runtime.ip,
      podIPs: [{ ip: runtime.ip }],
      hostIP: this.options.network.gatewayIp,
      hostIPs: [{ ip: this.options.network.gatewayIp }],
      startTime: runtime.startTime,
      conditions: [condition('PodScheduled', true), condition('Initialized', true), condition('ContainersReady', ready), condition('Ready', ready)],
      containerStatuses: spec.containers.map((c) => {
        const state = runtime.containers.find((s) => s.name === c.name);
        const running = state?.process !== undefined && state.process.exited === undefined;
        return {
          name: c.name,
          image: c.image,
          imageID: '',
          ready: state?.ready ?? false,
          started: state?.started ?? false,
          restartCount: state?.restartCount ?? 0,
          state: running ? { running: { startedAt: runtime.startTime } } : { waiting: { reason: state?.lastExit ? 'CrashLoopBackOff' : 'ContainerCreating' } },
          ...(state?.lastExit && {
            lastState: {
              terminated: {
                exitCode: /exit code (\d+)/.exec(state.lastExit)?.[1] ? Number(/exit code (\d+)/.exec(state.lastExit)![1]) : 137,
                reason: state.lastExit,
              },
            },
          }),
        };
      }),
    };
    return { status, key: JSON.stringify({ ...status, conditions: status.conditions.map((c) => [c.type, c.status]), startTime: undefined }) };
  }

  private async sendStatus(runtime: PodRuntime, status: Record<string, unknown>): Promise<void> {
    try {
      await this.options.kube.request('PATCH', `/api/v1/namespaces/${runtime.namespace}/pods/${runtime.name}/status?fieldManager=meshkit-kubelet`, {
        body: { status },
        contentType: 'application/merge-patch+json',
      });
    } catch (error) {
      // A pod deleted meanwhile has no status to write.
      if (!(error instanceof KubeApiError && error.status === 404)) throw error;
    }
  }

  /** Stops the pod's containers (grace period from the spec), its sidecar, and removes its namespace. */
  private async terminate(runtime: PodRuntime, confirmDeletion: boolean): Promise<void> {
    if (runtime.stopping) return;
    runtime.stopping = true;
    runtime.status.close();
    for (const timer of runtime.timers) clearTimeout(timer);
    runtime.timers.clear();
    await Promise.all(runtime.containers.map((c) => c.process?.stop()));
    for (const stop of runtime.stops) await stop().catch(() => undefined);
    await runtime.sidecar?.stop();
    await this.options.network.removePod(runtime.name);
    this.options.nodeProxy.forget(runtime.name);
    this.pods.delete(this.key(runtime));
    if (confirmDeletion) {
      await this.options.kube
        .request('DELETE', `/api/v1/namespaces/${runtime.namespace}/pods/${runtime.name}`, {
          body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid: runtime.uid } },
        })
        .catch(() => undefined);
    }
    this.options.onChange?.();
  }

  /** Stops every pod (in parallel) and deletes their Pod objects. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.pods.values()].map((runtime) => this.terminate(runtime, false)));
  }
}
