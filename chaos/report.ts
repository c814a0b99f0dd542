import { successRate, type TargetPhaseStats } from '../load/generator.js';
import type { Mode } from './environment.js';

export type CheckOutcome = 'pass' | 'fail' | 'n/a';

/** One expectation of a scenario, what was observed, and whether it held. */
export interface Check {
  readonly expectation: string;
  readonly observed: string;
  readonly outcome: CheckOutcome;
  /** Why a check is n/a, or what the result means in this mode. */
  readonly note?: string;
  /**
   * The check holds only with a mesh (Envoy retries, ejection, connection pools): where there
   * is none (local mode) its failure is the expected result, not a defect of the shop.
   * @default false
   */
  readonly needsMesh?: boolean;
  /**
   * The check that the baseline was healthy: when it fails, nothing the fault phase shows can
   * be told apart from what was already broken, and the verdict is INCONCLUSIVE.
   * @default false
   */
  readonly baseline?: boolean;
}

/**
 * PASS: every check that applies held. FAIL: at least one that should have held did not.
 * EXPECTED FAIL: only checks that need a mesh failed, in a mode without one (local).
 * INCONCLUSIVE: the baseline itself was not healthy, or no check applied. NOT RUN: the
 * scenario cannot run in this environment. ERROR: the run itself broke (the fault was reverted).
 */
export type Verdict = 'PASS' | 'FAIL' | 'EXPECTED FAIL' | 'INCONCLUSIVE' | 'NOT RUN' | 'ERROR';

/** The verdict of a finished run, with the reason when it is not PASS. */
export function judge(checks: readonly Check[], mode: Mode): { verdict: Verdict; reason?: string } {
  const failed = checks.filter((c) => c.outcome === 'fail');
  const baseline = failed.find((c) => c.baseline);
  if (baseline)
    return { verdict: 'INCONCLUSIVE', reason: `the baseline itself failed (${baseline.observed}): what the fault phase shows cannot be told apart from it` };
  const real = failed.filter((c) => !(mode === 'local' && c.needsMesh));
  if (real.length > 0)
    return { verdict: 'FAIL', reason: `${real.length} check${real.length > 1 ? 's' : ''} failed: ${real.map((c) => c.expectation).join('; ')}` };
  if (failed.length > 0)
    return { verdict: 'EXPECTED FAIL', reason: `only checks that need a mesh failed (there is none in ${mode} mode); every other check held` };
  return checks.some((c) => c.outcome === 'pass') ? { verdict: 'PASS' } : { verdict: 'INCONCLUSIVE', reason: 'no check applied here' };
}

/** What verdictOf says without the reason. */
export function verdictOf(checks: readonly Check[], mode: Mode = 'cluster'): Verdict {
  return judge(checks, mode).verdict;
}

/** The report's legend: the one meaning of each column and verdict, the same for every scenario. */
export const legend = [
  'success  = the answer did what was asked: a 2xx, and for POST /orders the order CONFIRMED (a 201 CANCELLED or 202 PENDING order is answered, not a success);',
  '           `failed` counts the rest by answer; p50/p99 run from when each request was due (open loop: queueing counts).',
  'verdicts = PASS every check held · FAIL a check that should hold failed · EXPECTED FAIL only checks that need a mesh failed, without one ·',
  '           INCONCLUSIVE the baseline was not healthy (or no check applied) · NOT RUN cannot run here · ERROR the run broke (fault reverted)',
];

/** One target in one phase, as the report shows it. */
export interface PhaseSummary {
  readonly phase: string;
  /** Requests due: sent plus dropped. */
  readonly requests: number;
  readonly ok: number;
  readonly successRate: number | undefined;
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
  /** Failed answers by code (or the target's description of them), and failures without an answer. */
  readonly failures: Readonly<Record<string, number>>;
  /** Answers with x-envoy-overloaded (UO). */
  readonly overloaded: number;
  /** Retries the load generator made itself (mesh emulation in local mode). */
  readonly clientRetries: number;
  readonly dropped: number;
}

