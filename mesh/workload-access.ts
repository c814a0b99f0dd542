import { Lazy } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import {
  AuthorizationPolicy,
  AuthorizationPolicySpecAction,
  type AuthorizationPolicySpecRules,
  type AuthorizationPolicySpecRulesTo,
} from '../imports/istio-security.istio.io.js';
import { matchesValue } from './istio-match.js';
import { DNS_PORT, ISTIOD_XDS_PORT, MERGED_METRICS_PORT, NamespaceSecurity } from './namespace-security.js';
import type { Route } from './route.js';

/**
 * Something that can call or be called: an Istio identity (SPIFFE principal)
 * and the pods behind it, for NetworkPolicies.
 */
export interface AccessPeer {
  /**
   * Istio principal, `cluster.local/ns/<namespace>/sa/<service-account>`.
   * @default - none: a workload outside the mesh, which only NetworkPolicies can admit
   */
  readonly principal?: string;
  /** Namespace of the pods. */
  readonly namespace: string;
  /** Labels selecting the pods (empty: every pod of the namespace). */
  readonly podLabels: Readonly<Record<string, string>>;
  /** Human name for docs and messages. */
  readonly displayName: string;
}

/** One allowed way in: who, on which port, and (for HTTP) which operations. */
export interface AccessGrant {
  readonly from: AccessPeer;
  readonly port: number;
  /**
   * HTTP operations allowed.
   * @default - the whole port (TCP, e.g. PostgreSQL)
   */
  readonly routes?: readonly Route[];
  /**
   * Require a verified end-user JWT from this issuer (request principal `<issuer>/*`).
   * @default - no end-user token required
   */
  readonly jwtIssuer?: string;
}

/** One allowed way out, for the egress side of NetworkPolicies. */
export interface EgressGrant {
  readonly to: AccessPeer;
  readonly ports: readonly { port: number; protocol?: 'TCP' | 'UDP' }[];
}

export interface WorkloadAccessProps {
  /** The workload's own pods. */
  readonly workload: AccessPeer;
  /**
   * Every HTTP operation the workload declares, so a granted path template never
   * also grants a literal sibling path (`/users/{id}` must not open `/users/me`).
   * @default - none: templates are granted as written
   */
  readonly declaredRoutes?: readonly Route[];
  /** Name of the AuthorizationPolicy and NetworkPolicy (the workload name). */
  readonly name: string;
  /**
   * Namespace of istiod (and of Prometheus from Istio's add-ons), for the mesh baseline below.
   * @default 'istio-system'
   */
  readonly istioNamespace?: string;
}

/**
 * Least-privilege access to one workload, two walls deep: an Istio
 * AuthorizationPolicy (ALLOW; no rule means nothing is allowed) keyed on
 * caller principals, methods and paths, and a Kubernetes NetworkPolicy keyed on
 * pod labels and ports. Grants and declared routes accumulate until synthesis, when
 * both policies are rendered.
 *
 * The NetworkPolicy isolates the pods, so on its own it also carries the mesh
 * baseline a sidecar needs to become ready: egress to kube-dns (53/UDP+TCP) and to
 * istiod (15012: xDS and certificates), and ingress from the Istio namespace to the
 * merged metrics port (15020). A {@link NamespaceSecurity} for the same namespace
 * in the same app provides that baseline namespace-wide, and then this policy
 * leaves it out.
 *
 * @example
 * const access = new WorkloadAccess(chart, 'reports', {
 *   name: 'reports',
 *   workload: { principal: 'cluster.local/ns/warehouse/sa/reports', namespace: 'warehouse', podLabels: { app: 'reports' }, displayName: 'reports' },
 * });
 * access.allow({ from: inventory.peer, port: 8080 }); // the inventory service may open any request on 8080
 */
export class WorkloadAccess extends Construct {
  /** The guarded pods and their identity. */
  readonly workload: AccessPeer;
  /** Every way in granted so far, in order. */
  readonly grants: AccessGrant[] = [];
  /** Every way out granted so far, in order. */
  readonly egress: EgressGrant[] = [];
  /** The Istio AuthorizationPolicy (ALLOW) of the workload. */
  readonly authorizationPolicy: AuthorizationPolicy;
  /** The Kubernetes NetworkPolicy of the workload (ingress and egress). */
  readonly networkPolicy: kplus.k8s.KubeNetworkPolicy;

