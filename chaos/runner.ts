import type { ChaosEnvironment } from './environment.js';
import { combineStats, startLoad, type LoadResult, type LoadRun, type TargetPhaseStats } from '../load/generator.js';
import { counterDeltas, gaugeTotals, type MetricsCollector, type Snapshot } from './metrics/collector.js';
import { judge, renderReport, summarizePhase, type FigureRow, type ScenarioReport } from './report.js';
import { phaseNames, type Injection, type PhaseName, type Results, type Scenario, type ScenarioContext, type ScenarioRun, type Timings } from './scenario.js';
import { ShopWorkload } from './workload.js';

export interface RunOptions {
  /** Overrides of the scenario's default timings (shorter runs in tests, `--during 60s` on the CLI). */
  readonly timings?: Partial<Timings>;
  /** Receives each step as it happens ("inject: ...", "revert: ..."). @default - none */
  readonly print?: (line: string) => void;
  /** Receives the load generator's live progress line. @default - none */
  readonly progress?: (line: string, final: boolean) => void;
  /** Aborting ends the current phase early; the fault is still reverted and a report is made. */
  readonly signal?: AbortSignal;
}

function abortableSleep(signal: AbortSignal | undefined): (ms: number) => Promise<void> {
  return (ms) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted || ms <= 0) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
    });
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

interface Series {
  readonly collector: MetricsCollector;
  readonly snapshots: (Snapshot | undefined)[];
}

/**
 * Runs one scenario: prepare (users, targets, figures) → load starts → baseline → read
 * metrics → inject → during → revert → read metrics → after → read metrics → load stops →
 * lagging metrics (Prometheus) read for the boundary times → verification (orders settled,
 * events delivered) → checks → verdict. The injection is reverted whatever happens, and a
 * report is returned even when the run breaks (verdict ERROR, with the reason).
 */
