/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are untyped JSON by nature */
import { describe, expect, it } from 'vitest';
import { callGraph, edgeAuth, namespaces, services, topics } from '../../charts/platform.js';
import { authorizes, matchesValue, networkAllows, type Workload } from '../../analysis/access.js';
import type { Route } from '../../mesh/route.js';
import { synthPlatform } from '../support/platform.js';

const { objects, files } = synthPlatform();
const shop = namespaces.shop;
const gatewayPrincipal = 'cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account';
const gateway: Workload = { namespace: namespaces.istio, labels: { istio: 'ingressgateway' } };
const pod = (name: string): Workload => ({ namespace: shop, labels: { app: name } });
const principal = (name: string) => `cluster.local/ns/${shop}/sa/${name}`;
const PORT = 8080;

/** A concrete request path for a route template: `/charges/{id}/refund` -> `/charges/x1/refund`. */
const concrete = (route: Route) => route.path.replace(/\{[^}]+\}/g, 'x1');

describe('authorization derived from the call graph', () => {
  const pairs = services.flatMap((caller) => services.filter((callee) => callee !== caller).map((callee) => [caller, callee] as const));

  it.each(pairs.map(([a, b]) => [a.name, b.name]))('%s may call exactly the call-graph routes of %s, in both walls', (from, to) => {
    const callee = services.find((s) => s.name === to)!;
    const granted = callGraph.find((e) => e.from === from && e.to === to)?.routes ?? [];
    for (const route of callee.routes) {
      for (const method of route.methods) {
        const path = concrete(route);
        // The JWKS document is public by design (istiod fetches it over plain HTTP).
        const open = to === 'user' && route.path === edgeAuth.jwksPath;
        const expected = open || granted.includes(route);
        expect(authorizes(objects, pod(to), { principal: principal(from), method, path, port: PORT }), `${from} -> ${to} ${method} ${path}`).toBe(expected);
      }
    }
    expect(networkAllows(objects, pod(from), pod(to), PORT), `network ${from} -> ${to}`).toBe(granted.length > 0);
  });

  it('has an allow rule for every route of every call-graph edge', () => {
    for (const edge of callGraph) {
      const callee = services.find((s) => s.name === edge.to)!;
      for (const route of edge.routes) {
        expect(callee.routes, `${edge.from} -> ${edge.to} ${route.description}`).toContain(route);
        expect(authorizes(objects, pod(edge.to), { principal: principal(edge.from), method: route.methods[0]!, path: concrete(route), port: PORT })).toBe(true);
      }
    }
  });

  it('lets no other identity in: an unknown principal and plaintext callers are refused', () => {
    for (const spec of services) {
      for (const route of spec.routes.filter((r) => r.path !== edgeAuth.jwksPath)) {
        for (const who of [principal('intruder'), undefined]) {
          expect(authorizes(objects, pod(spec.name), { principal: who, method: route.methods[0]!, path: concrete(route), port: PORT })).toBe(false);
        }
      }
    }
  });

  it('keeps every database to its owner', () => {
    for (const owner of services) {
      for (const other of services) {
        const db = pod(`${owner.name}-db`);
        const expected = other === owner;
        expect(authorizes(objects, db, { principal: principal(other.name), method: 'GET', path: '/', port: 5432 })).toBe(expected);
        expect(networkAllows(objects, pod(other.name), db, 5432)).toBe(expected);
      }
    }
  });

  it('opens Kafka to producers and consumers only', () => {
    const broker: Workload = { namespace: namespaces.kafka, labels: { 'strimzi.io/cluster': 'meshkit' } };
    for (const spec of services) {
      const usesKafka = topics.some((t) => t.producers.includes(spec.name) || t.consumers.includes(spec.name));
      expect(networkAllows(objects, pod(spec.name), broker, 9092), spec.name).toBe(usesKafka);
    }
  });

  it("keeps Kafka clients to the cluster's pods, not the rest of its namespace", () => {
    const operator: Workload = { namespace: namespaces.kafka, labels: { name: 'strimzi-cluster-operator' } };
    for (const spec of services) expect(networkAllows(objects, pod(spec.name), operator, 9092), spec.name).toBe(false);
  });

  it('uses no wildcard principal anywhere', () => {
    const principals = objects
      .filter((o) => o.kind === 'AuthorizationPolicy')
      .flatMap((o) => (o.spec?.rules ?? []).flatMap((r: any) => (r.from ?? []).flatMap((f: any) => f.source?.principals ?? [])));
    expect(principals.length).toBeGreaterThan(0);
    for (const p of principals) expect(p).toMatch(/^cluster\.local\/ns\/[a-z0-9-]+\/sa\/[a-z0-9-]+$/);
  });
});

