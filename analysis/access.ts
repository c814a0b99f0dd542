/**
 * Evaluates synthesized security policy as data: would this request pass the
 * Istio AuthorizationPolicies, would this connection pass the Kubernetes
 * NetworkPolicies? Only the features meshkit emits are modelled (principals,
 * request principals, methods, paths with `{*}` templates and `*` affixes,
 * ports; pod and namespace label selectors) — anything else throws, so a
 * policy this evaluator does not understand can never pass silently.
 */

import type { KubeObject } from '../manifests/kube-object.js';
import { selects } from '../manifests/selectors.js';
import { matchesValue } from '../mesh/istio-match.js';

// The library owns Istio's string matching (WorkloadAccess uses it); the analyzer evaluates with the same function.
export { matchesValue };

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are untyped JSON by nature */

export interface Workload {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface HttpRequest {
  /** Peer identity from mTLS, absent for plaintext callers. */
  readonly principal?: string;
  /** `<iss>/<sub>` of a verified JWT, if any. */
  readonly requestPrincipal?: string;
  readonly method: string;
  readonly path: string;
  readonly port: number;
}

const SOURCE_FIELDS = new Set(['principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals']);
const OPERATION_FIELDS = new Set(['methods', 'notMethods', 'paths', 'notPaths', 'ports', 'notPorts']);

function fieldMatches(values: string[] | undefined, notValues: string[] | undefined, actual: string | undefined): boolean {
  if (values && (actual === undefined || !values.some((v) => matchesValue(v, actual)))) return false;
  // A missing value never matches a not-list entry: notRequestPrincipals catches requests without a JWT.
  if (notValues && actual !== undefined && notValues.some((v) => matchesValue(v, actual))) return false;
  return true;
}

function ruleMatches(rule: any, request: HttpRequest): boolean {
  if (rule.when) throw new Error('access evaluator: `when` conditions are not modelled');
  const fromOk =
    !rule.from ||
    rule.from.some((f: any) => {
      const s = f.source ?? {};
      for (const key of Object.keys(s)) if (!SOURCE_FIELDS.has(key)) throw new Error(`access evaluator: source field '${key}' is not modelled`);
      return (
        fieldMatches(s.principals, s.notPrincipals, request.principal) && fieldMatches(s.requestPrincipals, s.notRequestPrincipals, request.requestPrincipal)
      );
    });
  const toOk =
    !rule.to ||
    rule.to.some((t: any) => {
      const o = t.operation ?? {};
      for (const key of Object.keys(o)) if (!OPERATION_FIELDS.has(key)) throw new Error(`access evaluator: operation field '${key}' is not modelled`);
      return (
        fieldMatches(o.methods, o.notMethods, request.method) &&
        fieldMatches(o.paths, o.notPaths, request.path) &&
        fieldMatches(o.ports, o.notPorts, String(request.port))
      );
    });
  return fromOk && toOk;
}

/** Istio's decision for `request` arriving at `workload`: DENY policies first, then ALLOW policies, else allow. */
export function authorizes(objects: readonly KubeObject[], workload: Workload, request: HttpRequest, rootNamespace = 'istio-system'): boolean {
  const policies = objects.filter(
    (o) =>
      o.kind === 'AuthorizationPolicy' &&
      (o.metadata.namespace === workload.namespace || o.metadata.namespace === rootNamespace) &&
      selects(o.spec?.selector?.matchLabels, workload.labels),
  );
  const action = (p: KubeObject) => p.spec?.action ?? 'ALLOW';
  for (const p of policies) if (!['ALLOW', 'DENY'].includes(action(p))) throw new Error(`access evaluator: action ${action(p)} is not modelled`);
  if (policies.some((p) => action(p) === 'DENY' && (p.spec?.rules ?? []).some((r: any) => ruleMatches(r, request)))) return false;
  const allows = policies.filter((p) => action(p) === 'ALLOW');
  if (allows.length === 0) return true;
  return allows.some((p) => (p.spec?.rules ?? []).some((r: any) => ruleMatches(r, request)));
}

function peerMatches(peer: any, other: Workload, policyNamespace: string): boolean {
  for (const key of Object.keys(peer))
    if (key !== 'podSelector' && key !== 'namespaceSelector') throw new Error(`access evaluator: NetworkPolicy peer '${key}' is not modelled`);
  if (peer.namespaceSelector) {
    const nsLabels = { 'kubernetes.io/metadata.name': other.namespace };
    if (!selects(peer.namespaceSelector.matchLabels, nsLabels)) return false;
  } else if (other.namespace !== policyNamespace) {
    return false;
  }
  return !peer.podSelector || selects(peer.podSelector.matchLabels, other.labels);
}

function portMatches(ports: any[] | undefined, port: number, protocol: string): boolean {
  return !ports || ports.some((p) => (p.protocol ?? 'TCP') === protocol && (p.port === undefined || p.port === port));
}

/** Whether NetworkPolicies let `from` open a connection to `to` on `port` (egress side and ingress side). */
export function networkAllows(objects: readonly KubeObject[], from: Workload, to: Workload, port: number, protocol = 'TCP'): boolean {
  const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
  const side = (workload: Workload, type: 'Ingress' | 'Egress', peer: Workload) => {
    const applicable = policies.filter(
      (p) =>
        p.metadata.namespace === workload.namespace &&
        selects(p.spec?.podSelector?.matchLabels, workload.labels) &&
        (p.spec?.policyTypes ?? ['Ingress']).includes(type),
    );
    if (applicable.length === 0) return true;
    const key = type === 'Ingress' ? 'ingress' : 'egress';
    const peersKey = type === 'Ingress' ? 'from' : 'to';
    return applicable.some((p) =>
      (p.spec?.[key] ?? []).some(
        (rule: any) =>
          (!rule[peersKey] || rule[peersKey].some((peerSpec: any) => peerMatches(peerSpec, peer, p.metadata.namespace!))) &&
          portMatches(rule.ports, port, protocol),
      ),
    );
  };
  return side(from, 'Egress', to) && side(to, 'Ingress', from);
}
