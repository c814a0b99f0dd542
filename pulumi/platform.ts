/**
 * Deploys the cdk8s platform with Pulumi: one Pulumi resource per synthesized object
 * (read from each chart's toJson(), so there is no second copy of the manifests), the
 * database Secrets with derived passwords, and Istio and Strimzi either expected in the
 * cluster or installed with Helm (operators.ts). Ordering comes from plan.ts.
 */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import type { Platform } from '../charts/platform-app.js';
import { installOperators, operatorModes, operatorNames, type OperatorMode } from './operators.js';
import { derivePassword } from './passwords.js';
import { keyOf, type KubeObject } from '../manifests/kube-object.js';
import { operatorOf, planPlatform, type PlannedResource } from './plan.js';

export interface DeployConfig {
  /** kubeconfig context to deploy to. */
  readonly kubeContext: string;
  /** Path to or contents of a kubeconfig; the provider's default (KUBECONFIG, ~/.kube/config) when unset. */
  readonly kubeconfig?: string;
  readonly operators: OperatorMode;
  readonly dbPasswords: DbPasswordMode;
  /** Secret seed every database password is derived from (passwords.ts); needed when `dbPasswords` is `derived`. */
  readonly dbPasswordSeed?: pulumi.Input<string>;
  /** Where the ingress gateway answers from the host. */
  readonly gatewayUrl: string;
}

/**
 * `derived`: the program creates the database Secrets (passwords.ts). `existing`: they were
 * created before, with other values (`make up` draws random ones), and the databases were
 * initialised with those, so the program only reads them and never overwrites one.
 */
export const dbPasswordModes = ['derived', 'existing'] as const;
export type DbPasswordMode = (typeof dbPasswordModes)[number];

export const configDefaults = {
  kubeContext: 'kind-meshkit',
  operators: 'preinstalled',
  dbPasswords: 'derived',
  // kind-config.yaml maps the gateway's NodePort 30080 to this address.
  gatewayUrl: 'http://localhost:8080',
} as const satisfies Partial<DeployConfig>;

/** Reads the `meshkit:*` stack config; throws naming the key and the fix. */
export function readConfig(config: pulumi.Config): DeployConfig {
  const operators = config.get('operators') ?? configDefaults.operators;
  if (!(operatorModes as readonly string[]).includes(operators)) {
    throw new Error(`'meshkit:operators' is '${operators}': use ${operatorModes.map((m) => `'${m}'`).join(' or ')}`);
  }
  const dbPasswords = config.get('dbPasswords') ?? configDefaults.dbPasswords;
  if (!(dbPasswordModes as readonly string[]).includes(dbPasswords)) {
    throw new Error(`'meshkit:dbPasswords' is '${dbPasswords}': use ${dbPasswordModes.map((m) => `'${m}'`).join(' or ')}`);
  }
  const kubeconfig = config.get('kubeconfig');
  return {
    kubeContext: config.get('kubeContext') ?? configDefaults.kubeContext,
    ...(kubeconfig ? { kubeconfig } : {}),
    operators: operators as OperatorMode,
    dbPasswords: dbPasswords as DbPasswordMode,
    ...(dbPasswords === 'derived' ? { dbPasswordSeed: config.requireSecret('dbPasswordSeed') } : {}),
    gatewayUrl: config.get('gatewayUrl') ?? configDefaults.gatewayUrl,
  };
}

type KubeResourceClass = new (name: string, args: never, opts?: pulumi.CustomResourceOptions) => pulumi.CustomResource;

/**
 * Typed classes for Kubernetes' own kinds: they carry the provider's type token and its
 * handling (Secret data kept secret, await logic for workloads). A built-in kind missing
 * here is an error rather than a silent CustomResource with the wrong token.
 */
const builtInKinds: Readonly<Record<string, KubeResourceClass>> = {
  'v1/Namespace': k8s.core.v1.Namespace,
  'v1/ServiceAccount': k8s.core.v1.ServiceAccount,
  'v1/Service': k8s.core.v1.Service,
  'v1/Secret': k8s.core.v1.Secret,
  'v1/ConfigMap': k8s.core.v1.ConfigMap,
  'v1/PersistentVolumeClaim': k8s.core.v1.PersistentVolumeClaim,
  'apps/v1/Deployment': k8s.apps.v1.Deployment,
  'apps/v1/StatefulSet': k8s.apps.v1.StatefulSet,
  'policy/v1/PodDisruptionBudget': k8s.policy.v1.PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': k8s.networking.v1.NetworkPolicy,
  'autoscaling/v2/HorizontalPodAutoscaler': k8s.autoscaling.v2.HorizontalPodAutoscaler,
};

/** Pulumi type token of an object's kind, as the Kubernetes provider names it. */
export function typeTokenOf(o: Pick<KubeObject, 'apiVersion' | 'kind'>): string {
  return `kubernetes:${o.apiVersion.includes('/') ? o.apiVersion : `core/${o.apiVersion}`}:${o.kind}`;
}

