import { describe, expect, it } from 'vitest';
import { budgetLines, totalRequests } from '../../charts/resource-budget.js';
import { callGraph, checkDeployment, defaultReplicas, meshRoute, namespaces, resourceBudget, services, topics } from '../../charts/platform.js';
import * as contract from '../../contract/index.js';
import { RouteClass } from '../../mesh/route.js';
import { checkCrossReferences } from '../../analysis/cross-references.js';
import { platformEnv } from '../../local/dev/wiring.js';
import { find } from '../support/manifests.js';
import { synthPlatform } from '../support/platform.js';

const { platform, files, objects } = synthPlatform();

describe('the synthesized platform', () => {
  it('writes one file per chart, namespaces first', () => {
    expect([...files.keys()]).toEqual(['0000-namespaces.k8s.yaml', '0001-kafka.k8s.yaml', '0002-shop.k8s.yaml']);
  });

  it('is deterministic: a second synthesis produces identical bytes', () => {
    const again = synthPlatform();
    expect([...again.files.entries()]).toEqual([...files.entries()]);
  });

  it('labels shop for sidecar injection and keeps kafka out of the mesh', () => {
    expect(find(objects, 'Namespace', 'shop').metadata.labels).toMatchObject({ 'istio-injection': 'enabled' });
    expect(find(objects, 'Namespace', 'kafka').metadata.labels).toMatchObject({ 'istio-injection': 'disabled' });
  });

  it('deploys every service of the model with its own database, VirtualService and DestinationRule', () => {
    for (const { name } of services) {
      for (const kind of ['Deployment', 'Service', 'ServiceAccount', 'PodDisruptionBudget', 'VirtualService', 'DestinationRule']) {
        expect(find(objects, kind, name).metadata.namespace).toBe(namespaces.shop);
      }
      expect(find(objects, 'StatefulSet', `${name}-db`).metadata.namespace).toBe(namespaces.shop);
    }
  });

  it('declares one KafkaTopic per event stream of the model', () => {
    const declared = objects.filter((o) => o.kind === 'KafkaTopic').map((o) => o.spec.topicName);
    expect(declared.sort()).toEqual(topics.map((t) => t.name).sort());
  });

  it('has no dangling reference: hosts, selectors, ports, subsets, Secrets and service URLs all resolve', () => {
    expect(checkCrossReferences(objects, { externalSecrets: platform.requiredSecrets })).toEqual([]);
  });

  it('gives each caller the URL of exactly the services it calls', () => {
    for (const { name } of services) {
      const env: { name: string; value?: string }[] = find(objects, 'Deployment', name).spec.template.spec.containers[0].env;
      const urls = env.filter((e) => e.name.endsWith('_URL') && e.name !== 'DATABASE_URL').map((e) => e.name);
      const expected = callGraph.filter((e) => e.from === name).map((e) => contract.serviceUrlEnv(e.to));
      expect(urls.sort()).toEqual(expected.sort());
    }
  });

  it('contains no Secret, so no credential is ever in a synthesized file', () => {
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
    expect([...files.values()].join('\n')).not.toMatch(/password:\s*\S|POSTGRES_PASSWORD\s*\n\s*value:/);
  });

  it(`fits the laptop budget of ${resourceBudget.cpuMillis}m CPU and ${resourceBudget.memoryMiB}Mi of requests`, () => {
    const lines = budgetLines(objects, [namespaces.shop]);
    const total = totalRequests(lines);
    expect(lines.length).toBeGreaterThan(10);
    expect(total.cpuMillis).toBeLessThanOrEqual(resourceBudget.cpuMillis);
    expect(total.memoryMiB).toBeLessThanOrEqual(resourceBudget.memoryMiB);
  });
});

