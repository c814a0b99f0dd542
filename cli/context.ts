import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { versions } from '../constructs/versions.js';
import type { ClusterApi, KubeConnection } from './cluster-api.js';
import type { CommandRunner } from './runner.js';

/** Names the bring-up decides once. */
export const settings = {
  /** kind cluster name; must equal `name:` in kind-config.yaml (a test checks). */
  clusterName: 'meshkit',
  istioNamespace: 'istio-system',
  /** Strimzi runs in the namespace it watches, so it needs no cross-namespace RBAC. */
  strimziNamespace: 'kafka',
  strimziRelease: 'strimzi-cluster-operator',
  /** Strimzi publishes its Helm chart as an OCI artifact; Helm 3.8+ pulls it without `helm repo add`. */
  strimziChart: 'oci://quay.io/strimzi-helm/strimzi-kafka-operator',
  /** NodePorts of the ingress gateway, mapped to localhost:8080 / :8443 by kind-config.yaml. */
  ingressNodePorts: { http: 30080, https: 30443 },
  ingressUrl: 'http://localhost:8080',
} as const;

/** How long each wait may take before the CLI gives up and diagnoses. */
export interface Timeouts {
  readonly clusterCreateSeconds: number;
  readonly istioMs: number;
  readonly addonsMs: number;
  readonly strimziMs: number;
  readonly kafkaMs: number;
  readonly databasesMs: number;
  readonly servicesMs: number;
  /** Until the ingress gateway accepts a token the user service minted (istiod has fetched its JWKS). */
  readonly gatewayAuthMs: number;
  /** How long tokens may be refused (401) before istiod is restarted to fetch the JWKS at once. */
  readonly jwksNudgeMs: number;
  /** Poll interval of every wait. */
  readonly pollMs: number;
  /** How often a long wait prints what it is still waiting for. */
  readonly heartbeatMs: number;
}

export const defaultTimeouts: Timeouts = {
  clusterCreateSeconds: 180,
  istioMs: 5 * 60_000,
  addonsMs: 5 * 60_000,
  strimziMs: 5 * 60_000,
  // A first Kafka start pulls the broker image (~700 MB) before KRaft formats storage.
  kafkaMs: 10 * 60_000,
  databasesMs: 5 * 60_000,
  servicesMs: 5 * 60_000,
  gatewayAuthMs: 5 * 60_000,
  // istiod pushes a fetched JWKS within seconds; longer than this it is in its failed-fetch backoff.
  jwksNudgeMs: 20_000,
  pollMs: 2_000,
  heartbeatMs: 30_000,
};

/** Everything the commands touch outside their own code, injectable for tests. */
export interface Context {
  readonly runner: CommandRunner;
  /** Opens the Kubernetes API of the cluster (KubeClient for real, a fake in unit tests). */
  readonly connect: (connection: KubeConnection) => ClusterApi;
  /** One line of output for the user. */
  readonly print: (line: string) => void;
  readonly repoRoot: string;
  /** Where the CLI writes what it generates (the kind kubeconfig, the IstioOperator file). */
  readonly workDir: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly timeouts: Timeouts;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  /** True when nothing listens on 127.0.0.1:port. */
  readonly portFree: (port: number) => Promise<boolean>;
  /** Bytes of memory the host can still hand out (os.freemem). */
  readonly hostFreeMemory: () => number;
  /**
   * A kernel setting of the host Docker runs on (`fs.inotify.max_user_watches` reads
   * /proc/sys/fs/inotify/max_user_watches), or undefined where it cannot be read (not Linux:
   * Docker Desktop's VM has its own). Absent: the doctor skips the checks that need it.
   */
  readonly sysctl?: (key: string) => string | undefined;
  /** HTTP client for requests through the ingress gateway (global fetch when absent). */
  readonly fetch?: typeof fetch;
}

/** Reads a sysctl from /proc/sys on Linux; undefined elsewhere or when unreadable. */
export function readSysctl(key: string): string | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    return readFileSync(join('/proc/sys', ...key.split('.')), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Image tag of the service images; the charts read the same variable (charts/platform-app.ts). */
export function imageTag(ctx: Pick<Context, 'env'>): string {
  return ctx.env.MESHKIT_IMAGE_TAG || 'dev';
}

export interface IstioRelease {
  /** The Istio release directory (istio-<version>/), if found. */
  readonly home: string | undefined;
  /** How it was found, for messages. */
  readonly source: string;
  /** istioctl to run: `<home>/bin/istioctl` when present, else the one on PATH. */
  readonly istioctl: string;
  readonly addonsDir: string | undefined;
}

function onPath(command: string, env: Context['env']): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, command))) return join(dir, command);
  }
  return undefined;
}

/**
 * The user's Istio release directory, which holds both istioctl and samples/addons
 * (Prometheus, Grafana, Kiali manifests matched to that release): ISTIO_HOME, else the
 * directory around the istioctl on PATH (`istio-1.30.8/bin/istioctl`, as the Istio
 * download leaves it). Nothing is downloaded here.
 */
export function findIstio(ctx: Pick<Context, 'env'>): IstioRelease {
  const fromEnv = ctx.env.ISTIO_HOME;
  if (fromEnv) {
    const bin = join(fromEnv, 'bin', 'istioctl');
    const addons = join(fromEnv, 'samples', 'addons');
    return { home: fromEnv, source: 'ISTIO_HOME', istioctl: existsSync(bin) ? bin : 'istioctl', addonsDir: existsSync(addons) ? addons : undefined };
  }
  const found = onPath('istioctl', ctx.env);
  if (found) {
    const home = dirname(dirname(realpathSync(found)));
    const addons = join(home, 'samples', 'addons');
    return {
      home: existsSync(addons) ? home : undefined,
      source: `istioctl on PATH (${found})`,
      istioctl: found,
      addonsDir: existsSync(addons) ? addons : undefined,
    };
  }
  return { home: undefined, source: 'nowhere (ISTIO_HOME unset, no istioctl on PATH)', istioctl: 'istioctl', addonsDir: undefined };
}

export const istioDownloadHint = `unpack Istio's ${versions.istio} release archive (istioctl and samples/, from Istio's release page) and export ISTIO_HOME=$PWD/istio-${versions.istio}`;
