import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import {
  AuthorizationPolicy,
  AuthorizationPolicySpecAction,
  type AuthorizationPolicySpecRules,
  type AuthorizationPolicySpecRulesTo,
} from '../imports/istio-security.istio.io.js';
import { matchesValue } from './analysis/access.js';
import type { Route } from './route.js';

/**
 * Something that can call or be called: an Istio identity (SPIFFE principal)
 * and the pods behind it, for NetworkPolicies.
 */
export interface AccessPeer {
  /** Istio principal, `cluster.local/ns/<namespace>/sa/<service-account>`. */
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
  /** HTTP operations allowed; undefined means the whole port (TCP, e.g. PostgreSQL). */
  readonly routes?: readonly Route[];
  /** Require a verified end-user JWT from this issuer (request principal `<issuer>/*`). */
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
}

/**
 * Least-privilege access to one workload, two walls deep: an Istio
 * AuthorizationPolicy (ALLOW; no rule means nothing is allowed) keyed on
 * caller principals, methods and paths, and a Kubernetes NetworkPolicy keyed on
 * pod labels and ports. Grants accumulate until synthesis.
 */
export class WorkloadAccess extends Construct {
  readonly workload: AccessPeer;
  readonly declaredRoutes: readonly Route[];
  readonly grants: AccessGrant[] = [];
  readonly egress: EgressGrant[] = [];
  readonly authorizationPolicy: AuthorizationPolicy;
  readonly networkPolicy: kplus.k8s.KubeNetworkPolicy;

  constructor(scope: Construct, id: string, props: WorkloadAccessProps) {
    super(scope, id);
    this.workload = props.workload;
    this.declaredRoutes = props.declaredRoutes ?? [];
    const metadata = { name: props.name, namespace: props.workload.namespace };
    // Rules are read when cdk8s renders the object, so grants added later are included.
    const rules: AuthorizationPolicySpecRules[] = [];
    this.authorizationPolicy = new AuthorizationPolicy(this, 'AuthorizationPolicy', {
      metadata,
      spec: { selector: { matchLabels: { ...props.workload.podLabels } }, action: AuthorizationPolicySpecAction.ALLOW, rules },
    });
    this.rules = rules;
    const ingress = this.ingressRules;
    const egress = this.egressRules;
    this.networkPolicy = new kplus.k8s.KubeNetworkPolicy(this, 'NetworkPolicy', {
      metadata,
      spec: {
        podSelector: { matchLabels: { ...props.workload.podLabels } },
        policyTypes: ['Ingress', 'Egress'],
        // Read at synthesis; an empty list is left out, as the API server stores it, so re-applying changes nothing.
        get ingress() {
          return ingress.length > 0 ? ingress : undefined;
        },
        get egress() {
          return egress.length > 0 ? egress : undefined;
        },
      },
    });
  }

  private readonly rules: AuthorizationPolicySpecRules[];
  private readonly ingressRules: kplus.k8s.NetworkPolicyIngressRule[] = [];
  private readonly egressRules: kplus.k8s.NetworkPolicyEgressRule[] = [];

  /** Lets `grant.from` in on `grant.port`, limited to `grant.routes` when given. */
  allow(grant: AccessGrant): void {
    if (!grant.from.principal) {
      throw new Error(`WorkloadAccess '${this.node.id}': 'from' (${grant.from.displayName}) has no Istio principal: only mesh workloads can be granted access`);
    }
    this.grants.push(grant);
    this.rules.push({
      from: [{ source: { principals: [grant.from.principal], ...(grant.jwtIssuer && { requestPrincipals: [`${grant.jwtIssuer}/*`] }) } }],
      to: operations(grant.port, grant.routes, this.declaredRoutes),
    });
    this.allowIngress(grant.from, grant.port);
  }

  /** Lets anyone reach these routes over plain HTTP on `port` (e.g. a public JWKS document istiod fetches). */
  allowAnyone(port: number, routes: readonly Route[], from: AccessPeer): void {
    this.grants.push({ from, port, routes });
    this.rules.push({ to: operations(port, routes, this.declaredRoutes) });
    this.allowIngress(from, port);
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
