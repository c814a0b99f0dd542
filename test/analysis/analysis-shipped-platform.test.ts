import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { services } from '../../charts/platform.js';
import { buildMeshModel } from '../../analysis/resilience-model.js';
import type { KubeObject } from '../../manifests/kube-object.js';
import { analyzeResilience } from '../../analysis/resilience-rules.js';
import { platformCallGraph } from '../../scripts/analyze.js';
import { synthPlatform } from '../support/platform.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { files, objects } = synthPlatform();
const model = buildMeshModel(objects as KubeObject[]);
const result = analyzeResilience(model, platformCallGraph(model));

const work = mkdtempSync(join(tmpdir(), 'meshkit-analyze-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function cli(...args: string[]) {
  const run = spawnSync(join(root, 'node_modules', '.bin', 'tsx'), [join(root, 'scripts', 'analyze.ts'), ...args], { cwd: root, encoding: 'utf8' });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

function writeDir(name: string, texts: Iterable<[string, string]>): string {
  const dir = join(work, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of texts) writeFileSync(join(dir, file), text);
  return dir;
}

describe('the resilience analysis of the shipped platform', () => {
  it("finds no error and no warning: budgets fit, including the saga's compensation path", () => {
    expect(result.findings.filter((f) => f.severity !== 'info').map((f) => f.message)).toEqual([]);
  });

  it('walks every public route of the model, and no path lets one request reach an app more than 3 times', () => {
    const walked = new Set(result.traversal.chains.map((c) => c.publicRoute));
    expect([...walked].sort()).toEqual(services.flatMap((s) => s.publicRoutes.map((r) => `${s.name} ${r.description}`)).sort());
    expect(Math.max(...result.traversal.chains.map((c) => c.amplification))).toBe(3);
  });

  it('finds every DestinationRule complete, with ejection that removes one pod of two and none of one', () => {
    expect(
      result.findings.filter((f) => ['traffic-policy', 'ejection', 'unsafe-retry', 'routing-consistency'].includes(f.rule) && f.severity !== 'info'),
    ).toEqual([]);
  });
});

describe('npm run analyze', () => {
  it('exits 0 on the shipped platform and reports every public route', () => {
    const dir = writeDir('dist', files);
    const run = cli(dir);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Resilience analysis — 0 error(s), 0 warning(s)');
    // The saga's longest path (compensations included) fits the POST /orders budget.
    expect(run.stdout).toContain("budget of order POST /orders: 10s per try; calls in sequence: 'confirm' 5.35s, 'commit fails, compensate' 8.25s");
    expect(run.stdout).toContain('== By public route ==');
  });

  it('exits 0 on a clean mesh and 1 on a crafted bad one, and writes the JSON report on request', () => {
    const shop = files.get('0002-shop.k8s.yaml')!;
    const graph = join(work, 'graph.json');
    writeFileSync(graph, JSON.stringify({ publicRoutes: [{ service: 'product', route: 'GET /products' }] }));
    const good = writeDir('good', [['shop.yaml', shop]]);
    expect(cli(good, '--graph', graph)).toMatchObject({ code: 0, stderr: '' });

    // A POST without idempotency key retried on 5xx: the constructs refuse it, so the YAML is edited.
    const docs = objects.map((o) => structuredClone(o));
    const userVs = docs.find((o) => o.kind === 'VirtualService' && o.metadata.name === 'user')!;
    userVs.spec.http.find((r: { name: string }) => r.name === 'post-users').retries.retryOn = '5xx';
    const bad = writeDir('bad', [['shop.yaml', docs.map((d) => stringify(d)).join('---\n')]]);
    const out = join(work, 'report.json');
    const run = cli(bad, '--graph', graph, '--json-out', out);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("#1 ERROR VirtualService shop/user route 'post-users'");
    const json = JSON.parse(readFileSync(out, 'utf8'));
    expect(json.findings[0]).toMatchObject({ rule: 'unsafe-retry', severity: 'error', numbers: { retryOn: '5xx' } });
  });

  it('exits 2 with a message when the input is missing', () => {
    expect(cli(join(work, 'nothing-here'))).toMatchObject({ code: 2, stderr: expect.stringContaining('nothing-here does not exist') });
  });
});
