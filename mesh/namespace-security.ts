import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
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

/** Sidecar -> istiod: xDS and certificate signing (https://istio.io/latest/docs/ops/deployment/application-requirements/#ports-used-by-istio). */
const ISTIOD_XDS_PORT = 15012;
/** Envoy's merged Prometheus endpoint, which scrapes the app through the sidecar. */
const MERGED_METRICS_PORT = 15020;

/**
 * The namespace's defaults, each a wall that grants then open: STRICT mTLS
 * (PeerAuthentication), an allow-nothing AuthorizationPolicy for any workload
 * without its own policy, and NetworkPolicies that deny everything except DNS,
 * the sidecars' connection to istiod and Prometheus scraping the merged metrics port.
 */
export class NamespaceSecurity extends Construct {
  constructor(scope: Construct, id: string, props: NamespaceSecurityProps) {
    super(scope, id);
    const namespace = props.namespace;
    const istio = props.istioNamespace ?? 'istio-system';
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
            ports: [port(53, 'UDP'), port(53, 'TCP')],
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
