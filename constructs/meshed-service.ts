import { ApiObject, Chart, Duration, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct, type IConstruct } from 'constructs';
import { Callers } from '../mesh/callers.js';
import { ResiliencePolicy, type ResiliencePolicyProps } from '../mesh/resilience-policy.js';
import type { Route } from '../mesh/route.js';
import { WorkloadAccess, type AccessPeer } from '../mesh/workload-access.js';
import { isDnsLabel, PropsValidator } from './validation.js';

/** Requests (and the memory limit) of one container, sized for a laptop. */
export interface ResourceRequests {
  /** CPU request in millicores. */
  readonly cpuMillis: number;
  /** Memory request in MiB. */
  readonly memoryMiB: number;
  /**
   * Memory limit in MiB (no CPU limit, so bursts are not throttled).
   * @default - four times the request
   */
  readonly memoryLimitMiB?: number;
}

export interface AutoscalingOptions {
  /** Replicas always running; outlier detection is sized for this number. */
  readonly minReplicas: number;
  /** Upper bound of replicas. */
  readonly maxReplicas: number;
  /**
   * Average CPU utilisation (percent of the request) to scale at.
   * @default 70
   */
  readonly cpuUtilizationPercent?: number;
}

export interface MeshedServiceProps {
  /**
   * Container image. A tag without a registry (`meshkit/order:dev`) is treated as
   * a local image loaded with `kind load`, hence imagePullPolicy IfNotPresent.
   */
  readonly image: string;
  /** The service's HTTP API, one Route per operation (see mesh/route.ts). */
  readonly routes: readonly Route[];
  /**
   * Container and Service port of the public HTTP API (port name `http`).
   * @default 8080
   */
  readonly port?: number;
  /**
   * Port of health, metrics and the chaos switch (port name `http-admin`). It is a
   * container port only: no Service exposes it, so nothing in the mesh routes to it.
   * @default 9090
   */
  readonly adminPort?: number;
  /**
   * Fixed replica count. Ignored when `autoscaling` is set.
   * @default 1
   */
  readonly replicas?: number;
  /**
   * HorizontalPodAutoscaler (https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/).
   * @default - no autoscaler; `replicas` pods
   */
  readonly autoscaling?: AutoscalingOptions;
  /**
   * Value of the `version` label and of the mesh subset.
   * @default 'v1'
   */
  readonly version?: string;
  /**
   * Environment of the app container.
   * @default - PORT, ADMIN_PORT and SERVICE_NAME only
   */
  readonly env?: Record<string, kplus.EnvValue>;
  /**
   * Requests of the app container.
   * @default { cpuMillis: 25, memoryMiB: 64 }
   */
  readonly resources?: ResourceRequests;
  /**
   * Requests of the Istio sidecar, set through its injection annotations
   * (https://istio.io/latest/docs/reference/config/annotations/#SidecarProxyCPU).
   * @default { cpuMillis: 10, memoryMiB: 48 }
   */
  readonly sidecarResources?: ResourceRequests;
  /**
   * Mesh resilience tuning; routes, port and replicas come from this construct.
   * @default - the route class defaults of ResiliencePolicy
   */
  readonly resilience?: Omit<ResiliencePolicyProps, 'service' | 'port' | 'routes' | 'replicas' | 'namespace' | 'version'>;
  /**
   * Seconds between SIGTERM and SIGKILL; the app drains in-flight requests meanwhile.
   * @default Duration.seconds(20)
   */
  readonly terminationGracePeriod?: Duration;
  /**
   * Who may call the HTTP API, on top of the callers granted with `allowFrom`: both the Istio
   * AuthorizationPolicy (https://istio.io/latest/docs/reference/config/security/authorization-policy/)
   * and the Kubernetes NetworkPolicy follow this choice.
   * @default Callers.granted() - only callers granted with `allowFrom`; synthesis fails if there are none
   */
  readonly callers?: Callers;
  /**
   * Namespace of istiod, which the pods' NetworkPolicy lets the sidecar reach (unless a
   * NamespaceSecurity in the app already does for the whole namespace).
   * @default 'istio-system'
   */
  readonly istioNamespace?: string;
}