  constructor(scope: Construct, id: string, props: WorkloadAccessProps) {
    super(scope, id);
    this.workload = props.workload;
    this.declared.push(...(props.declaredRoutes ?? []));
    const metadata = { name: props.name, namespace: props.workload.namespace };
    this.authorizationPolicy = new AuthorizationPolicy(this, 'AuthorizationPolicy', {
      metadata,
      spec: {
        selector: { matchLabels: { ...props.workload.podLabels } },
        action: AuthorizationPolicySpecAction.ALLOW,
        // Read at synthesis, so grants and routes declared later are included.
        rules: Lazy.any({ produce: () => this.rules.map((rule) => rule()) }),
      },
    });
    this.istioNamespace = props.istioNamespace ?? 'istio-system';
    const ingress = () => [...this.ingressRules, ...(this.needsBaseline() ? baselineIngress(this.istioNamespace) : [])];
    const egress = () => [...this.egressRules, ...(this.needsBaseline() ? baselineEgress(this.istioNamespace) : [])];
    this.networkPolicy = new kplus.k8s.KubeNetworkPolicy(this, 'NetworkPolicy', {
      metadata,
      spec: {
        podSelector: { matchLabels: { ...props.workload.podLabels } },
        policyTypes: ['Ingress', 'Egress'],
        // Read at synthesis; an empty list is left out, as the API server stores it, so re-applying changes nothing.
        get ingress() {
          const rules = ingress();
          return rules.length > 0 ? rules : undefined;
        },
        get egress() {
          const rules = egress();
          return rules.length > 0 ? rules : undefined;
        },
      },
    });
  }

  /** Namespace of istiod, which the mesh baseline lets the sidecar reach. */
  readonly istioNamespace: string;
  /** One AuthorizationPolicy rule per grant call, rendered at synthesis against the routes declared by then. */
  private readonly rules: (() => AuthorizationPolicySpecRules)[] = [];
  private readonly declared: Route[] = [];
  private readonly ingressRules: kplus.k8s.NetworkPolicyIngressRule[] = [];
  private readonly egressRules: kplus.k8s.NetworkPolicyEgressRule[] = [];

  /** Every operation the workload declares (to keep templates from opening literal siblings). */
  get declaredRoutes(): readonly Route[] {
    return [...this.declared];
  }

  /** Declares one more operation of the workload, so grants of path templates leave it out unless they name it. */
  declareRoute(route: Route): void {
    this.declared.push(route);
  }

  /** Lets `grant.from` in on `grant.port`, limited to `grant.routes` when given. */
  allow(grant: AccessGrant): void {
    if (!grant.from.principal) {
      throw new Error(`WorkloadAccess '${this.node.id}': 'from' (${grant.from.displayName}) has no Istio principal: only mesh workloads can be granted access`);
    }
    this.grants.push(grant);
    const principal = grant.from.principal;
    this.rules.push(() => ({
      from: [{ source: { principals: [principal], ...(grant.jwtIssuer && { requestPrincipals: [`${grant.jwtIssuer}/*`] }) } }],
      to: operations(grant.port, grant.routes, this.declared),
    }));
    this.allowIngress(grant.from, grant.port);
  }

  /** Lets anyone reach these routes over plain HTTP on `port` (e.g. a public JWKS document istiod fetches). */
  allowAnyone(port: number, routes: readonly Route[], from: AccessPeer): void {
    this.grants.push({ from, port, routes });
    this.rules.push(() => ({ to: operations(port, routes, this.declared) }));
    this.allowIngress(from, port);
  }