export function summarizePhase(stats: TargetPhaseStats): PhaseSummary {
  return {
    phase: stats.phase,
    requests: stats.sent + stats.dropped,
    ok: stats.ok,
    successRate: successRate(stats),
    p50Ms: stats.latency.percentile(50),
    p99Ms: stats.latency.percentile(99),
    failures: { ...stats.failures },
    overloaded: stats.overloaded,
    clientRetries: stats.retries,
    dropped: stats.dropped,
  };
}

/** A figure from a collector (Envoy, Prometheus, a service's /metrics), per phase. */
export interface FigureRow {
  readonly label: string;
  readonly source: string;
  /** Counter increase during each phase (or a gauge's value at the end of it); undefined: not read. */
  readonly values: readonly (number | undefined)[];
}

export interface ScenarioReport {
  readonly scenario: { readonly id: string; readonly number: number; readonly title: string; readonly expectation: string };
  readonly mode: Mode;
  readonly environment: string;
  readonly verdict: Verdict;
  /** Why the scenario did not run, or what broke. */
  readonly reason?: string;
  /** What this mode can and cannot show. */
  readonly notes: readonly string[];
  /** What the runner did, in order (inject, revert, restock...). */
  readonly steps: readonly string[];
  readonly phases: readonly { readonly name: string; readonly seconds: number }[];
  readonly targets: readonly { readonly name: string; readonly phases: readonly PhaseSummary[] }[];
  readonly figures: readonly FigureRow[];
  readonly observations: readonly string[];
  readonly checks: readonly Check[];
  /** Collectors that could not be read at some boundary. */
  readonly collectorErrors: readonly string[];
}

export const formatPercent = (rate: number | undefined) => (rate === undefined ? '-' : `${(rate * 100).toFixed(1)}%`);
export const formatMs = (ms: number | undefined) =>
  ms === undefined ? '-' : ms >= 10_000 ? `${(ms / 1000).toFixed(1)}s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)}s` : `${Math.round(ms)}ms`;
const formatCount = (n: number | undefined) => (n === undefined ? 'n/a' : Number.isInteger(n) ? String(n) : n.toFixed(1));

const failedCount = (s: PhaseSummary) => Object.values(s.failures).reduce((a, b) => a + b, 0) + s.dropped;

function failureBreakdown(s: PhaseSummary): string {
  return Object.entries(s.failures)
    .sort(([, a], [, b]) => b - a)
    .map(([code, n]) => `${code} ×${n}`)
    .join(', ');
}