describe('the edge', () => {
  const protectedRoutes = services.flatMap((s) => s.routes.filter((r) => s.jwtRoutes.includes(r)).map((r) => [s.name, r] as const));
  const openRoutes = services.flatMap((s) => s.routes.filter((r) => s.publicRoutes.includes(r) && !s.jwtRoutes.includes(r)).map((r) => [s.name, r] as const));
  const userJwt = `${edgeAuth.issuer}/6f1c1a52-2f5e-4a9b-9a57-6a1e2f1b0c11`;

  it('lets the gateway reach exactly the public routes, and nothing of payment', () => {
    for (const spec of services) {
      for (const route of spec.routes) {
        const expected = spec.publicRoutes.includes(route);
        expect(
          authorizes(objects, pod(spec.name), { principal: gatewayPrincipal, method: route.methods[0]!, path: concrete(route), port: PORT }),
          `${spec.name} ${route.description}`,
        ).toBe(expected);
      }
      expect(networkAllows(objects, gateway, pod(spec.name), PORT), spec.name).toBe(spec.publicRoutes.length > 0);
    }
  });

  it('refuses protected routes without a JWT from our issuer, and lets them through with one', () => {
    expect(protectedRoutes.length).toBeGreaterThan(0);
    for (const [, route] of protectedRoutes) {
      const request = { method: route.methods[0]!, path: concrete(route), port: 80 };
      expect(authorizes(objects, gateway, request)).toBe(false);
      expect(authorizes(objects, gateway, { ...request, requestPrincipal: `someone-else/${userJwt.split('/')[1]}` })).toBe(false);
      expect(authorizes(objects, gateway, { ...request, requestPrincipal: userJwt })).toBe(true);
    }
    for (const [, route] of openRoutes) expect(authorizes(objects, gateway, { method: route.methods[0]!, path: concrete(route), port: 80 })).toBe(true);
  });

  it('routes only public operations from the gateway', () => {
    const edge = objects.find((o) => o.kind === 'VirtualService' && o.metadata.name === 'edge')!;
    const routed = edge.spec.http.map((r: { name: string }) => r.name);
    const expected = services.flatMap((s) => s.routes.filter((r) => s.publicRoutes.includes(r)).map((r) => `${s.name}-${r.name}`));
    expect(routed.sort()).toEqual(expected.sort());
    expect(JSON.stringify(edge.spec.http)).not.toContain('payment');
  });

  it('verifies tokens against the user service JWKS and fills the user id header from the verified subject', () => {
    const ra = objects.find((o) => o.kind === 'RequestAuthentication')!;
    expect(ra.spec.jwtRules).toEqual([
      {
        issuer: edgeAuth.issuer,
        audiences: [...edgeAuth.audiences],
        jwks_uri: `http://user.${shop}.svc.cluster.local:8080${edgeAuth.jwksPath}`,
        outputClaimToHeaders: [{ header: edgeAuth.userIdHeader, claim: 'sub' }],
      },
    ]);
  });
});

describe('secrets and transport', () => {
  it('enforces STRICT mTLS in the shop namespace', () => {
    const pa = objects.find((o) => o.kind === 'PeerAuthentication' && o.metadata.name === 'default')!;
    expect(pa).toMatchObject({ metadata: { namespace: shop }, spec: { mtls: { mode: 'STRICT' } } });
  });

  it('puts nothing in clear text that should be a secret', () => {
    const text = [...files.values()].join('\n');
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
    expect(text).not.toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY-----/);
    for (const o of objects.filter((x) => x.kind === 'Deployment' || x.kind === 'StatefulSet')) {
      for (const c of o.spec.template.spec.containers) {
        for (const env of c.env ?? []) {
          if (/PASSWORD|SECRET|TOKEN|PRIVATE_KEY/.test(env.name)) expect(env.value, `${o.metadata.name} ${env.name}`).toBeUndefined();
        }
      }
    }
  });
});

describe('matchesValue', () => {
  it('follows Istio string and path-template matching', () => {
    expect(matchesValue('/charges/{*}/refund', '/charges/c1/refund')).toBe(true);
    expect(matchesValue('/charges/{*}/refund', '/charges/c1/x/refund')).toBe(false);
    expect(matchesValue('/charges/{**}', '/charges/a/b')).toBe(true);
    expect(matchesValue('/orders*', '/orders/1')).toBe(true);
    expect(matchesValue('/orders', '/orders/1')).toBe(false);
    expect(matchesValue('meshkit-user/*', 'meshkit-user/u1')).toBe(true);
  });
});
