import { describe, expect, it } from 'vitest';
import { budgetLines, totalRequests } from '../../charts/resource-budget.js';
import { callGraph, namespaces, resourceBudget, services, topics } from '../../charts/platform.js';
import { checkCrossReferences } from '../../analysis/cross-references.js';
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
      const expected = callGraph.filter((e) => e.from === name).map((e) => `${e.to.toUpperCase()}_URL`);
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
  it('names in every call-graph edge only routes the callee declares', () => {
    for (const edge of callGraph) {
      const callee = services.find((s) => s.name === edge.to)!;
      const declared = callee.routes.map((r) => r.description);
      for (const route of edge.routes) expect(declared, `${edge.from} -> ${edge.to}`).toContain(route);
    }
  });

  it('exposes at the edge only routes the service declares, and nothing of payment', () => {
    for (const spec of services) {
      const declared = spec.routes.map((r) => r.description);
      for (const route of spec.publicRoutes) expect(declared, spec.name).toContain(route);
    }
    expect(services.find((s) => s.name === 'payment')!.publicRoutes).toEqual([]);
  });

  it('has a producer for every topic and only known services in it', () => {
    const names = services.map((s) => s.name as string);
    for (const topic of topics) {
      expect(topic.producers.length).toBeGreaterThan(0);
      for (const s of [...topic.producers, ...topic.consumers]) expect(names).toContain(s);
    }
  });
});
