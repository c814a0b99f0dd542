import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import * as library from '../../constructs/index.js';
import { checkCrossReferences } from '../../mesh/analysis/cross-references.js';
import { repoRoot } from '../../infra/cache.js';
import type { Manifest } from '../support/manifests.js';

const example = join(repoRoot, 'examples', 'standalone-app', 'main.ts');
const outdir = mkdtempSync(join(tmpdir(), 'meshkit-example-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

/** Runs the example as its own process, the way a user's cdk8s app runs. */
function synthExample(): Manifest[] {
  execFileSync(join(repoRoot, 'node_modules', '.bin', 'tsx'), [example], { cwd: repoRoot, env: { ...process.env, CDK8S_OUTDIR: outdir } });
  return readdirSync(outdir).flatMap((f) => parseAllDocuments(readFileSync(join(outdir, f), 'utf8')).map((d) => d.toJS() as Manifest));
}

describe('the construct library entry point', () => {
  it('exports the constructs, the mesh policy types and the validation error', () => {
    for (const name of [
      'MeshedService',
      'PostgresDatabase',
      'KafkaCluster',
      'EventTopic',
      'ResiliencePolicy',
      'Route',
      'RouteClass',
      'Retry',
      'MeshkitValidationError',
    ]) {
      expect(library, name).toHaveProperty(name);
    }
  });

  it('is all a separate cdk8s app needs: the example imports nothing but cdk8s and meshkit', () => {
    const imports = [...readFileSync(example, 'utf8').matchAll(/from '([^']+)'/g)].map((m) => m[1]);
    expect(imports.sort()).toEqual(['cdk8s', 'meshkit']);
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