  /**
   * Lets every mesh workload (mTLS identity) of these namespaces in on `port`, limited to `routes` when given:
   * Istio `source.namespaces`, and a namespace selector in the NetworkPolicy.
   */
  allowNamespaces(namespaces: readonly string[], port: number, routes?: readonly Route[]): void {
    for (const namespace of namespaces) {
      const from: AccessPeer = { namespace, podLabels: {}, displayName: `namespace ${namespace}` };
      this.grants.push({ from, port, routes });
      addOnce(this.ingressRules, {
        from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } } }],
        ports: [{ port: kplus.k8s.IntOrString.fromNumber(port), protocol: 'TCP' }],
      });
    }
    this.rules.push(() => ({ from: [{ source: { namespaces: [...namespaces] } }], to: operations(port, routes, this.declared) }));
  }

  /** True unless a NamespaceSecurity in the same app already opens DNS, istiod and metrics for the whole namespace. */
  private needsBaseline(): boolean {
    return !NamespaceSecurity.existsFor(this, this.workload.namespace);
  }

  /** One NetworkPolicy ingress rule per peer and port, however many grants share them. */
  private allowIngress(from: AccessPeer, port: number): void {
    addOnce(this.ingressRules, {
      from: [peerSelector(from, this.workload.namespace)],
      ports: [{ port: kplus.k8s.IntOrString.fromNumber(port), protocol: 'TCP' }],
    });
  }

  /** Lets the workload's pods open connections to `grant.to` on the given ports. */
  allowEgress(grant: EgressGrant): void {
    this.egress.push(grant);
    addOnce(this.egressRules, {
      to: [peerSelector(grant.to, this.workload.namespace)],
      ports: grant.ports.map((p) => ({ port: kplus.k8s.IntOrString.fromNumber(p.port), protocol: p.protocol ?? 'TCP' })),
    });
  }
}

const tcp = (port: number, protocol = 'TCP') => ({ port: kplus.k8s.IntOrString.fromNumber(port), protocol });

/** What a sidecar needs to get its configuration and certificate: DNS, then istiod (same rules as NamespaceSecurity). */
function baselineEgress(istioNamespace: string): kplus.k8s.NetworkPolicyEgressRule[] {
  return [
    {
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
      ports: [tcp(DNS_PORT, 'UDP'), tcp(DNS_PORT)],
    },
    {
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': istioNamespace } }, podSelector: { matchLabels: { app: 'istiod' } } }],
      ports: [tcp(ISTIOD_XDS_PORT)],
    },
  ];
}

/** Prometheus (Istio's add-on, in the Istio namespace) scraping the sidecar's merged metrics port. */
function baselineIngress(istioNamespace: string): kplus.k8s.NetworkPolicyIngressRule[] {
  return [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': istioNamespace } } }], ports: [tcp(MERGED_METRICS_PORT)] }];
}

function addOnce<T>(list: T[], item: T): void {
  const key = JSON.stringify(item);
  if (!list.some((existing) => JSON.stringify(existing) === key)) list.push(item);
}

/**
 * One operation per route, so methods and paths never combine into a pair nobody
 * granted (methods [POST, GET] x paths [/a, /b] would also allow GET /a).
 */
function operations(port: number, routes: readonly Route[] | undefined, declared: readonly Route[]): AuthorizationPolicySpecRulesTo[] {
  if (!routes) return [{ operation: { ports: [String(port)] } }];
  return routes.map((r) => {
    const path = istioPathTemplate(r.path);
    const shadowed = declared.filter((d) => !routes.includes(d) && !d.isTemplate && d.methods.some((m) => r.methods.includes(m)) && matchesValue(path, d.path));
    return {
      operation: { ports: [String(port)], methods: [...r.methods], paths: [path], ...(shadowed.length > 0 && { notPaths: shadowed.map((d) => d.path) }) },
    };
  });
}

/** Istio AuthorizationPolicy path template: `{id}` segments become `{*}` (one segment). */
export function istioPathTemplate(path: string): string {
  return path.replace(/\{[^}]+\}/g, '{*}');
}

function peerSelector(peer: AccessPeer, fromNamespace: string): kplus.k8s.NetworkPolicyPeer {
  const podSelector = { matchLabels: { ...peer.podLabels } };
  if (peer.namespace === fromNamespace) return { podSelector };
  return { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': peer.namespace } }, podSelector };
}
