import * as kplus from 'cdk8s-plus-28';
import { Construct, type IConstruct } from 'constructs';
import { AuthorizationPolicy } from '../imports/istio-security.istio.io.js';
import { PeerAuthentication, PeerAuthenticationSpecMtlsMode } from '../imports/istio-security.istio.io.js';

export interface NamespaceSecurityProps {
  /** The meshed namespace to lock down. */
  readonly namespace: string;
  /**
   * Namespace of the Istio control plane (istiod, and Prometheus from Istio's add-ons).
   * @default 'istio-system'
   */
  readonly istioNamespace?: string;
}

/** DNS (kube-dns / CoreDNS in kube-system), UDP and TCP. */
export const DNS_PORT = 53;
/**
 * Sidecar -> istiod: xDS and certificate signing, TLS/mTLS
 * (https://istio.io/latest/docs/ops/deployment/application-requirements/#ports-used-by-istio).
 * istiod's other ports are not called by workloads: 15017 is its webhook port, called by the
 * kube-apiserver; 15010 is the plaintext xDS port, 15014 its own monitoring.
 */
export const ISTIOD_XDS_PORT = 15012;
/** Envoy's merged Prometheus endpoint, which scrapes the app through the sidecar. */
export const MERGED_METRICS_PORT = 15020;

/**
 * The namespace's defaults, each a wall that grants then open: STRICT mTLS
 * (PeerAuthentication), an allow-nothing AuthorizationPolicy for any workload
 * without its own policy, and NetworkPolicies that deny everything except DNS,
 * the sidecars' connection to istiod and Prometheus scraping the merged metrics port.
 *
 * With it in the app, the workloads' own NetworkPolicies (WorkloadAccess) leave that
 * baseline out, since these policies already open it for every pod of the namespace.
 *
 * @example
 * new NamespaceSecurity(chart, 'security', { namespace: 'warehouse' });
 */
export class NamespaceSecurity extends Construct {
  /** True when a NamespaceSecurity for `namespace` is part of the app that `scope` belongs to. */
  static existsFor(scope: IConstruct, namespace: string): boolean {
    return scope.node.root.node.findAll().some((c) => c instanceof NamespaceSecurity && c.namespace === namespace);
  }

  /** The namespace locked down. */
  readonly namespace: string;
  /** Namespace of istiod and Prometheus. */
  readonly istioNamespace: string;

  constructor(scope: Construct, id: string, props: NamespaceSecurityProps) {
    super(scope, id);
    const namespace = props.namespace;
    const istio = props.istioNamespace ?? 'istio-system';
    this.namespace = namespace;
    this.istioNamespace = istio;
    const inIstio = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': istio } } };
    const port = (n: number, protocol = 'TCP') => ({ port: kplus.k8s.IntOrString.fromNumber(n), protocol });

    new PeerAuthentication(this, 'StrictMtls', {
      metadata: { name: 'default', namespace },
      spec: { mtls: { mode: PeerAuthenticationSpecMtlsMode.STRICT } },
    });
    // An empty spec selects every workload and matches no request: allow nothing unless a workload policy says so.
    new AuthorizationPolicy(this, 'AllowNothing', { metadata: { name: 'allow-nothing', namespace }, spec: {} });

    new kplus.k8s.KubeNetworkPolicy(this, 'DefaultDeny', {
      metadata: { name: 'default-deny', namespace },
      spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
    });
    new kplus.k8s.KubeNetworkPolicy(this, 'AllowDns', {
      metadata: { name: 'allow-dns', namespace },
      spec: {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [
          {
            to: [
              { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } },
            ],
            ports: [port(DNS_PORT, 'UDP'), port(DNS_PORT, 'TCP')],
          },
        ],
      },
    });
    new kplus.k8s.KubeNetworkPolicy(this, 'AllowIstio', {
      metadata: { name: 'allow-istio-control-plane', namespace },
      spec: {
        podSelector: {},
        policyTypes: ['Ingress', 'Egress'],
        egress: [{ to: [{ ...inIstio, podSelector: { matchLabels: { app: 'istiod' } } }], ports: [port(ISTIOD_XDS_PORT)] }],
        ingress: [{ from: [inIstio], ports: [port(MERGED_METRICS_PORT)] }],
      },
    });
  }
}