export async function runScenario(scenario: Scenario, env: ChaosEnvironment, options: RunOptions = {}): Promise<ScenarioReport> {
  const meta = { id: scenario.id, number: scenario.number, title: scenario.title, expectation: scenario.expectation };
  const notes = scenario.notes(env);
  const base = { scenario: meta, mode: env.mode, environment: env.description, notes };
  const unsupported = scenario.unsupported(env);
  if (unsupported) {
    return {
      ...base,
      verdict: 'NOT RUN',
      reason: unsupported,
      steps: [],
      phases: [],
      targets: [],
      figures: [],
      observations: [],
      checks: [],
      collectorErrors: [],
    };
  }

  const modeDefaults = env.mode === 'local' ? scenario.localDefaults : env.mode === 'mesh' ? scenario.meshDefaults : undefined;
  const timings: Timings = { ...scenario.defaults, ...modeDefaults, ...options.timings };
  const steps: string[] = [];
  const step = (line: string) => {
    steps.push(line);
    options.print?.(line);
  };
  const sleep = abortableSleep(options.signal);
  const workload = new ShopWorkload(env.baseUrl, timings.requestTimeoutMs);
  const ctx: ScenarioContext = { env, workload, timings, step, sleep, interrupted: () => options.signal?.aborted ?? false };

  let run: ScenarioRun | undefined;
  let load: LoadRun | undefined;
  let result: LoadResult | undefined;
  let injection: Injection | undefined;
  let error: string | undefined;
  const series: Series[] = [];
  const boundaries: number[] = [];
  const collectorErrors: string[] = [];

  const readBoundary = async () => {
    boundaries.push(Date.now());
    await Promise.all(
      series.map(async (s) => {
        if (s.collector.lagMs > 0) return;
        try {
          s.snapshots.push(await s.collector.snapshot(Date.now()));
        } catch (e) {
          s.snapshots.push(undefined);
          collectorErrors.push(`${s.collector.name} at the start of ${phaseNames[boundaries.length - 1] ?? 'the end'}: ${message(e)}`);
        }
      }),
    );
  };

  try {
    run = await scenario.prepare(ctx);
    for (const figure of run.figures) if (!series.some((s) => s.collector === figure.collector)) series.push({ collector: figure.collector, snapshots: [] });
    const maxDurationMs = timings.baselineMs + timings.duringMs + timings.restoreTimeoutMs + timings.afterMs + 30_000;
    await readBoundary();
    load = startLoad({
      baseUrl: env.baseUrl,
      targets: run.targets,
      ratePerSecond: timings.ratePerSecond,
      maxDurationMs,
      maxRequests: Math.ceil((timings.ratePerSecond * maxDurationMs) / 1000),
      concurrency: timings.concurrency,
      timeoutMs: timings.requestTimeoutMs,
      phase: 'baseline',
      progress: options.progress,
    });
    step(`baseline: ${timings.ratePerSecond}/s for ${timings.baselineMs / 1000}s`);
    await sleep(timings.baselineMs);
    await readBoundary();
    load.setPhase('during');
    // The fault must not land on requests of the baseline still in flight.
    await load.settled('baseline', timings.requestTimeoutMs);
    try {
      injection = await run.inject();
      step(`inject: ${injection.description}`);
      await sleep(timings.duringMs);
    } finally {
      if (injection) {
        try {
          step(`revert: ${await injection.revert()}`);
        } catch (e) {
          step(`revert FAILED: ${message(e)} — undo it by hand (see chaos/README.md)`);
          throw e;
        }
      }
    }
    await readBoundary();
    load.setPhase('after');
    await sleep(timings.afterMs);
    await readBoundary();
    result = await load.stop();
    load = undefined;
    const lagging = series.filter((s) => s.collector.lagMs > 0);
    if (lagging.length > 0) {
      const lag = Math.max(...lagging.map((s) => s.collector.lagMs));
      step(`waiting ${lag / 1000}s for lagging metrics (${lagging.map((s) => s.collector.name).join(', ')})`);
      await sleep(lag);
      for (const s of lagging) {
        for (const [i, at] of boundaries.entries()) {
          try {
            s.snapshots.push(await s.collector.snapshot(at));
          } catch (e) {
            s.snapshots.push(undefined);
            collectorErrors.push(`${s.collector.name} at boundary ${i}: ${message(e)}`);
          }
        }
      }
    }
    const observations = run.verify ? await run.verify(result) : [];
    return finish(observations);
  } catch (e) {
    error = message(e);
    if (load) result = await load.stop();
    return finish([]);
  } finally {
    if (run?.cleanup) {
      try {
        const done = await run.cleanup();
        if (done) step(`cleanup: ${done}`);
      } catch (e) {
        step(`cleanup FAILED: ${message(e)}`);
      }
    }
    workload.close();
  }

  function finish(observations: string[]): ScenarioReport {
    const phases = (result?.phases ?? []).map((p) => ({ name: p.name, seconds: (p.endMs - p.startMs) / 1000 }));
    const stats = (target: string, phase: PhaseName): TargetPhaseStats =>
      result?.stats.find((s) => s.target === target && s.phase === phase) ?? combineStats(target, phase, []);
    const figureValue = (label: string, phase: PhaseName): number | undefined => {
      const spec = run?.figures.find((f) => f.label === label);
      const s = spec && series.find((x) => x.collector === spec.collector);
      if (!spec || !s) return undefined;
      const i = phaseNames.indexOf(phase);
      if (spec.kind === 'gauge') {
        const end = s.snapshots[i + 1];
        return end ? gaugeTotals(end)[spec.name] : undefined;
      }
      const before = s.snapshots[i];
      const after = s.snapshots[i + 1];
      return before && after ? (counterDeltas(before, after)[spec.name] ?? 0) : undefined;
    };
    const figures: FigureRow[] = (run?.figures ?? []).map((f) => ({
      label: f.label,
      source: f.collector.name,
      values: phases.map((p) => figureValue(f.label, p.name as PhaseName)),
    }));
    const targets = (run?.targets ?? []).map((t) => ({
      name: t.name,
      phases: phases.map((p) => summarizePhase(stats(t.name, p.name as PhaseName))),
    }));
    const base2 = { ...base, steps, phases, targets, figures, observations, collectorErrors };
    if (error !== undefined || !result || !run) {
      return { ...base2, verdict: 'ERROR', reason: error ?? 'the run ended before it measured anything', checks: [] };
    }
    const results: Results = { env, load: result, stats, figure: figureValue };
    const checks = run.checks(results);
    const interrupted = options.signal?.aborted ?? false;
    const judged = judge(checks, env.mode);
    return {
      ...base2,
      checks,
      verdict: interrupted ? 'ERROR' : judged.verdict,
      reason: interrupted ? 'interrupted: the phases were cut short (the fault was reverted)' : judged.reason,
    };
  }
}

/** Runs scenarios one after the other and prints each report; resolves with every report. */
export async function runScenarios(
  scenarios: readonly Scenario[],
  env: ChaosEnvironment,
  options: RunOptions & { readonly report?: (text: string) => void } = {},
): Promise<ScenarioReport[]> {
  const reports: ScenarioReport[] = [];
  for (const scenario of scenarios) {
    if (options.signal?.aborted) break;
    const report = await runScenario(scenario, env, options);
    options.report?.(renderReport(report));
    reports.push(report);
  }
  return reports;
}
