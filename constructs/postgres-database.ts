import { Chart, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct, type IConstruct } from 'constructs';
import type { IMeshedService, ResourceRequests } from './meshed-service.js';
import { isDnsLabel, PropsValidator } from './validation.js';
import { WorkloadAccess } from '../mesh/workload-access.js';

export interface PostgresDatabaseProps {
  /** The only service that receives this database's connection settings. */
  readonly owner: IMeshedService;
  /**
   * PostgreSQL image (official image, Alpine variant: runs as uid 70).
   * @default 'postgres:17-alpine'
   */
  readonly image?: string;
  /**
   * Size of the data volume (PersistentVolumeClaim via volumeClaimTemplates).
   * @default Size.mebibytes(512)
   */
  readonly storage?: Size;
  /**
   * StorageClass of the volume.
   * @default - the cluster default (kind: `standard`, local-path)
   */
  readonly storageClassName?: string;
  /**
   * Requests of the database container.
   * @default { cpuMillis: 25, memoryMiB: 96 }
   */
  readonly resources?: ResourceRequests;
  /**
   * Requests of the Istio sidecar next to the database.
   * @default { cpuMillis: 10, memoryMiB: 40 }
   */
  readonly sidecarResources?: ResourceRequests;
}

/** A Secret the manifests reference but never contain; created at deploy time. */
export interface ExternalSecretRef {
  readonly name: string;
  readonly namespace: string;
  /** Keys the Secret must hold. */
  readonly keys: readonly string[];
  /** Who creates it and how. */
  readonly createdBy: string;
}

/** A PostgreSQL database as its clients and deploy steps use it: where it answers and what to log in with. */
export interface IPostgresDatabase extends IConstruct {
  /** Name of the StatefulSet, headless Service, ServiceAccount and `app` label. */
  readonly name: string;
  /** Namespace of the database. */
  readonly namespace: string;
  /** In-cluster DNS name of the database. */
  readonly host: string;
  /** PostgreSQL port. */
  readonly port: number;
  /** Database created at first start. */
  readonly databaseName: string;
  /** Database user. */
  readonly user: string;
  /** The Secret holding the password. */
  readonly credentials: ExternalSecretRef;
}

const PORT = 5432;
const POSTGRES_UID = 70;

/**
 * A PostgreSQL owned by one service: StatefulSet (one replica), headless
 * Service named after the construct id (e.g. `order-db`), a PVC per pod and connection settings wired into the
 * owner only (DATABASE_URL, built by Kubernetes from the Secret at run time).
 * Only the owner may connect (AuthorizationPolicy and NetworkPolicy on 5432);
 * deployed alone, its NetworkPolicy also lets the sidecar reach DNS and istiod.
 *
 * The password lives in the Secret `<id>-credentials` (key `password`),
 * which no synthesized file contains: `make up` creates it with a random value
 * when it is missing (see `PostgresDatabase.requiredSecrets`).
 */
export class PostgresDatabase extends Construct implements IPostgresDatabase {
  /** Every Secret the PostgresDatabases under `scope` need, for the deploy step and for checks. */
  static requiredSecrets(scope: IConstruct): ExternalSecretRef[] {
    return scope.node
      .findAll()
      .filter((c): c is PostgresDatabase => c instanceof PostgresDatabase)
      .map((db) => db.credentials);
  }