/**
 * A meshed service as other constructs use it (a caller, a database owner, the edge): where it
 * answers, who it is in the mesh, its API, and how to let callers in or hand it settings.
 */
export interface IMeshedService extends IConstruct {
  /** Name of the Service, ServiceAccount and `app` label. */
  readonly name: string;
  /** Namespace of the Service. */
  readonly namespace: string;
  /** Port of the public HTTP API on the Service. */
  readonly port: number;
  /** Name of the mesh subset (the pods' `version` label). */
  readonly version: string;
  /** In-cluster DNS name of the Service (`<name>.<namespace>.svc.cluster.local`). */
  readonly host: string;
  /** In-mesh base URL of the public API. */
  readonly url: string;
  /** The pods' identity. */
  readonly serviceAccount: kplus.IServiceAccount;
  /** Istio identity of the pods (`cluster.local/ns/<namespace>/sa/<service account>`). */
  readonly principal: string;
  /** The pods and identity as a caller or callee in access grants. */
  readonly peer: AccessPeer;
  /** The service's API, one Route per operation. */
  readonly routes: readonly Route[];
  /** Namespace of istiod. */
  readonly istioNamespace: string;
  /** AuthorizationPolicy and NetworkPolicy of the pods. */
  readonly access: WorkloadAccess;
  /** Grants `caller` these operations (default: all) in both walls and lets the caller's pods out to it. */
  allowFrom(caller: IMeshedService | AccessPeer, routes?: readonly Route[], options?: AllowFromOptions): void;
  /** Adds an environment variable to the app container. */
  addEnv(name: string, value: kplus.EnvValue): void;
}

export interface AllowFromOptions {
  /**
   * Require a verified end-user JWT from this issuer as well.
   * @default - no end-user token required
   */
  readonly jwtIssuer?: string;
}

const UID = 10001;

/**
 * A microservice in the mesh: ServiceAccount, Deployment, Service (named port
 * `http`), PodDisruptionBudget, optional HorizontalPodAutoscaler, its Istio
 * ResiliencePolicy (VirtualService + DestinationRule) and its WorkloadAccess
 * (AuthorizationPolicy + NetworkPolicy). Every object is named after the
 * construct id, so hosts, principals and labels stay stable. Routes added with
 * `addRoute` and callers granted with `allowFrom` after construction are rendered too:
 * the mesh objects are read at synthesis.
 *
 * Deployed alone it is ready on a cluster that enforces NetworkPolicies (its policy
 * lets the sidecar reach DNS and istiod), and who may call it is a choice:
 * `allowFrom` grants, or the `callers` prop; with neither, synthesis fails.
 *
 * @example
 * const inventory = new MeshedService(chart, 'inventory', {
 *   image: 'example/inventory:1.0',
 *   routes: [Route.read('/items/{sku}'), Route.write('POST', '/items/{sku}/adjustments')],
 *   callers: Callers.namespaces('storefront'),
 * });
 * inventory.url; // http://inventory.<namespace>.svc.cluster.local:8080
 */
