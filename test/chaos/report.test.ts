import { describe, expect, it } from 'vitest';
import { emptyStats, type TargetPhaseStats } from '../../load/generator.js';
import {
  atLeast,
  atMost,
  between,
  formatPercent,
  judge,
  meshOnly,
  notApplicable,
  renderReport,
  summarizePhase,
  verdictOf,
  type ScenarioReport,
} from '../../chaos/report.js';

function stats(phase: string, answers: { ms: number; ok: boolean; key: string }[], extra: Partial<TargetPhaseStats> = {}): TargetPhaseStats {
  const s: TargetPhaseStats = { ...emptyStats('orders', phase), sent: answers.length, ...extra };
  for (const a of answers) {
    s.latency.record(a.ms);
    s.statuses[a.key] = (s.statuses[a.key] ?? 0) + 1;
    if (a.ok) s.ok += 1;
    else {
      s.failed += 1;
      s.failures[a.key] = (s.failures[a.key] ?? 0) + 1;
    }
  }
  return s;
}

const many = (n: number, ms: number, ok: boolean, key: string) => Array.from({ length: n }, () => ({ ms, ok, key }));

describe('checks and verdicts', () => {
  it('compare a measured value with its bound and show what was seen', () => {
    expect(atLeast('x ≥ 0.98', 0.991, 0.98, (v) => v.toFixed(3))).toEqual({ expectation: 'x ≥ 0.98', observed: '0.991', outcome: 'pass', note: undefined });
    expect(atLeast('x ≥ 0.98', 0.42, 0.98).outcome).toBe('fail');
    expect(atMost('p99 ≤ 10s', 10_001, 10_000).outcome).toBe('fail');
    expect(between('rate 35–70%', 0.5, 0.35, 0.7).outcome).toBe('pass');
    expect(between('rate 35–70%', 0.9, 0.35, 0.7).outcome).toBe('fail');
  });

  it('fail a check whose value was not measured: an expectation nobody confirmed did not hold', () => {
    expect(atLeast('retries seen', undefined, 1)).toMatchObject({ observed: 'not measured', outcome: 'fail' });
    expect(atMost('none lost', undefined, 0)).toMatchObject({ observed: 'not measured', outcome: 'fail' });
  });

  it('make a verdict: FAIL on any failure, PASS with at least one pass, INCONCLUSIVE when nothing applied', () => {
    const pass = atLeast('a', 1, 1);
    const fail = atLeast('b', 0, 1);
    const na = notApplicable('c', 'no mesh');
    expect(verdictOf([pass, na])).toBe('PASS');
    expect(verdictOf([pass, fail, na])).toBe('FAIL');
    expect(verdictOf([na])).toBe('INCONCLUSIVE');
    expect(verdictOf([])).toBe('INCONCLUSIVE');
  });

  it('judges a failed baseline INCONCLUSIVE, and failures of mesh-only checks in local mode EXPECTED FAIL', () => {
    const pass = atLeast('a', 1, 1);
    const baseline = { ...atLeast('the baseline is healthy', 0.5, 0.95, formatPercent), baseline: true };
    const needsMesh = meshOnly(atLeast('retries hide it', 0.8, 0.98));
    const real = atLeast('nothing stuck', 0, 1);
    expect(judge([baseline, pass, needsMesh], 'local')).toEqual({
      verdict: 'INCONCLUSIVE',
      reason: 'the baseline itself failed (50.0%): what the fault phase shows cannot be told apart from it',
    });
    expect(judge([pass, needsMesh], 'local').verdict).toBe('EXPECTED FAIL');
    expect(judge([pass, needsMesh], 'cluster').verdict).toBe('FAIL');
    expect(judge([pass, needsMesh, real], 'local')).toEqual({ verdict: 'FAIL', reason: '1 check failed: nothing stuck' });
  });
});

describe('the report', () => {
  const phases = [
    summarizePhase(stats('baseline', many(60, 40, true, '201 CONFIRMED'))),
    summarizePhase(
      stats('during', [...many(50, 60, true, '201 CONFIRMED'), ...many(7, 30, false, '201 CANCELLED STEP_FAILED'), ...many(3, 2, false, '503')], {
        overloaded: 3,
      }),
    ),
    summarizePhase(stats('after', many(60, 45, true, '201 CONFIRMED'))),
  ];
  const report: ScenarioReport = {
    scenario: { id: 'faulty-payment-pod', number: 1, title: 'one payment pod fails', expectation: 'retries hide it' },
    mode: 'local',
    environment: 'local processes',
    verdict: 'FAIL',
    notes: ['no mesh here'],
    steps: ['inject: chaos switch', 'revert: reset'],
    phases: [
      { name: 'baseline', seconds: 15 },
      { name: 'during', seconds: 30 },
      { name: 'after', seconds: 15 },
    ],
    targets: [{ name: 'orders', phases }],
    figures: [{ label: 'payment 503s', source: 'payment /metrics', values: [0, 57, undefined] }],
    observations: ['orders after settling: CONFIRMED 170'],
    checks: [atLeast('orders stay ≥ 98% confirmed', phases[1]!.successRate, 0.98, (v) => `${(v * 100).toFixed(1)}%`, 'no mesh: expected locally')],
    collectorErrors: [],
  };

  it('summarizes a phase: requests, success, percentiles, failures by kind', () => {
    expect(phases[1]).toMatchObject({ phase: 'during', requests: 60, ok: 50, failures: { '201 CANCELLED STEP_FAILED': 7, '503': 3 }, overloaded: 3 });
    expect(phases[1]!.successRate).toBeCloseTo(50 / 60, 10);
    expect(phases[1]!.p99Ms).toBeCloseTo(60, 0);
  });

  it('renders phases as columns with success, p50, p99, failed, figures, the failure breakdown and each check', () => {
    const text = renderReport(report);
    const lines = text.split('\n');
    expect(lines[0]).toBe('━━ scenario 1 · faulty-payment-pod · local ━━ one payment pod fails');
    expect(text).toContain('expectation: retries hide it');
    expect(text).toContain('note:        no mesh here');
    expect(lines.find((l) => l.includes('baseline (15s)'))).toMatch(/baseline \(15s\)\s+during \(30s\)\s+after \(15s\)$/);
    expect(lines.find((l) => l.includes('success'))).toMatch(/success\s+100\.0%\s+83\.3%\s+100\.0%$/);
    expect(lines.find((l) => l.includes(' failed '))).toMatch(/failed\s+0\s+10\s+0$/);
    expect(lines.find((l) => l.includes('503 UO'))).toMatch(/503 UO \(overloaded\)\s+0\s+3\s+0$/);
    expect(lines.find((l) => l.startsWith('payment 503s'))).toMatch(/\(payment \/metrics\)\s+0\s+57\s+n\/a$/);
    expect(text).toContain('  · orders · during: 201 CANCELLED STEP_FAILED ×7, 503 ×3');
    expect(text).toContain('  FAIL  orders stay ≥ 98% confirmed — observed: 83.3%\n        no mesh: expected locally');
    expect(lines.at(-1)).toBe('verdict: FAIL');
    expect(lines.at(-6)).toBe('legend:');
    expect(lines.at(-5)).toMatch(/^ {2}success {2}= the answer did what was asked: a 2xx, and for POST \/orders the order CONFIRMED/);
  });

  it('says why a scenario did not run, without a table', () => {
    const text = renderReport({ ...report, verdict: 'NOT RUN', reason: 'needs the mesh', targets: [], phases: [], checks: [] });
    expect(text.split('\n').at(-1)).toBe('verdict: NOT RUN — needs the mesh');
    expect(text).not.toContain('success');
  });
});
