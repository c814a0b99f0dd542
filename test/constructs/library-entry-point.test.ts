import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import * as library from '../../constructs/index.js';
import { checkCrossReferences } from '../../analysis/cross-references.js';
import { repoRoot } from '../../infra/cache.js';
import type { Manifest } from '../support/manifests.js';

const exampleOf = (name: string) => join(repoRoot, 'examples', name, 'main.ts');
const examples = readdirSync(join(repoRoot, 'examples')).sort();
const outdir = mkdtempSync(join(tmpdir(), 'meshkit-example-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

/** Runs an example as its own process, the way a user's cdk8s app runs. */
function synthExample(name = 'standalone-app'): Manifest[] {
  const out = join(outdir, name);
  execFileSync(join(repoRoot, 'node_modules', '.bin', 'tsx'), [exampleOf(name)], { cwd: repoRoot, env: { ...process.env, CDK8S_OUTDIR: out } });
  return readdirSync(out).flatMap((f) => parseAllDocuments(readFileSync(join(out, f), 'utf8')).map((d) => d.toJS() as Manifest));
}

describe('the construct library entry point', { timeout: 90_000 }, () => {
  it('exports every construct of constructs/ and mesh/, the mesh policy types and the validation error', () => {
    for (const name of [
      'MeshedService',
      'PostgresDatabase',
      'KafkaCluster',
      'EventTopic',
      'ResiliencePolicy',
      'EdgeGateway',
      'NamespaceSecurity',
      'WorkloadAccess',
      'Callers',
      'Route',
      'RouteClass',
      'Retry',
      'MeshkitValidationError',
    ]) {
      expect(library, name).toHaveProperty(name);
    }
  });

  it('leaves the offline analyzer (analysis/) and the chaos-only constructs (chaos/constructs/) out of the library', () => {
    expect(library).not.toHaveProperty('checkCrossReferences');
    expect(library).not.toHaveProperty('matchesValue');
    expect(library).not.toHaveProperty('EdgeFaultInjection');
    expect(library).not.toHaveProperty('NaiveRetryAntiPattern');
    expect(library).not.toHaveProperty('Fault');
  });

  it('is all a separate cdk8s app needs: the examples import nothing but cdk8s, cdk8s-plus-28 and meshkit', () => {
    expect(examples).toEqual(['kafka', 'secure-namespace', 'standalone-app']);
    for (const name of examples) {
      const imports = [...readFileSync(exampleOf(name), 'utf8').matchAll(/from '([^']+)'/g)].map((m) => m[1]);
      expect(new Set(imports), name).toEqual(new Set(imports.filter((i) => ['cdk8s', 'cdk8s-plus-28', 'meshkit'].includes(i!))));
      expect(imports, name).toContain('meshkit');
    }
  });

  it('runs the secure-namespace example: NamespaceSecurity, an EdgeGateway and a WorkloadAccess on a plain Deployment', () => {
    const objects = synthExample('secure-namespace');
    const names = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(names).toEqual(
      expect.arrayContaining([
        'NetworkPolicy/default-deny',
        'Gateway/edge',
        'RequestAuthentication/edge-jwt',
        'AuthorizationPolicy/recommender',
        'Deployment/recommender',
      ]),
    );
    // The namespace-wide policies carry DNS and istiod, so the workloads' own policies do not repeat them.
    expect(objects.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'catalog')!.spec.egress).toEqual([
      { to: [{ podSelector: { matchLabels: { app: 'recommender' } } }], ports: [{ port: 8080, protocol: 'TCP' }] },
    ]);
  });

  it('runs the kafka example: a KRaft cluster with its topics and a consumer nobody calls', () => {
    const names = synthExample('kafka').map((o) => `${o.kind}/${o.metadata.name}`);
    expect(names).toEqual(
      expect.arrayContaining(['Kafka/events', 'KafkaNodePool/dual-role', 'KafkaTopic/orders-placed', 'KafkaTopic/orders-shipped', 'Deployment/mailer']),
    );
  });

  it('synthesizes a meshed service with its policies and database from that app, with no dangling reference', () => {
    const objects = synthExample();
    const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(kinds).toEqual(
      expect.arrayContaining([
        'Deployment/inventory',
        'Service/inventory',
        'VirtualService/inventory',
        'DestinationRule/inventory',
        'StatefulSet/inventory-db',
      ]),
    );
    const vs = objects.find((o) => o.kind === 'VirtualService')!;
    expect(vs.spec.http.map((r: { name: string }) => r.name)).toEqual([
      'get-items',
      'get-items-sku',
      'put-items-sku',
      'post-items-sku-adjustments',
      'fallback',
    ]);
    const dr = objects.find((o) => o.kind === 'DestinationRule')!;
    expect(dr.spec.trafficPolicy.outlierDetection).toMatchObject({ consecutive5xxErrors: 5, maxEjectionPercent: 66 });
    expect(checkCrossReferences(objects, { externalSecrets: [{ name: 'inventory-db-credentials', namespace: 'warehouse', keys: ['password'] }] })).toEqual([]);
  });
});