/** Pulumi resource name: `<namespace>/<name>` as Pulumi's own YAML support names objects, `<name>` when cluster-scoped. */
export function resourceNameOf(o: Pick<KubeObject, 'metadata'>): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

export interface DeployedPlatform {
  readonly gatewayUrl: pulumi.Output<string>;
  readonly namespaces: pulumi.Output<string[]>;
  /** Names of the database Secrets the program manages (`<namespace>/<name>`). */
  readonly databaseSecrets: string[];
  readonly plan: readonly PlannedResource[];
  /** Every resource the program registered, for callers that must wait on all of them. */
  readonly resources: readonly pulumi.Resource[];
}

export function deployPlatform(platform: Platform, config: DeployConfig): DeployedPlatform {
  const charts = platform.app.charts.map((chart) => ({ chart: chart.node.id, objects: chart.toJson() as KubeObject[] }));
  const plan = planPlatform(charts, platform.requiredSecrets, { istioNamespace: operatorNames.istioNamespace });

  const root = new pulumi.ComponentResource('meshkit:platform:Platform', 'meshkit');
  const provider = new k8s.Provider(
    'cluster',
    { context: config.kubeContext, ...(config.kubeconfig ? { kubeconfig: config.kubeconfig } : {}) },
    { parent: root },
  );
  // One component per cdk8s chart, so `pulumi preview` shows the platform as the charts compose it.
  const groups = new Map<string, pulumi.ComponentResource>();
  const groupOf = (chart: string) => {
    let group = groups.get(chart);
    if (!group) groups.set(chart, (group = new pulumi.ComponentResource('meshkit:platform:Chart', chart, {}, { parent: root })));
    return group;
  };
  for (const { chart } of charts) groupOf(chart);

  const created = new Map<string, pulumi.CustomResource>();
  const create = (entry: PlannedResource, dependsOn: pulumi.Resource[]) =>
    created.set(entry.key, createObject(entry, config, { provider, parent: groupOf(entry.chart), dependsOn }));
  // Namespaces first, on their own: the Strimzi Helm release installs into one of them.
  const isNamespace = (p: PlannedResource) => p.object.apiVersion === 'v1' && p.object.kind === 'Namespace';
  for (const entry of plan.filter(isNamespace)) create(entry, []);

  const strimziNamespace = platform.kafka.namespace ?? 'default';
  const gates = installOperators({
    mode: config.operators,
    provider,
    parent: root,
    strimziNamespace,
    strimziNamespaceResource: created.get(keyOf({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: strimziNamespace } })),
    customResources: plan.filter((p) => operatorOf(p.object.apiVersion) !== undefined).map((p) => p.object),
  });

  // The plan is in dependency order, so every resource's dependencies already exist here.
  for (const entry of plan.filter((p) => !isNamespace(p))) {
    create(entry, [...entry.dependsOn.map((key) => created.get(key)!), ...entry.operators.flatMap((op) => gates[op])]);
  }

  const namespaceResources = [...created.values()].filter((r): r is k8s.core.v1.Namespace => r instanceof k8s.core.v1.Namespace);
  return {
    gatewayUrl: pulumi.output(config.gatewayUrl),
    namespaces: pulumi.all(namespaceResources.map((n) => n.metadata.name)),
    databaseSecrets: plan.filter((p) => p.secretKeys).map((p) => resourceNameOf(p.object)),
    plan,
    resources: [root, provider, ...groups.values(), ...Object.values(gates).flat(), ...created.values()],
  };
}

function createObject(entry: PlannedResource, config: DeployConfig, opts: pulumi.CustomResourceOptions): pulumi.CustomResource {
  const object = entry.object;
  const name = resourceNameOf(object);
  if (entry.secretKeys && config.dbPasswords === 'existing') {
    const { provider, parent, dependsOn } = opts;
    return k8s.core.v1.Secret.get(name, name, { provider, parent, dependsOn });
  }
  if (entry.secretKeys) {
    const seed = config.dbPasswordSeed;
    if (seed === undefined) throw new Error(`${entry.key}: 'meshkit:dbPasswords' is 'derived' but no 'meshkit:dbPasswordSeed' was given`);
    const stringData = pulumi.secret(
      pulumi
        .output(seed)
        .apply((seed) =>
          Object.fromEntries(entry.secretKeys!.map((key) => [key, derivePassword(seed, object.metadata as { namespace: string; name: string }, key)])),
        ),
    );
    const metadata = { ...object.metadata, labels: { ...object.metadata.labels, 'app.kubernetes.io/managed-by': 'pulumi' } };
    return new k8s.core.v1.Secret(name, { ...object, metadata, stringData } as k8s.core.v1.SecretArgs, opts);
  }
  const builtIn = builtInKinds[`${object.apiVersion}/${object.kind}`];
  if (builtIn) return new builtIn(name, object as never, opts);
  if (entry.operators.length === 0)
    throw new Error(`${entry.key}: no Pulumi class for built-in kind ${object.apiVersion}/${object.kind}: add it to builtInKinds in pulumi/platform.ts`);
  return new k8s.apiextensions.CustomResource(name, object as k8s.apiextensions.CustomResourceArgs, opts);
}
