import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLocalShop, type LocalShop } from '../../local/dev/index.js';
import type { ServiceName } from '../../charts/platform.js';
import type { ChaosEnvironment } from '../../chaos/environment.js';
import { localEnvironment, localShopEnv } from '../../chaos/local.js';
import { main } from '../../chaos/main.js';
import { parsePrometheusText, sumSamples } from '../../chaos/metrics/parse.js';
import { renderReport, type ScenarioReport } from '../../chaos/report.js';
import { runScenario } from '../../chaos/runner.js';
import { findScenario } from '../../chaos/scenarios/index.js';
import { createDatabase } from '../../infra/postgres.js';

// The scenario logic against the shop as local processes (startLocalShop: five service
// processes on the real PostgreSQL, one database each, behind the local edge). There is no
// mesh here: these tests pin what local mode measures and how it judges it.

const run = randomBytes(4).toString('hex');
const orderSweep = { intervalMs: 500, staleMs: 6_000 };
let shop: LocalShop;
let env: ChaosEnvironment;
const scratch = mkdtempSync(join(tmpdir(), 'meshkit-chaos-local-'));

beforeAll(async () => {
  const { url } = inject('postgres');
  shop = await startLocalShop({
    databaseUrlFor: (service) => createDatabase(url, `chaos_${service}_${run}`),
    env: localShopEnv(orderSweep),
  });
  env = localEnvironment({ shop, orderSweep });
}, 180_000);