export class MeshedService extends Construct implements IMeshedService {
  /** The construct id: name of the Deployment, Service, ServiceAccount, mesh objects and the `app` label. */
  readonly name: string;
  /** Namespace of the chart (`'default'` when the chart sets none). */
  readonly namespace: string;
  /** Port of the public HTTP API on the container and the Service. */
  readonly port: number;
  /** Container port of health, metrics and the chaos switch (on no Service). */
  readonly adminPort: number;
  /** Value of the `version` label and name of the mesh subset. */
  readonly version: string;
  /** Replicas always running: `replicas`, or the autoscaler's minimum. */
  readonly minReplicas: number;
  /** Requests (and memory limit) of the app container. */
  readonly resources: ResourceRequests;
  /** Requests (and memory limit) of the Istio sidecar. */
  readonly sidecarResources: ResourceRequests;
  /** The pods' identity, and so their Istio principal. */
  readonly serviceAccount: kplus.ServiceAccount;
  /** The Deployment (construct id `'Resource'`). */
  readonly deployment: kplus.Deployment;
  /** The ClusterIP Service with the `http` port. */
  readonly service: kplus.Service;
  /** The VirtualService and DestinationRule of the service. */
  readonly resilience: ResiliencePolicy;
  /** AuthorizationPolicy and NetworkPolicy of the pods: nothing gets in until granted with `allowFrom`. */
  readonly access: WorkloadAccess;
  /** Who may call the API besides the `allowFrom` grants. */
  readonly callers: Callers;
  /** Namespace of istiod. */
  readonly istioNamespace: string;
  /** Labels on every pod: `app`, `version` and app.kubernetes.io/*. */
  readonly podLabels: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: MeshedServiceProps) {
    super(scope, id);
    this.name = id;
    this.namespace = Chart.of(this).namespace ?? 'default';
    this.port = props.port ?? 8080;
    this.adminPort = props.adminPort ?? 9090;
    this.version = props.version ?? 'v1';
    this.minReplicas = props.autoscaling?.minReplicas ?? props.replicas ?? 1;
    this.resources = props.resources ?? { cpuMillis: 25, memoryMiB: 64 };
    this.sidecarResources = props.sidecarResources ?? { cpuMillis: 10, memoryMiB: 48 };
    this.callers = props.callers ?? Callers.granted();
    this.istioNamespace = props.istioNamespace ?? 'istio-system';
    validateProps(this, props);

    this.podLabels = {
      app: this.name,
      version: this.version,
      'app.kubernetes.io/name': this.name,
      'app.kubernetes.io/version': this.version,
      'app.kubernetes.io/component': 'service',
      'app.kubernetes.io/part-of': 'meshkit',
      'app.kubernetes.io/managed-by': 'cdk8s',
    };
    const metadata = { name: this.name, labels: this.podLabels };

    this.serviceAccount = new kplus.ServiceAccount(this, 'ServiceAccount', { metadata, automountToken: false });

    this.deployment = new kplus.Deployment(this, 'Resource', {
      metadata,
      replicas: props.autoscaling ? undefined : this.minReplicas,
      select: false,
      spread: false,
      serviceAccount: this.serviceAccount,
      automountServiceAccountToken: false,
      terminationGracePeriod: props.terminationGracePeriod ?? Duration.seconds(20),
      podMetadata: { labels: this.podLabels, annotations: this.podAnnotations() },
      securityContext: { ensureNonRoot: true, user: UID, group: UID, fsGroup: UID },
      volumes: [],
    });
    this.deployment.select(kplus.LabelSelector.of({ labels: { app: this.name } }));
    // cdk8s-plus labels every pod with a hashed construct address; names and selectors here are stable instead.
    ApiObject.of(this.deployment).addJsonPatch(JsonPatch.remove('/spec/template/metadata/labels/cdk8s.io~1metadata.addr'));
    const tmp = kplus.Volume.fromEmptyDir(this, 'Tmp', 'tmp', { sizeLimit: Size.mebibytes(64) });
    this.deployment.addContainer({
      name: this.name,
      image: props.image,
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      ports: [
        { number: this.port, name: 'http' },
        { number: this.adminPort, name: 'http-admin' },
      ],
      envVariables: {
        PORT: kplus.EnvValue.fromValue(String(this.port)),
        ADMIN_PORT: kplus.EnvValue.fromValue(String(this.adminPort)),
        SERVICE_NAME: kplus.EnvValue.fromValue(this.name),
        ...props.env,
      },
      resources: containerResources(this.resources),
      securityContext: {
        ensureNonRoot: true,
        user: UID,
        group: UID,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        privileged: false,
        capabilities: { drop: [kplus.Capability.ALL] },
        seccompProfile: { type: kplus.SeccompProfileType.RUNTIME_DEFAULT },
      },
      liveness: kplus.Probe.fromHttpGet('/health/live', { port: this.adminPort, periodSeconds: Duration.seconds(10), failureThreshold: 3 }),
      readiness: kplus.Probe.fromHttpGet('/health/ready', { port: this.adminPort, periodSeconds: Duration.seconds(5), failureThreshold: 2 }),
      startup: kplus.Probe.fromHttpGet('/health/live', { port: this.adminPort, periodSeconds: Duration.seconds(2), failureThreshold: 30 }),
      volumeMounts: [{ path: '/tmp', volume: tmp }],
    });

    this.service = new kplus.Service(this, 'Service', {
      metadata,
      ports: [{ name: 'http', port: this.port, targetPort: this.port, protocol: kplus.Protocol.TCP }],
    });

    this.service.selectLabel('app', this.name);

    new kplus.k8s.KubePodDisruptionBudget(this, 'DisruptionBudget', {
      metadata,
      spec: { maxUnavailable: kplus.k8s.IntOrString.fromNumber(1), selector: { matchLabels: { app: this.name } } },
    });

    if (props.autoscaling) {
      new kplus.HorizontalPodAutoscaler(this, 'Autoscaler', {
        metadata,
        target: this.deployment,
        minReplicas: props.autoscaling.minReplicas,
        maxReplicas: props.autoscaling.maxReplicas,
        metrics: [kplus.Metric.resourceCpu(kplus.MetricTarget.averageUtilization(props.autoscaling.cpuUtilizationPercent ?? 70))],
      });
    }

    this.resilience = new ResiliencePolicy(this, 'Resilience', {
      ...props.resilience,
      service: this.name,
      namespace: this.namespace,
      port: this.port,
      routes: props.routes,
      replicas: this.minReplicas,
      version: this.version,
    });

    this.access = new WorkloadAccess(this, 'Access', {
      name: this.name,
      workload: this.peer,
      declaredRoutes: props.routes,
      istioNamespace: this.istioNamespace,
    });
    if (this.callers.kind === 'namespaces') this.access.allowNamespaces(this.callers.namespaces, this.port);
    // Grants may come after construction (allowFrom, EdgeGateway.expose): the check runs at synthesis.
    this.node.addValidation({
      validate: () =>
        this.callers.kind === 'granted' && this.access.grants.length === 0
          ? [
              `MeshedService '${this.name}': no caller may reach it, so its AuthorizationPolicy would refuse every request: ` +
                `grant callers with ${this.name}.allowFrom(caller, routes), open it to whole namespaces with 'callers: Callers.namespaces(...)', ` +
                `or declare 'callers: Callers.none()' if nothing calls it (a Kafka consumer, a worker)`,
            ]
          : [],
    });
  }

  /** The service's API, in route order: the `routes` prop, then those added with `addRoute`. */
  get routes(): readonly Route[] {
    return this.resilience.routes;
  }

  /**
   * Adds an operation to the API after construction: a VirtualService route with its timeout and
   * retries, and a declared route for access grants. Throws here when the route is invalid or
   * already declared.
   */
  addRoute(route: Route): void {
    this.resilience.addRoute(route);
    this.access.declareRoute(route);
  }

  /** The pods and identity of this service, as a caller or callee in access grants. */
  get peer(): AccessPeer {
    return { principal: this.principal, namespace: this.namespace, podLabels: { app: this.name }, displayName: this.name };
  }

  /**
   * Grants `caller` the given operations of this service (default: all of them) in
   * both walls — the AuthorizationPolicy by principal, method and path, the
   * NetworkPolicy by pod labels and port — and lets the caller's pods out to it.
   */
  allowFrom(caller: IMeshedService | AccessPeer, routes: readonly Route[] = this.routes, options: AllowFromOptions = {}): void {
    const declared = this.routes;
    const unknown = routes.filter((r) => !declared.includes(r));
    if (unknown.length > 0) {
      throw new Error(
        `MeshedService '${this.name}': allowFrom(${isMeshedService(caller) ? caller.name : caller.displayName}) names routes the service does not declare (${unknown.map((r) => r.description).join(', ')}): pass routes from its 'routes', or add them first with addRoute`,
      );
    }
    const from = isMeshedService(caller) ? caller.peer : caller;
    this.access.allow({ from, port: this.port, routes, jwtIssuer: options.jwtIssuer });
    if (isMeshedService(caller)) caller.access.allowEgress({ to: this.peer, ports: [{ port: this.port }] });
  }

  /** The declared routes with these descriptions ("POST /charges"); throws on an unknown one. */
  routesNamed(descriptions: readonly string[]): Route[] {
    return descriptions.map((d) => {
      const route = this.routes.find((r) => r.description === d);
      if (!route) throw new Error(`MeshedService '${this.name}' declares no route '${d}' (it has: ${this.routes.map((r) => r.description).join(', ')})`);
      return route;
    });
  }

  /** In-cluster DNS name of the Service. */
  get host(): string {
    return `${this.name}.${this.namespace}.svc.cluster.local`;
  }

  /** In-mesh base URL of the public API, for other services' environment. */
  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  /** Istio identity of the pods, used by authorization policies. */
  get principal(): string {
    return `cluster.local/ns/${this.namespace}/sa/${this.name}`;
  }

  /** Adds environment variables to the app container (e.g. database or broker settings). */
  addEnv(name: string, value: kplus.EnvValue): void {
    const container = this.deployment.containers[0];
    if (!container) throw new Error(`MeshedService '${this.name}' has no container`);
    container.env.addVariable(name, value);
  }

  private podAnnotations(): Record<string, string> {
    const sidecar = this.sidecarResources;
    return {
      'sidecar.istio.io/proxyCPU': `${sidecar.cpuMillis}m`,
      'sidecar.istio.io/proxyMemory': `${sidecar.memoryMiB}Mi`,
      'sidecar.istio.io/proxyMemoryLimit': `${sidecar.memoryLimitMiB ?? sidecar.memoryMiB * 4}Mi`,
      // Istio merges these into its own scrape endpoint, so Prometheus reaches the admin port through the sidecar.
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': String(this.adminPort),
      'prometheus.io/path': '/metrics',
      'kubectl.kubernetes.io/default-container': this.name,
    };
  }
}