  /** The construct id: name of the StatefulSet, headless Service, ServiceAccount and `app` label. */
  readonly name: string;
  /** Namespace of the chart (`'default'` when the chart sets none). */
  readonly namespace: string;
  /** Database created at first start (the owner's name). */
  readonly databaseName: string;
  /** Database user (the owner's name). */
  readonly user: string;
  /** The Secret holding the password, which must exist before the pod starts. */
  readonly credentials: ExternalSecretRef;
  /** Requests (and memory limit) of the database container. */
  readonly resources: ResourceRequests;
  /** Requests of the Istio sidecar. */
  readonly sidecarResources: ResourceRequests;
  /** Size of the data volume. */
  readonly storage: Size;
  /** The StatefulSet (construct id `'Resource'`). */
  readonly statefulSet: kplus.k8s.KubeStatefulSet;
  /** The headless Service named after the construct id (port `tcp-postgres`). */
  readonly service: kplus.k8s.KubeService;
  /** Only the owner gets in, on the PostgreSQL port, in both walls. */
  readonly access: WorkloadAccess;
  /** PostgreSQL port on the pod and the Service. */
  readonly port: number = PORT;

  constructor(scope: Construct, id: string, props: PostgresDatabaseProps) {
    super(scope, id);
    const owner = props.owner;
    this.name = id;
    this.namespace = Chart.of(this).namespace ?? 'default';
    this.databaseName = owner.name;
    this.user = owner.name;
    this.resources = props.resources ?? { cpuMillis: 25, memoryMiB: 96 };
    this.sidecarResources = props.sidecarResources ?? { cpuMillis: 10, memoryMiB: 40 };
    this.storage = props.storage ?? Size.mebibytes(512);
    this.credentials = {
      name: `${this.name}-credentials`,
      namespace: this.namespace,
      keys: ['password'],
      createdBy: '`make up` (bring-up CLI): a random alphanumeric password, created only when the Secret is missing',
    };
    const v = new PropsValidator(`PostgresDatabase '${this.name}'`);
    v.check(
      isDnsLabel(this.name),
      () =>
        `id '${this.name}' is used as the StatefulSet and Service name and must be a DNS label (lower case, digits, '-'): rename it, e.g. '${owner.name}-db'`,
    );
    v.check(
      owner.namespace === this.namespace,
      () =>
        `'owner' (${owner.name} in namespace ${owner.namespace}) lives in another namespace than the database (${this.namespace}): declare both in one chart`,
    );
    v.check(this.storage.toMebibytes() >= 64, () => `'storage' (${this.storage.toMebibytes()}Mi) is too small for PostgreSQL: use at least 64Mi`);
    v.throwIfInvalid();

    const labels = {
      app: this.name,
      'app.kubernetes.io/name': 'postgresql',
      'app.kubernetes.io/instance': this.name,
      'app.kubernetes.io/component': 'database',
      'app.kubernetes.io/part-of': 'meshkit',
      'app.kubernetes.io/managed-by': 'cdk8s',
    };
    const metadata = { name: this.name, namespace: this.namespace, labels };
    const pgEnv = { user: this.user, db: this.databaseName };

    // Its own identity, so authorization can tell the database from anything else in the namespace.
    new kplus.k8s.KubeServiceAccount(this, 'ServiceAccount', { metadata, automountServiceAccountToken: false });

    this.service = new kplus.k8s.KubeService(this, 'Service', {
      metadata,
      spec: {
        clusterIp: 'None',
        selector: { app: this.name },
        ports: [{ name: 'tcp-postgres', port: PORT, targetPort: kplus.k8s.IntOrString.fromNumber(PORT), appProtocol: 'tcp' }],
      },
    });

    const memoryLimit = `${this.resources.memoryLimitMiB ?? this.resources.memoryMiB * 4}Mi`;
    this.statefulSet = new kplus.k8s.KubeStatefulSet(this, 'Resource', {
      metadata,
      spec: {
        serviceName: this.name,
        replicas: 1,
        selector: { matchLabels: { app: this.name } },
        template: {
          metadata: {
            labels,
            annotations: {
              'sidecar.istio.io/proxyCPU': `${this.sidecarResources.cpuMillis}m`,
              'sidecar.istio.io/proxyMemory': `${this.sidecarResources.memoryMiB}Mi`,
              'kubectl.kubernetes.io/default-container': 'postgres',
            },
          },
          spec: {
            serviceAccountName: this.name,
            automountServiceAccountToken: false,
            securityContext: {
              runAsNonRoot: true,
              runAsUser: POSTGRES_UID,
              runAsGroup: POSTGRES_UID,
              fsGroup: POSTGRES_UID,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            containers: [
              {
                name: 'postgres',
                image: props.image ?? 'postgres:17-alpine',
                imagePullPolicy: 'IfNotPresent',
                ports: [{ name: 'tcp-postgres', containerPort: PORT }],
                env: [
                  { name: 'POSTGRES_USER', value: pgEnv.user },
                  { name: 'POSTGRES_DB', value: pgEnv.db },
                  { name: 'POSTGRES_PASSWORD', valueFrom: { secretKeyRef: { name: this.credentials.name, key: 'password' } } },
                  { name: 'PGDATA', value: '/var/lib/postgresql/data/pgdata' },
                ],
                resources: {
                  requests: {
                    cpu: kplus.k8s.Quantity.fromString(`${this.resources.cpuMillis}m`),
                    memory: kplus.k8s.Quantity.fromString(`${this.resources.memoryMiB}Mi`),
                  },
                  limits: { memory: kplus.k8s.Quantity.fromString(memoryLimit) },
                },
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  privileged: false,
                  capabilities: { drop: ['ALL'] },
                },
                readinessProbe: {
                  exec: { command: ['pg_isready', '-U', pgEnv.user, '-d', pgEnv.db, '-h', '127.0.0.1'] },
                  periodSeconds: 5,
                  failureThreshold: 3,
                },
                livenessProbe: {
                  exec: { command: ['pg_isready', '-U', pgEnv.user, '-d', pgEnv.db, '-h', '127.0.0.1'] },
                  initialDelaySeconds: 20,
                  periodSeconds: 10,
                  failureThreshold: 6,
                },
                volumeMounts: [
                  { name: 'data', mountPath: '/var/lib/postgresql/data' },
                  { name: 'run', mountPath: '/var/run/postgresql' },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
              },
            ],
            volumes: [
              { name: 'run', emptyDir: { sizeLimit: kplus.k8s.Quantity.fromString('16Mi') } },
              { name: 'tmp', emptyDir: { sizeLimit: kplus.k8s.Quantity.fromString('64Mi') } },
            ],
          },
        },
        volumeClaimTemplates: [
          {
            metadata: { name: 'data', labels },
            spec: {
              accessModes: ['ReadWriteOnce'],
              storageClassName: props.storageClassName,
              resources: { requests: { storage: kplus.k8s.Quantity.fromString(`${this.storage.toMebibytes()}Mi`) } },
            },
          },
        ],
      },
    });

    this.access = new WorkloadAccess(this, 'Access', {
      name: this.name,
      workload: {
        principal: `cluster.local/ns/${this.namespace}/sa/${this.name}`,
        namespace: this.namespace,
        podLabels: { app: this.name },
        displayName: this.name,
      },
      istioNamespace: owner.istioNamespace,
    });
    this.access.allow({ from: owner.peer, port: PORT });
    owner.access.allowEgress({ to: this.access.workload, ports: [{ port: PORT }] });

    // Only the owner learns where its database is; Kubernetes expands $(VAR) from the earlier entries.
    owner.addEnv('DATABASE_USER', kplus.EnvValue.fromValue(this.user));
    owner.addEnv(
      'DATABASE_PASSWORD',
      kplus.EnvValue.fromSecretValue({ secret: kplus.Secret.fromSecretName(this, 'Credentials', this.credentials.name), key: 'password' }),
    );
    owner.addEnv('DATABASE_URL', kplus.EnvValue.fromValue(`postgres://$(DATABASE_USER):$(DATABASE_PASSWORD)@${this.host}:${PORT}/${this.databaseName}`));
  }

  /** In-cluster DNS name of the database. */
  get host(): string {
    return `${this.name}.${this.namespace}.svc.cluster.local`;
  }
}