afterAll(async () => {
  await shop?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const short = { baselineMs: 4_000, duringMs: 8_000, afterMs: 4_000, restoreTimeoutMs: 2_000 };
const check = (report: ScenarioReport, text: string) => {
  const found = report.checks.find((c) => c.expectation.includes(text));
  if (!found) throw new Error(`no check mentioning '${text}' in: ${report.checks.map((c) => c.expectation).join(' | ')}`);
  return found;
};
const phase = (report: ScenarioReport, target: string, name: string) => report.targets.find((t) => t.name === target)!.phases.find((p) => p.phase === name)!;
const failedCount = (p: { failures: Readonly<Record<string, number>> }) => Object.values(p.failures).reduce((a, b) => a + b, 0);

async function chaosOf(service: ServiceName): Promise<unknown> {
  return (await fetch(`${shop.adminUrls[service]}/admin/chaos`)).json();
}

/** The order service's own count of POST /orders, from its /metrics. */
async function ordersServed(): Promise<number> {
  const text = await (await fetch(`${shop.adminUrls.order}/metrics`)).text();
  return sumSamples(parsePrometheusText(text), 'http_requests_total', { method: 'POST', route: '/orders' });
}

describe('scenarios on the local shop (no mesh)', () => {
  it('1 faulty-payment-pod: the drop shows in full, "retries hide it" fails as expected without a mesh (EXPECTED FAIL, exit 0); the numbers agree with the services’ own', async () => {
    const servedBefore = await ordersServed();
    const out: string[] = [];
    const json = join(scratch, 'reports.json');
    const code = await main(['faulty-payment-pod', '--baseline', '4', '--during', '8', '--after', '4', '--json', json], {
      print: (line) => out.push(line),
      progress: () => undefined,
      open: async () => ({ ...env, close: async () => undefined }),
      repoRoot: scratch,
    });
    const [report] = JSON.parse(readFileSync(json, 'utf8')) as ScenarioReport[];
    expect(code).toBe(0);
    expect(report!.verdict, renderReport(report!)).toBe('EXPECTED FAIL');
    expect(out.join('\n')).toContain('verdict: EXPECTED FAIL');

    const baseline = phase(report!, 'orders', 'baseline');
    const during = phase(report!, 'orders', 'during');
    const after = phase(report!, 'orders', 'after');
    expect(baseline.successRate!).toBeGreaterThanOrEqual(0.95);
    expect(during.successRate!).toBeLessThan(0.85);
    expect(after.successRate!).toBeGreaterThanOrEqual(0.95);
    expect(check(report!, 'retries hide it')).toMatchObject({ outcome: 'fail', needsMesh: true, note: expect.stringContaining('no mesh here') });
    expect(check(report!, 'retried the failed charges').outcome).toBe('n/a');
    expect(check(report!, 'outlier detection').outcome).toBe('n/a');
    expect(check(report!, 'stays PENDING').outcome).toBe('pass');
    expect(check(report!, 'after the revert').outcome).toBe('pass');

    // Every order the fault broke met at least one 503 of the payment process, as its /metrics counted.
    const payment503 = report!.figures.find((f) => f.label === 'payment 503s')!.values;
    expect(payment503[0]).toBe(0);
    expect(payment503[1]!).toBeGreaterThanOrEqual(failedCount(during));
    expect(payment503[2]).toBe(0);
    // The load generator and the order service agree on how many orders were placed.
    const sent = [baseline, during, after].reduce((a, p) => a + p.requests, 0);
    expect((await ordersServed()) - servedBefore).toBe(sent);
    expect(await chaosOf('payment')).toEqual({ failRate: 0, latencyMs: 0 });
  }, 120_000);

  it('2 slow-product: order latency stays bounded, the saga compensates, nothing is stuck and no stock is lost: PASS', async () => {
    const report = await runScenario(findScenario('slow-product'), env, { timings: short });
    expect(report.verdict, renderReport(report)).toBe('PASS');
    const during = phase(report, 'orders', 'during');
    expect(during.p99Ms!).toBeLessThanOrEqual(10_000);
    // The order service's HTTP client timeout (2 s) cut the product calls: the saga answered after about two of them.
    expect(during.p50Ms!).toBeGreaterThanOrEqual(2_000);
    for (const text of ['baseline is healthy', 'compensated', 'bounded', 'every order is answered', 'stays PENDING', 'no stock is lost', 'succeed again'])
      expect(check(report, text).outcome).toBe('pass');
    expect(await chaosOf('product')).toEqual({ failRate: 0, latencyMs: 0 });
  }, 120_000);

  it('7 naive-retry: retries of the non-idempotent write duplicate orders; the shipped policy and an Idempotency-Key do not: PASS', async () => {
    const report = await runScenario(findScenario('naive-retry'), env, { timings: { ...short, afterMs: 2_000 } });
    expect(report.verdict, renderReport(report)).toBe('PASS');
    expect(check(report, 'duplicates the write').observed).toMatch(/^[1-9]\d* extra orders/);
    expect(check(report, 'exactly once').observed).toMatch(/^0 extra orders/);
    expect(check(report, 'Idempotency-Key').observed).toMatch(/^0 extra orders/);
    expect(phase(report, 'naive retries', 'during').clientRetries).toBeGreaterThan(0);
    expect(phase(report, 'shipped policy', 'during').clientRetries).toBe(0);
  }, 120_000);

  it('3 overload: nothing sheds load without Envoy: no 503 UO at all, every request is admitted and waits, verdict EXPECTED FAIL', async () => {
    const report = await runScenario(findScenario('overload'), env, { timings: { baselineMs: 2_000, duringMs: 4_000, afterMs: 2_000, ratePerSecond: 100 } });
    expect(report.verdict, renderReport(report)).toBe('EXPECTED FAIL');
    for (const p of report.targets[0]!.phases) expect(p.overloaded).toBe(0);
    expect(check(report, 'the excess is shed')).toMatchObject({ outcome: 'fail', observed: '0.0%', needsMesh: true });
    expect(check(report, 'pending-request overflows').outcome).toBe('n/a');
    const during = phase(report, 'product by id', 'during');
    // Everything was admitted and waited out the added latency.
    expect(during.successRate!).toBeGreaterThanOrEqual(0.99);
    expect(during.p50Ms!).toBeGreaterThanOrEqual(300);
    const served = report.figures.find((f) => f.label === 'product requests')!.values[1]!;
    expect(served).toBeGreaterThanOrEqual(during.requests - 50);
  }, 120_000);

  it('4 edge-fault and 6 database-kill do not run locally, and say why', async () => {
    for (const id of ['edge-fault', 'database-kill']) {
      const report = await runScenario(findScenario(id), env);
      expect(report.verdict, renderReport(report)).toBe('NOT RUN');
      expect(report.reason).toMatch(/mesh|embedded/);
    }
  });

  it('reverts the fault when the run is interrupted during it', async () => {
    const controller = new AbortController();
    const report = await runScenario(findScenario('slow-product'), env, {
      timings: { ...short, duringMs: 60_000 },
      signal: controller.signal,
      print: (line) => {
        if (line.startsWith('inject')) setTimeout(() => controller.abort(), 1_000);
      },
    });
    expect(report.verdict, renderReport(report)).toBe('ERROR');
    expect(report.steps.some((s) => s.startsWith('revert: chaos switch reset'))).toBe(true);
    expect(await chaosOf('product')).toEqual({ failRate: 0, latencyMs: 0 });
  }, 120_000);
});