describe('the platform model', () => {
  it('maps every contract route to one mesh route of its service, with its budget', () => {
    for (const service of contract.services) {
      const spec = services.find((s) => s.name === service.name)!;
      expect(spec.routes.map((r) => r.description)).toEqual(contract.routesOf(service).map(contract.describeRoute));
      for (const route of contract.routesOf(service)) expect(spec.routes).toContain(meshRoute(route));
    }
  });

  it('refuses a route that is not in the contract, naming where to declare it', () => {
    expect(() => meshRoute({ service: 'user', method: 'GET', path: '/nope', class: 'read' })).toThrow(
      /GET\|HEAD \/nope of 'user' is not a route of the contract: reference it from contract\/services.ts/,
    );
  });

  it('refuses a decision about a service or route the contract does not declare, naming each and the fix', () => {
    expect(() => checkDeployment({ user: { budgets: { get: {} } }, product: {} })).not.toThrow();
    expect(() => checkDeployment({ user: { budgets: { get: {}, byEmail: {} } }, reviews: {} })).toThrow(
      "charts/platform.ts: deployment.user.budgets.byEmail names no route of 'user' (it has register, login, me, get, jwks): rename the key or declare the route in contract/services.ts; " +
        'deployment.reviews names no service of the contract: remove it or declare the service in contract/services.ts',
    );
  });

  it('gives a service the platform decides nothing for the default replicas and every route its class default', () => {
    const notification = services.find((s) => s.name === 'notification')!;
    expect(notification.replicas).toBe(defaultReplicas);
    const list = meshRoute(contract.notification.routes.list);
    expect(list.routeClass).toBe(RouteClass.READ);
    expect(list.timeout).toBe(RouteClass.READ.defaultTimeout);
    expect(list.retry).toEqual(RouteClass.READ.defaultRetry());
  });

  it('names in every call-graph edge only routes the callee declares', () => {
    for (const edge of callGraph) {
      const callee = services.find((s) => s.name === edge.to)!;
      for (const route of edge.routes) expect(callee.routes, `${edge.from} -> ${edge.to}`).toContain(route);
    }
  });

  it('derives the call graph from the saga: every call of every sequence, and nothing else', () => {
    const called = contract.handlers.flatMap((h) => h.sequences.flatMap((s) => s.calls));
    expect(new Set(contract.callGraph.flatMap((e) => e.routes))).toEqual(new Set(called));
    expect(callGraph.map((e) => `${e.from}->${e.to}`)).toEqual(['order->user', 'order->product', 'order->payment']);
  });

  it('exposes at the edge only routes the service declares, JWT routes among them, and nothing of payment', () => {
    for (const spec of services) {
      for (const route of spec.publicRoutes) expect(spec.routes, spec.name).toContain(route);
      for (const route of spec.jwtRoutes) expect(spec.publicRoutes, spec.name).toContain(route);
    }
    expect(contract.openRoutes.filter((r) => contract.jwtRoutes.includes(r))).toEqual([]);
    expect(services.find((s) => s.name === 'payment')!.publicRoutes).toEqual([]);
  });

  it('has a producer for every topic and only known services in it', () => {
    const names = services.map((s) => s.name as string);
    for (const topic of topics) {
      expect(topic.producers.length).toBeGreaterThan(0);
      for (const s of [...topic.producers, ...topic.consumers]) expect(names).toContain(s);
    }
  });

  it("gives local/dev's processes the pods' own wiring: the same variables and values, with local addresses", () => {
    const urls = Object.fromEntries(services.map((s) => [s.name, `http://${s.name}.${namespaces.shop}.svc.cluster.local:8080`])) as Record<
      contract.ServiceName,
      string
    >;
    for (const { name } of services) {
      const env: { name: string; value?: string }[] = find(objects, 'Deployment', name).spec.template.spec.containers[0].env;
      const brokers = env.find((e) => e.name === contract.envNames.kafkaBrokers)?.value;
      // Ports and the database are each runner's own business (the library's in a pod, the launcher's locally).
      const own = new Set<string>([contract.envNames.port, contract.envNames.adminPort, contract.envNames.databaseUrl]);
      const pod = Object.fromEntries(env.filter((e) => !own.has(e.name) && !e.name.startsWith('DATABASE_')).map((e) => [e.name, e.value]));
      expect(platformEnv(name, { urls, ...(brokers ? { kafkaBrokers: brokers.split(',') } : {}) }), name).toEqual(pod);
    }
  });

  it("writes only the contract's env names into the services' pods", () => {
    const known = new Set<string>([...Object.values(contract.envNames), ...services.map((s) => contract.serviceUrlEnv(s.name))]);
    for (const { name } of services) {
      const env: { name: string }[] = find(objects, 'Deployment', name).spec.template.spec.containers[0].env;
      // DATABASE_USER/PASSWORD feed DATABASE_URL through $(VAR) references: the library's, not the app's.
      const names = env.map((e) => e.name).filter((n) => !n.startsWith('DATABASE_') || n === contract.envNames.databaseUrl);
      for (const n of names) expect(known, `${name}: ${n}`).toContain(n);
    }
  });
});
