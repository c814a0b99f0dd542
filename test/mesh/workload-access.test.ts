import { Chart, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { MeshedService } from '../../constructs/meshed-service.js';
import { PostgresDatabase } from '../../constructs/postgres-database.js';
import { Callers } from '../../mesh/callers.js';
import { NamespaceSecurity } from '../../mesh/namespace-security.js';
import { Route } from '../../mesh/route.js';
import { find, synth } from '../support/manifests.js';

const dnsEgress = {
  to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
  ports: [
    { port: 53, protocol: 'UDP' },
    { port: 53, protocol: 'TCP' },
  ],
};
const istiodEgress = (ns = 'istio-system') => ({
  to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } }, podSelector: { matchLabels: { app: 'istiod' } } }],
  ports: [{ port: 15012, protocol: 'TCP' }],
});

function standalone(props: { callers?: Callers; istioNamespace?: string } = {}) {
  const app = Testing.app();
  const chart = new Chart(app, 'inventory', { namespace: 'warehouse' });
  const inventory = new MeshedService(chart, 'inventory', { image: 'example/inventory:1.0', routes: [Route.read('/items')], ...props });
  return { app, chart, inventory };
}

describe('a MeshedService deployed alone', () => {
  it('lets its sidecar reach DNS and istiod, and Prometheus scrape the merged metrics port, in its own NetworkPolicy', () => {
    const { chart } = standalone({ callers: Callers.none() });
    const policy = find(synth(chart), 'NetworkPolicy', 'inventory');
    expect(policy.spec.egress).toEqual([dnsEgress, istiodEgress()]);
    expect(policy.spec.ingress).toEqual([
      { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'istio-system' } } }], ports: [{ port: 15020, protocol: 'TCP' }] },
    ]);
  });

  it('finds istiod in the namespace it is told', () => {
    const { chart } = standalone({ callers: Callers.none(), istioNamespace: 'mesh-system' });
    expect(find(synth(chart), 'NetworkPolicy', 'inventory').spec.egress).toContainEqual(istiodEgress('mesh-system'));
  });

  it('leaves that baseline to a NamespaceSecurity of the same namespace in the app', () => {
    const { chart } = standalone({ callers: Callers.none() });
    new NamespaceSecurity(chart, 'security', { namespace: 'warehouse' });
    const policy = find(synth(chart), 'NetworkPolicy', 'inventory');
    expect(policy.spec.egress).toBeUndefined();
    expect(policy.spec.ingress).toBeUndefined();
    expect(find(synth(chart), 'NetworkPolicy', 'allow-dns').spec.egress).toEqual([dnsEgress]);
  });

  it('keeps the baseline when the NamespaceSecurity in the app guards another namespace', () => {
    const { chart } = standalone({ callers: Callers.none() });
    new NamespaceSecurity(chart, 'security', { namespace: 'elsewhere' });
    expect(find(synth(chart), 'NetworkPolicy', 'inventory').spec.egress).toEqual([dnsEgress, istiodEgress()]);
  });

  it('gives its database the same baseline, next to the owner-only rule', () => {
    const { chart, inventory } = standalone({ callers: Callers.none() });
    new PostgresDatabase(chart, 'inventory-db', { owner: inventory });
    const policy = find(synth(chart), 'NetworkPolicy', 'inventory-db');
    expect(policy.spec.egress).toEqual([dnsEgress, istiodEgress()]);
    expect(policy.spec.ingress[0]).toEqual({ from: [{ podSelector: { matchLabels: { app: 'inventory' } } }], ports: [{ port: 5432, protocol: 'TCP' }] });
  });
});

describe('who may call a MeshedService', () => {
  it('fails synthesis, naming the fixes, when nobody was granted and no choice was made', () => {
    const { app } = standalone();
    expect(() => app.synthYaml()).toThrow(
      /MeshedService 'inventory': no caller may reach it, so its AuthorizationPolicy would refuse every request: grant callers with inventory.allowFrom\(caller, routes\), open it to whole namespaces with 'callers: Callers.namespaces\(...\)', or declare 'callers: Callers.none\(\)'/,
    );
  });

  it('synthesizes once a caller is granted after construction', () => {
    const { app, chart, inventory } = standalone();
    const web = new MeshedService(chart, 'web', { image: 'example/web:1.0', routes: [Route.read('/')], callers: Callers.none() });
    inventory.allowFrom(web);
    expect(() => app.synthYaml()).not.toThrow();
  });

  it('opens every route to the mesh workloads of the named namespaces, in both walls', () => {
    const { app, chart } = standalone({ callers: Callers.namespaces('storefront', 'backoffice') });
    expect(() => app.synthYaml()).not.toThrow();
    const manifests = synth(chart);
    expect(find(manifests, 'AuthorizationPolicy', 'inventory').spec.rules).toEqual([
      { from: [{ source: { namespaces: ['storefront', 'backoffice'] } }], to: [{ operation: { ports: ['8080'] } }] },
    ]);
    const ingress = find(manifests, 'NetworkPolicy', 'inventory').spec.ingress;
    for (const ns of ['storefront', 'backoffice']) {
      expect(ingress).toContainEqual({
        from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } }],
        ports: [{ port: 8080, protocol: 'TCP' }],
      });
    }
  });

  it('denies everything on purpose with Callers.none(), and says so by synthesizing', () => {
    const { app, chart } = standalone({ callers: Callers.none() });
    expect(() => app.synthYaml()).not.toThrow();
    expect(find(synth(chart), 'AuthorizationPolicy', 'inventory').spec).toMatchObject({ action: 'ALLOW', rules: [] });
  });

  it('refuses Callers.namespaces() without a namespace', () => {
    expect(() => Callers.namespaces()).toThrow(
      'Callers.namespaces() needs at least one namespace: name them, or use Callers.none() for a service nobody calls',
    );
  });
});
