import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChaosEnvironment } from '../../chaos/environment.js';
import type { MetricsCollector } from '../../chaos/metrics/collector.js';
import { atLeast, renderReport } from '../../chaos/report.js';
import { runScenario, runScenarios } from '../../chaos/runner.js';
import type { Scenario, ScenarioRun } from '../../chaos/scenario.js';

// A loopback server standing in for the edge; the chaos switch below decides its answers.
let server: Server;
let baseUrl = '';
let failing = false;
let served = 0;
beforeAll(async () => {
  server = createServer((req, res) => {
    served += 1;
    req.resume();
    res.writeHead(failing ? 503 : 200, { 'content-type': 'application/json' }).end('{}');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

/** An environment whose "chaos switch" makes the server above fail, and whose metrics count what it served. */
function fakeEnv(calls: string[], extra: Partial<ChaosEnvironment> = {}): ChaosEnvironment {
  const served$: MetricsCollector = {
    name: 'server counter',
    lagMs: 0,
    snapshot: async () => ({ server: { counters: { served }, gauges: { failing: failing ? 1 : 0 } } }),
  };
  return {
    mode: 'local',
    baseUrl,
    description: 'a test server',
    orderSweep: { intervalMs: 100, staleMs: 100 },
    instances: async () => ['only'],
    setChaos: async (service, instance, settings) => {
      calls.push(`set ${service} ${instance} ${settings.failRate}`);
      failing = settings.failRate > 0;
    },
    clearChaos: async (service, instance) => {
      calls.push(`clear ${service} ${instance}`);
      failing = false;
    },
    serviceMetrics: () => served$,
    close: async () => undefined,
    ...extra,
  };
}

const timings = { baselineMs: 300, duringMs: 400, afterMs: 300, ratePerSecond: 20, concurrency: 10, requestTimeoutMs: 2_000, restoreTimeoutMs: 1_000 };

function scenario(run: (env: ChaosEnvironment) => Partial<ScenarioRun>, extra: Partial<Scenario> = {}): Scenario {
  return {
    id: 'test',
    number: 0,
    title: 'test scenario',
    expectation: 'the fault shows during and is gone after',
    defaults: timings,
    unsupported: () => undefined,
    notes: () => [],
    prepare: async (ctx) => {
      const collector = ctx.env.serviceMetrics('payment');
      return {
        targets: [{ name: 'hits', prepare: () => ({ method: 'GET', path: '/' }) }],
        figures: [
          { label: 'served', collector, name: 'served' },
          { label: 'failing at end', collector, name: 'failing', kind: 'gauge' },
        ],
        async inject() {
          await ctx.env.setChaos('payment', 'only', { failRate: 1, latencyMs: 0 });
          return { description: 'fail everything', revert: async () => (await ctx.env.clearChaos('payment', 'only'), 'reset') };
        },
        checks: (results) => [atLeast('after: all succeed', results.stats('hits', 'after').ok / Math.max(1, results.stats('hits', 'after').sent), 1)],
        ...run(ctx.env),
      };
    },
    ...extra,
  };
}

describe('runScenario', () => {
  it('measures baseline, injects, measures, reverts, measures, and reports per phase', async () => {
    const calls: string[] = [];
    const printed: string[] = [];
    const report = await runScenario(
      scenario(() => ({})),
      fakeEnv(calls),
      { print: (l) => printed.push(l) },
    );
    expect(calls).toEqual(['set payment only 1', 'clear payment only']);
    expect(report.steps).toEqual(['baseline: 20/s for 0.3s', 'inject: fail everything', 'revert: reset']);
    expect(printed).toEqual(report.steps);
    expect(report.phases.map((p) => p.name)).toEqual(['baseline', 'during', 'after']);
    const [baseline, during, after] = report.targets[0]!.phases;
    expect([baseline!.successRate, after!.successRate]).toEqual([1, 1]);
    expect(during!.successRate!).toBeLessThan(0.5);
    expect(during!.failures['503']).toBeGreaterThan(0);
    const served = report.figures.find((f) => f.label === 'served')!;
    // The server counts by arrival and is read at the boundaries; requests in flight at the last reading are not in it.
    const total = served.values.reduce((a, b) => a! + b!, 0)!;
    const sent = report.targets[0]!.phases.reduce((a, p) => a + p.requests, 0);
    expect(total).toBeLessThanOrEqual(sent);
    expect(total).toBeGreaterThanOrEqual(sent - 2);
    expect(report.figures.find((f) => f.label === 'failing at end')!.values).toEqual([0, 0, 0]);
    expect(report.verdict).toBe('PASS');
    expect(renderReport(report)).toContain('verdict: PASS');
  });

  it('does not run a scenario the environment cannot host, and says why', async () => {
    let prepared = false;
    const report = await runScenario(
      scenario(() => ((prepared = true), {}), { unsupported: () => 'needs the mesh' }),
      fakeEnv([]),
    );
    expect(report).toMatchObject({ verdict: 'NOT RUN', reason: 'needs the mesh', phases: [], checks: [] });
    expect(prepared).toBe(false);
  });

  it('reverts the fault when interrupted during it, and reports ERROR', async () => {
    const calls: string[] = [];
    const controller = new AbortController();
    const started = Date.now();
    const report = await runScenario(
      scenario(() => ({})),
      fakeEnv(calls),
      {
        timings: { duringMs: 60_000 },
        print: (line) => line.startsWith('inject') && setTimeout(() => controller.abort(), 100),
        signal: controller.signal,
      },
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(calls).toEqual(['set payment only 1', 'clear payment only']);
    expect(report.verdict).toBe('ERROR');
    expect(report.reason).toBe('interrupted: the phases were cut short (the fault was reverted)');
  });

  it('reports ERROR with the reason when the injection fails, and still cleans up', async () => {
    const calls: string[] = [];
    const report = await runScenario(
      scenario(() => ({
        inject: () => Promise.reject(new Error('no ready pod of payment')),
        cleanup: async () => (calls.push('cleanup'), 'removed the policy'),
      })),
      fakeEnv(calls),
    );
    expect(report.verdict).toBe('ERROR');
    expect(report.reason).toBe('no ready pod of payment');
    expect(calls).toEqual(['cleanup']);
    expect(report.steps.at(-1)).toBe('cleanup: removed the policy');
  });

  it('says so loudly when the revert fails', async () => {
    const report = await runScenario(
      scenario(() => ({ inject: async () => ({ description: 'break', revert: () => Promise.reject(new Error('exec failed')) }) })),
      fakeEnv([]),
    );
    expect(report.verdict).toBe('ERROR');
    expect(report.steps).toContain('revert FAILED: exec failed — undo it by hand (see chaos/README.md)');
  });

  it('reads a lagging source after the run, at the boundary times, once its lag has passed', async () => {
    const asked: { at: number; when: number }[] = [];
    const lagging: MetricsCollector = {
      name: 'prometheus-like',
      lagMs: 200,
      snapshot: async (at) => (asked.push({ at, when: Date.now() }), { p: { counters: { n: asked.length * 10 }, gauges: {} } }),
    };
    const report = await runScenario(
      scenario(() => ({ figures: [{ label: 'lagging', collector: lagging, name: 'n' }] })),
      fakeEnv([]),
    );
    expect(asked).toHaveLength(4);
    expect(asked.map((a) => a.at)).toEqual([...asked.map((a) => a.at)].sort((a, b) => a - b));
    expect(asked[3]!.at - asked[0]!.at).toBeGreaterThanOrEqual(timings.baselineMs + timings.duringMs + timings.afterMs - 50);
    expect(asked[0]!.when - asked[3]!.at).toBeGreaterThanOrEqual(200);
    expect(report.figures[0]!.values).toEqual([10, 10, 10]);
    expect(report.steps).toContain('waiting 0.2s for lagging metrics (prometheus-like)');
  });

  it('notes a collector it could not read and leaves its figures unmeasured', async () => {
    const broken: MetricsCollector = { name: 'broken', lagMs: 0, snapshot: () => Promise.reject(new Error('exec timed out')) };
    const report = await runScenario(
      scenario(() => ({ figures: [{ label: 'broken', collector: broken, name: 'x' }] })),
      fakeEnv([]),
    );
    expect(report.collectorErrors).toHaveLength(4);
    expect(report.collectorErrors[0]).toBe('broken at the start of baseline: exec timed out');
    expect(report.figures[0]!.values).toEqual([undefined, undefined, undefined]);
  });
});

describe('runScenarios', () => {
  it('runs scenarios in turn and prints each report', async () => {
    const texts: string[] = [];
    const reports = await runScenarios([scenario(() => ({}), { id: 'one' }), scenario(() => ({}), { id: 'two', unsupported: () => 'not here' })], fakeEnv([]), {
      report: (t) => texts.push(t),
    });
    expect(reports.map((r) => [r.scenario.id, r.verdict])).toEqual([
      ['one', 'PASS'],
      ['two', 'NOT RUN'],
    ]);
    expect(texts[1]).toContain('verdict: NOT RUN — not here');
  });
});