/** A meshed service rather than a bare peer: only a service has pods of its own to let out. */
function isMeshedService(caller: IMeshedService | AccessPeer): caller is IMeshedService {
  return 'allowFrom' in caller;
}

function containerResources(r: ResourceRequests): kplus.ContainerResources {
  return {
    cpu: { request: kplus.Cpu.millis(r.cpuMillis) },
    memory: { request: Size.mebibytes(r.memoryMiB), limit: Size.mebibytes(r.memoryLimitMiB ?? r.memoryMiB * 4) },
  };
}

function validateProps(service: MeshedService, props: MeshedServiceProps): void {
  const v = new PropsValidator(`MeshedService '${service.name}'`);
  v.check(isDnsLabel(service.name), () => `id '${service.name}' is used as the Service name and must be a DNS label (lower case, digits, '-'): rename it`);
  v.check(props.image.trim().length > 0, () => `'image' ('${props.image}') is empty: give the container image, e.g. 'meshkit/${service.name}:dev'`);
  v.check(props.routes.length > 0, () => `'routes' is empty: declare the service's API with Route.read / Route.write so the mesh can route and retry it`);
  for (const [prop, value] of [
    ['port', service.port],
    ['adminPort', service.adminPort],
  ] as const) {
    v.check(
      Number.isInteger(value) && value >= 1024 && value <= 65535,
      () => `'${prop}' (${value}) must be an unprivileged port from 1024 to 65535 (the container runs as non-root)`,
    );
  }
  v.check(
    service.port !== service.adminPort,
    () => `'adminPort' (${service.adminPort}) equals 'port': keep operations apart from the public API on another port`,
  );
  v.check(
    !(props.autoscaling && props.replicas !== undefined),
    () => `'replicas' (${props.replicas}) and 'autoscaling' are both set: drop replicas, the autoscaler owns the count`,
  );
  if (props.autoscaling) {
    const { minReplicas, maxReplicas } = props.autoscaling;
    v.check(
      minReplicas >= 1 && maxReplicas >= minReplicas,
      () => `'autoscaling' (min ${minReplicas}, max ${maxReplicas}) needs 1 <= minReplicas <= maxReplicas`,
    );
  }
  for (const [prop, r] of [
    ['resources', service.resources],
    ['sidecarResources', service.sidecarResources],
  ] as const) {
    v.check(
      r.cpuMillis > 0 && r.memoryMiB > 0,
      () => `'${prop}' (${r.cpuMillis}m, ${r.memoryMiB}Mi) must request some CPU and memory, or the scheduler cannot place it fairly`,
    );
    v.check(
      (r.memoryLimitMiB ?? r.memoryMiB) >= r.memoryMiB,
      () => `'${prop}.memoryLimitMiB' (${r.memoryLimitMiB}) is below the request (${r.memoryMiB}): raise the limit`,
    );
  }
  v.throwIfInvalid();
}
