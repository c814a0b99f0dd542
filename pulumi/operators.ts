/**
 * Istio and Strimzi: their CRDs and controllers must be in the cluster before any
 * custom resource of the platform. Two ways, chosen by `meshkit:operators`:
 *
 * - `preinstalled` (default): the cluster already runs them, as `make up` leaves it
 *   (istioctl with the minimal profile + ingress gateway, Helm for Strimzi). The program
 *   reads the CRDs and the operator Deployments it needs, so `pulumi preview` fails with
 *   "not found" on a cluster that lacks them instead of half-applying the platform.
 * - `helm`: the program installs them itself as Helm releases at the versions pinned in
 *   constructs/versions.ts, sized and configured like `make up` does (cli/istio.ts).
 */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { versions } from '../constructs/versions.js';
import type { Operator } from './plan.js';

export const operatorModes = ['preinstalled', 'helm'] as const;
export type OperatorMode = (typeof operatorModes)[number];

/** Istio's official Helm repository; the charts carry the Istio version as chart version. */
export const ISTIO_CHART_REPO = 'https://istio-release.storage.googleapis.com/charts';
/** Strimzi publishes its chart as an OCI artifact (the one `make up` installs). */
export const STRIMZI_CHART = 'oci://quay.io/strimzi-helm/strimzi-kafka-operator';

/** Names `make up` uses too, so both paths leave the same objects behind. */
export const operatorNames = {
  istioNamespace: 'istio-system',
  istiod: 'istiod',
  ingressGateway: 'istio-ingressgateway',
  /** The principal the edge AuthorizationPolicies allow (mesh/edge-gateway.ts default). */
  ingressServiceAccount: 'istio-ingressgateway-service-account',
  strimziOperator: 'strimzi-cluster-operator',
  /** NodePorts that kind-config.yaml maps to localhost:8080 and :8443. */
  ingressNodePorts: { http: 30080, https: 30443 },
} as const;

export interface OperatorArgs {
  readonly mode: OperatorMode;
  readonly provider: k8s.Provider;
  readonly parent: pulumi.Resource;
  /** Namespace Strimzi runs in and watches (the platform's Kafka namespace). */
  readonly strimziNamespace: string;
  /** The Namespace resource of `strimziNamespace`, which the Helm release must wait for. */
  readonly strimziNamespaceResource: pulumi.Resource | undefined;
  /** apiVersion and kind of every custom resource the platform declares (for the CRD checks). */
  readonly customResources: readonly { readonly apiVersion: string; readonly kind: string }[];
}

/** What each operator's dependents wait for. */
export type OperatorGates = Readonly<Record<Operator, readonly pulumi.Resource[]>>;

/** Kubernetes' plural of a kind as used in CRD names (AuthorizationPolicy -> authorizationpolicies). */
export function pluralOf(kind: string): string {
  const lower = kind.toLowerCase();
  if (/[^aeiou]y$/.test(lower)) return `${lower.slice(0, -1)}ies`;
  if (/(s|x|z|ch|sh)$/.test(lower)) return `${lower}es`;
  return `${lower}s`;
}

/** `<plural>.<group>` of each distinct custom resource kind, sorted. */
export function crdNames(customResources: OperatorArgs['customResources']): string[] {
  const names = customResources.map((r) => `${pluralOf(r.kind)}.${r.apiVersion.slice(0, r.apiVersion.indexOf('/'))}`);
  return [...new Set(names)].sort();
}

export function installOperators(args: OperatorArgs): OperatorGates {
  return args.mode === 'helm' ? helmReleases(args) : preinstalled(args);
}

function preinstalled(args: OperatorArgs): OperatorGates {
  const opts: pulumi.CustomResourceOptions = { provider: args.provider, parent: args.parent };
  const crds = crdNames(args.customResources).map((name) => ({ name, crd: k8s.apiextensions.v1.CustomResourceDefinition.get(`crd/${name}`, name, opts) }));
  const deployment = (namespace: string, name: string) => k8s.apps.v1.Deployment.get(`${namespace}/${name}`, `${namespace}/${name}`, opts);
  const { istioNamespace, istiod, ingressGateway, strimziOperator } = operatorNames;
  return {
    istio: [
      ...crds.filter((c) => c.name.includes('.istio.io')).map((c) => c.crd),
      deployment(istioNamespace, istiod),
      deployment(istioNamespace, ingressGateway),
    ],
    strimzi: [...crds.filter((c) => c.name.endsWith('.strimzi.io')).map((c) => c.crd), deployment(args.strimziNamespace, strimziOperator)],
  };
}

function helmReleases(args: OperatorArgs): OperatorGates {
  const opts = (dependsOn: pulumi.Resource[]): pulumi.CustomResourceOptions => ({ provider: args.provider, parent: args.parent, dependsOn });
  const { istioNamespace, istiod, ingressGateway, ingressServiceAccount, ingressNodePorts } = operatorNames;
  const istioChart = (chart: string) => ({ chart, version: versions.istio, namespace: istioNamespace, repositoryOpts: { repo: ISTIO_CHART_REPO } });

  const base = new k8s.helm.v3.Release('istio-base', { ...istioChart('base'), name: 'istio-base', createNamespace: true }, opts([]));
  const control = new k8s.helm.v3.Release(
    istiod,
    {
      ...istioChart('istiod'),
      name: istiod,
      values: {
        // istiod asks for 2 GiB by default; these are the requests `make up` gives it.
        pilot: { resources: { requests: { cpu: '100m', memory: '256Mi' } } },
        meshConfig: { accessLogFile: '/dev/stdout', defaultConfig: { holdApplicationUntilProxyStarts: true } },
        global: { proxy: { resources: { requests: { cpu: '10m', memory: '40Mi' } } } },
      },
    },
    opts([base]),
  );
  // The gateway chart labels its pods `istio: <release name without "istio-">`, which is the
  // `istio: ingressgateway` selector of the platform's Gateway.
  const gateway = new k8s.helm.v3.Release(
    ingressGateway,
    {
      ...istioChart('gateway'),
      name: ingressGateway,
      values: {
        serviceAccount: { name: ingressServiceAccount },
        resources: { requests: { cpu: '50m', memory: '64Mi' } },
        service: {
          // A LoadBalancer stays pending on plain kind; kind-config.yaml maps these NodePorts to localhost.
          type: 'NodePort',
          ports: [
            { name: 'status-port', port: 15021, protocol: 'TCP', targetPort: 15021 },
            { name: 'http2', port: 80, protocol: 'TCP', targetPort: 80, nodePort: ingressNodePorts.http },
            { name: 'https', port: 443, protocol: 'TCP', targetPort: 443, nodePort: ingressNodePorts.https },
          ],
        },
      },
    },
    opts([control]),
  );
  const strimzi = new k8s.helm.v3.Release(
    'strimzi-kafka-operator',
    // The operator runs in the namespace it watches (the chart's default), so it needs no RBAC elsewhere.
    { chart: STRIMZI_CHART, version: versions.strimzi, name: operatorNames.strimziOperator, namespace: args.strimziNamespace },
    opts(args.strimziNamespaceResource ? [args.strimziNamespaceResource] : []),
  );
  return { istio: [base, control, gateway], strimzi: [strimzi] };
}