function table(rows: readonly (readonly string[])[], rightAlignFrom: number): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) =>
    r
      .map((cell, i) => (i >= rightAlignFrom ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

/** The report as text: header, one block per target with phases as columns, figures, checks, verdict. */
export function renderReport(report: ScenarioReport): string {
  const out: string[] = [];
  const s = report.scenario;
  out.push(`━━ scenario ${s.number} · ${s.id} · ${report.mode} ━━ ${s.title}`);
  out.push(`expectation: ${s.expectation}`);
  out.push(`where:       ${report.environment}`);
  for (const note of report.notes) out.push(`note:        ${note}`);
  if (report.verdict === 'NOT RUN') {
    out.push(`verdict: NOT RUN — ${report.reason ?? ''}`);
    return out.join('\n');
  }
  if (report.steps.length > 0) {
    out.push('steps:');
    for (const step of report.steps) out.push(`  · ${step}`);
  }
  if (report.phases.length > 0) {
    const header = ['', '', ...report.phases.map((p) => `${p.name} (${p.seconds.toFixed(0)}s)`)];
    const rows: string[][] = [header];
    for (const target of report.targets) {
      const cells = (f: (p: PhaseSummary) => string) =>
        report.phases.map((p) => {
          const summary = target.phases.find((x) => x.phase === p.name);
          return summary ? f(summary) : '-';
        });
      rows.push([target.name, 'requests', ...cells((p) => String(p.requests))]);
      rows.push(['', 'success', ...cells((p) => formatPercent(p.successRate))]);
      rows.push(['', 'p50', ...cells((p) => formatMs(p.p50Ms))]);
      rows.push(['', 'p99', ...cells((p) => formatMs(p.p99Ms))]);
      rows.push(['', 'failed', ...cells((p) => String(failedCount(p)))]);
      if (target.phases.some((p) => p.overloaded > 0)) rows.push(['', '503 UO (overloaded)', ...cells((p) => String(p.overloaded))]);
      if (target.phases.some((p) => p.clientRetries > 0)) rows.push(['', 'retries (emulated)', ...cells((p) => String(p.clientRetries))]);
      if (target.phases.some((p) => p.dropped > 0)) rows.push(['', 'dropped (client cap)', ...cells((p) => String(p.dropped))]);
    }
    for (const figure of report.figures) rows.push([figure.label, `(${figure.source})`, ...figure.values.map(formatCount)]);
    out.push(...table(rows, 2));
  }
  const breakdown = report.targets.flatMap((t) =>
    t.phases.filter((p) => failureBreakdown(p) !== '').map((p) => `${t.name} · ${p.phase}: ${failureBreakdown(p)}`),
  );
  if (breakdown.length > 0) {
    out.push('failed answers:');
    for (const line of breakdown) out.push(`  · ${line}`);
  }
  if (report.observations.length > 0) {
    out.push('observed:');
    for (const o of report.observations) out.push(`  · ${o}`);
  }
  if (report.collectorErrors.length > 0) {
    out.push('metrics not read:');
    for (const e of report.collectorErrors) out.push(`  · ${e}`);
  }
  if (report.checks.length > 0) {
    out.push('checks:');
    for (const c of report.checks) {
      out.push(
        `  ${c.outcome === 'pass' ? 'PASS' : c.outcome === 'fail' ? 'FAIL' : 'n/a '}  ${c.expectation} — observed: ${c.observed}${c.outcome === 'fail' && c.needsMesh && report.mode === 'local' ? ' (expected: needs a mesh)' : ''}`,
      );
      if (c.note) out.push(`        ${c.note}`);
    }
  }
  out.push('legend:');
  for (const line of legend) out.push(`  ${line}`);
  out.push(`verdict: ${report.verdict}${report.reason ? ` — ${report.reason}` : ''}`);
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Check builders: each compares one measured value with a bound and says what it saw.

/** `value >= min`; a value that was not measured fails (the expectation could not be confirmed). */
export function atLeast(expectation: string, value: number | undefined, min: number, format: (v: number) => string = String, note?: string): Check {
  if (value === undefined) return { expectation, observed: 'not measured', outcome: 'fail', note };
  return { expectation, observed: format(value), outcome: value >= min ? 'pass' : 'fail', note };
}

/** `value <= max`; a value that was not measured fails. */
export function atMost(expectation: string, value: number | undefined, max: number, format: (v: number) => string = String, note?: string): Check {
  if (value === undefined) return { expectation, observed: 'not measured', outcome: 'fail', note };
  return { expectation, observed: format(value), outcome: value <= max ? 'pass' : 'fail', note };
}

/** `min <= value <= max`; a value that was not measured fails. */
export function between(
  expectation: string,
  value: number | undefined,
  min: number,
  max: number,
  format: (v: number) => string = String,
  note?: string,
): Check {
  if (value === undefined) return { expectation, observed: 'not measured', outcome: 'fail', note };
  return { expectation, observed: format(value), outcome: value >= min && value <= max ? 'pass' : 'fail', note };
}

/** The same check, marked as one that holds only with a mesh (see `Check.needsMesh`). */
export function meshOnly(check: Check): Check {
  return { ...check, needsMesh: true };
}

/** A check that only a mesh can answer, in a mode without one. */
export function notApplicable(expectation: string, note: string): Check {
  return { expectation, observed: 'not measurable here', outcome: 'n/a', note };
}
