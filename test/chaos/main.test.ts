import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../apps/kit/service.js';
import { orderService } from '../../apps/order/app.js';
import type { ChaosEnvironment } from '../../chaos/environment.js';
import { clusterOrderSweep, exitCode, main, parseArgs, progressPrinter, summary, usage } from '../../chaos/main.js';
import type { ScenarioReport } from '../../chaos/report.js';
import { scenarios } from '../../chaos/scenarios/index.js';
import { repoRoot as checkout } from '../../infra/cache.js';
import { synthPlatform } from '../support/platform.js';

const repoRoot = mkdtempSync(join(tmpdir(), 'meshkit-chaos-main-'));
afterAll(() => rmSync(repoRoot, { recursive: true, force: true }));

describe('the chaos command line', () => {
  it('is what `make chaos SCENARIO=… ARGS=…` runs, and the usage without a scenario', () => {
    const dryRun = (...vars: string[]) => spawnSync('make', ['-n', '--no-print-directory', 'chaos', ...vars], { cwd: checkout, encoding: 'utf8' });
    const withScenario = dryRun('SCENARIO=3,naive-retry', 'ARGS=--local --rate 8');
    expect(withScenario.status, withScenario.stderr).toBe(0);
    expect(withScenario.stdout.trim().split('\n').at(-1)).toBe('node --import tsx chaos/main.ts 3,naive-retry --local --rate 8');
    expect(dryRun().stdout.trim().split('\n').at(-1)).toBe('node --import tsx chaos/main.ts help');
    // --mesh: make mesh's machine check first, then what the mesh runs (dist/, the services' bundles).
    const mesh = dryRun('SCENARIO=1', 'ARGS=--mesh').stdout.trim().split('\n');
    expect(mesh.findIndex((line) => line.startsWith('node --import tsx local/mesh/main.ts --check'))).toBeGreaterThan(-1);
    expect(mesh).toContain('npm run --silent synth');
    expect(mesh).toContain('npm run --silent build');
    expect(mesh.at(-1)).toBe('node --import tsx chaos/main.ts 1 --mesh');
  });

  it('takes a scenario by number or id, several separated by commas, or all', () => {
    expect(parseArgs(['1']).scenarios).toEqual(['faulty-payment-pod']);
    expect(parseArgs(['naive-retry,3']).scenarios).toEqual(['naive-retry', 'overload']);
    expect(parseArgs(['all']).scenarios).toEqual(scenarios.map((s) => s.id));
    expect(scenarios.map((s) => s.number)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('reads the mode, phase lengths in seconds, the rate and the JSON file', () => {
    expect(parseArgs(['2', '--local', '--kafka', '--baseline', '5', '--during', '12.5', '--after', '3', '--rate', '8', '--json', 'out.json'])).toEqual({
      command: 'run',
      scenarios: ['slow-product'],
      local: true,
      mesh: false,
      kafka: true,
      timings: { baselineMs: 5_000, duringMs: 12_500, afterMs: 3_000, ratePerSecond: 8 },
      json: 'out.json',
    });
    expect(parseArgs(['1', '--mesh'])).toMatchObject({ command: 'run', scenarios: ['faulty-payment-pod'], local: false, mesh: true });
  });

  it('refuses unknown scenarios and options, bad numbers, --kafka on the cluster or the mesh, and --local with --mesh, saying what is known', () => {
    expect(() => parseArgs(['9'])).toThrow(
      "unknown scenario '9'; known: 1 faulty-payment-pod, 2 slow-product, 3 overload, 4 edge-fault, 5 kafka-broker-kill, 6 database-kill, 7 naive-retry, or 'all'",
    );
    expect(() => parseArgs(['1', '--fast'])).toThrow("unknown option '--fast'");
    expect(() => parseArgs(['1', '--rate', '0'])).toThrow('--rate needs a number above 0 and at most 5000 (got 0)');
    expect(() => parseArgs(['1', '--during'])).toThrow('--during needs a number above 0 and at most 3600 (got nothing)');
    expect(() => parseArgs(['5', '--kafka'])).toThrow('--kafka goes with --local');
    expect(() => parseArgs(['5', '--mesh', '--kafka'])).toThrow('--kafka goes with --local');
    expect(() => parseArgs(['1', '--local', '--mesh'])).toThrow('--local and --mesh exclude each other');
  });

  it('exits 0 when nothing failed (an expected failure without a mesh included), 1 on a real failure, 3 when only inconclusive; a named scenario that cannot run is a failure, one of all is not', () => {
    const r = (verdict: ScenarioReport['verdict']) => ({ verdict }) as ScenarioReport;
    expect(exitCode([r('PASS'), r('NOT RUN')], true)).toBe(0);
    expect(exitCode([r('PASS'), r('EXPECTED FAIL'), r('NOT RUN')], true)).toBe(0);
    expect(exitCode([r('NOT RUN')], false)).toBe(1);
    expect(exitCode([r('PASS'), r('FAIL')], true)).toBe(1);
    expect(exitCode([r('ERROR')], true)).toBe(1);
    expect(exitCode([r('INCONCLUSIVE'), r('FAIL')], true)).toBe(1);
    expect(exitCode([r('INCONCLUSIVE'), r('PASS')], true)).toBe(3);
  });

  it('summarizes expected failures without a mesh apart from real ones, with the exit code', () => {
    const r = (number: number, id: string, verdict: ScenarioReport['verdict'], reason?: string) =>
      ({ verdict, reason, scenario: { number, id, title: '', expectation: '' } }) as ScenarioReport;
    const lines = summary([r(1, 'faulty-payment-pod', 'EXPECTED FAIL'), r(2, 'slow-product', 'PASS'), r(4, 'edge-fault', 'NOT RUN', 'needs the mesh')], true);
    expect(lines).toEqual([
      'summary:',
      '  EXPECTED FAIL 1 faulty-payment-pod   expected without a mesh',
      '  PASS          2 slow-product         held',
      '  NOT RUN       4 edge-fault           cannot run here — needs the mesh',
      '  1 passed, 1 failed as expected without a mesh, 0 failed for real, 0 inconclusive, 1 not run → exit 0',
    ]);
  });

  it('rewrites one progress line on a terminal and prints every fifth one otherwise', () => {
    const out: string[] = [];
    const tty = progressPrinter((t) => out.push(t), true);
    tty('a', false);
    tty('b', true);
    expect(out).toEqual(['\r\x1b[2K  a', '\r\x1b[2K  b\n']);
    const lines: string[] = [];
    const pipe = progressPrinter((t) => lines.push(t), false);
    for (let i = 0; i < 11; i++) pipe(`line ${i}`, false);
    pipe('done', true);
    expect(lines).toEqual(['  line 0\n', '  line 5\n', '  line 10\n', '  done\n']);
  });

  it('prints the usage for help (exit 0), without arguments (exit 2) and with a usage error (exit 2)', async () => {
    const out: string[] = [];
    const deps = { print: (l: string) => out.push(l), progress: () => undefined, open: () => Promise.reject(new Error('not here')), repoRoot };
    expect(await main(['help'], deps)).toBe(0);
    expect(out.pop()).toBe(usage);
    expect(await main([], deps)).toBe(2);
    expect(await main(['1', '--nope'], deps)).toBe(2);
    expect(out.pop()).toBe(`unknown option '--nope'\n\n${usage}`);
  });

  it('lists the scenarios with their expectations, and synthesizes the fault resources alone', async () => {
    const out: string[] = [];
    const deps = { print: (l: string) => out.push(l), progress: () => undefined, open: () => Promise.reject(new Error('not here')), repoRoot };
    expect(await main(['list'], deps)).toBe(0);
    expect(out).toHaveLength(7);
    expect(out[3]).toMatch(/^4 {2}edge-fault: Istio fault injection at the edge \(abort and delay\)\n {3}expect: /);
    expect(await main(['synth'], deps)).toBe(0);
    expect(readdirSync(join(repoRoot, 'dist', 'chaos')).sort()).toEqual(['edge-faults.yaml', 'naive-retry.yaml']);
    expect(out.at(-1)).toBe('fault resources: dist/chaos/edge-faults.yaml, dist/chaos/naive-retry.yaml');
  });

  it('runs the scenario asked for on the environment it opens, prints its report, closes the environment', async () => {
    const out: string[] = [];
    let closed = false;
    const env: ChaosEnvironment = {
      mode: 'local',
      baseUrl: 'http://127.0.0.1:1',
      description: 'nowhere',
      orderSweep: { intervalMs: 1, staleMs: 1 },
      instances: async () => [],
      setChaos: async () => undefined,
      clearChaos: async () => undefined,
      serviceMetrics: () => ({ name: 'none', lagMs: 0, snapshot: async () => ({}) }),
      close: async () => void (closed = true),
    };
    const code = await main(['edge-fault'], { print: (l) => out.push(l), progress: () => undefined, open: async () => env, repoRoot });
    expect(code).toBe(1);
    expect(closed).toBe(true);
    expect(out.join('\n')).toContain('verdict: NOT RUN — Istio fault injection needs the mesh');
  });
});

describe('what the cluster mode assumes about the order service', () => {
  it('runs the recovery sweep with the app defaults: the chart sets neither variable', () => {
    const { objects } = synthPlatform();
    const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'order')!;
    const names = (deployment.spec.template.spec.containers[0].env as { name: string }[]).map((e) => e.name);
    expect(names).not.toContain('SWEEP_INTERVAL_MS');
    expect(names).not.toContain('STALE_ORDER_MS');
    const { settings } = loadConfig(orderService, { USER_URL: 'http://u:1', PRODUCT_URL: 'http://p:1', PAYMENT_URL: 'http://y:1' });
    expect({ intervalMs: settings.sweepIntervalMs, staleMs: settings.staleOrderMs }).toEqual(clusterOrderSweep);
  });
});
