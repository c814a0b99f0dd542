import { LatencyHistogram } from './histogram.js';
import { loadAgent, send, type Answer, type PreparedRequest } from './http.js';
import { openLoop } from './loops.js';
import { checkTarget } from './targets.js';

/**
 * A retry policy the load generator applies itself, to emulate on a machine without a mesh
 * what an Envoy route retry would do (the chaos scenarios use it only where they say so).
 */
export interface ClientRetryPolicy {
  /** Retries after the first try (Istio `attempts`). */
  readonly attempts: number;
  /** Budget of each try; the socket is dropped when it runs out, as Envoy's per-try timeout does. */
  readonly perTryTimeoutMs: number;
  /** Whether a try's answer is retried (status 0 is a timeout or a socket error). */
  readonly retryOn: (answer: Answer) => boolean;
  /**
   * Pause between tries.
   * @default 25
   */
  readonly backoffMs?: number;
}

/** What one request of a target looks like, how its answer is judged and what is learnt from it. */
export interface LoadTarget {
  /** Row label in reports ("orders", "products via the fault host"). */
  readonly name: string;
  /**
   * Share of the rate, relative to the other targets' weights (smooth weighted round-robin,
   * so the mix is deterministic).
   * @default 1
   */
  readonly weight?: number;
  /** Builds request number `seq` of this target (0, 1, 2... per target). */
  prepare(seq: number): PreparedRequest | Promise<PreparedRequest>;
  /**
   * Whether the answer counts as a success.
   * @default - any 2xx
   */
  succeeded?(answer: Answer): boolean;
  /**
   * How an answer is counted in `statuses` and `failures`, e.g. `201 CANCELLED STEP_FAILED`.
   * @default - the HTTP status, or `timeout` / the socket error code
   */
  describe?(answer: Answer): string;
  /** Sees every final answer, e.g. to remember the ids of created orders. */
  onAnswer?(event: AnswerEvent): void;
  /**
   * A retry policy applied by the generator (mesh emulation).
   * @default - one try
   */
  readonly retry?: ClientRetryPolicy;
}

export interface AnswerEvent {
  readonly target: string;
  readonly phase: string;
  readonly seq: number;
  readonly request: PreparedRequest;
  readonly answer: Answer;
  /** 1 + the retries the generator made. */
  readonly tries: number;
  /** Milliseconds since the run started at which the request was scheduled. */
  readonly scheduledAtMs: number;
}

export interface LoadOptions {
  /** Where the load goes: loopback or an in-cluster Service name only (checkTarget). */
  readonly baseUrl: string;
  readonly targets: readonly LoadTarget[];
  /** Open loop: requests are started at this fixed rate whether or not earlier ones have answered. */
  readonly ratePerSecond: number;
  /** Hard bound on the run time; the run ends after it even if nobody calls stop(). */
  readonly maxDurationMs: number;
  /** Hard bound on the number of requests scheduled (sent or dropped). */
  readonly maxRequests: number;
  /** At most this many requests in flight; a request due while the cap is reached is dropped and counted. */
  readonly concurrency: number;
  /** Client-side limit of one request including retries. */
  readonly timeoutMs: number;
  /**
   * Name of the first phase; `setPhase` starts the next ones.
   * @default 'baseline'
   */
  readonly phase?: string;
  /**
   * Receives the live progress line about once per `progressIntervalMs`, and once more at the end (`final`).
   * @default - no progress output
   */
  readonly progress?: (line: string, final: boolean) => void;
  /** @default 1000 */
  readonly progressIntervalMs?: number;
}

/** Figures of one target in one phase. */
export interface TargetPhaseStats {
  readonly target: string;
  readonly phase: string;
  /** Requests started. */
  sent: number;
  /** Requests due while `concurrency` were already in flight: not sent, counted as not served. */
  dropped: number;
  ok: number;
  failed: number;
  /** Final answers by status code (or the target's `describe`), `timeout` / the socket error code for requests without an answer. */
  readonly statuses: Record<string, number>;
  /** The failed ones among them, by the same keys. */
  readonly failures: Record<string, number>;
  /** Answers carrying `x-envoy-overloaded` (Envoy's circuit breaker answered: response flag UO). */
  overloaded: number;
  /** Retries the generator made itself (mesh emulation); 0 without a ClientRetryPolicy. */
  retries: number;
  /** Time from the scheduled start to the final answer, of every answered or failed request. */
  readonly latency: LatencyHistogram;
  readonly okLatency: LatencyHistogram;
  readonly failedLatency: LatencyHistogram;
  /** Latency of the answers carrying x-envoy-overloaded: how fast load was shed. */
  readonly overloadedLatency: LatencyHistogram;
}

export interface PhaseWindow {
  readonly name: string;
  /** Milliseconds since the run started. */
  readonly startMs: number;
  endMs: number;
}

export interface LoadResult {
  readonly phases: readonly PhaseWindow[];
  readonly stats: readonly TargetPhaseStats[];
  readonly durationMs: number;
  /** Why the run ended. */
  readonly ended: 'stopped' | 'duration' | 'requests';
}

export interface LoadRun {
  /** Requests scheduled from now on count toward phase `name`. */
  setPhase(name: string): void;
  readonly phase: string;
  /**
   * Resolves once no request scheduled in `phase` is in flight any more (or after
   * `timeoutMs`), so a fault injected after a phase switch never lands on the previous
   * phase's requests. Resolves false when it timed out.
   */
  settled(phase: string, timeoutMs: number): Promise<boolean>;
  /** Stops scheduling, waits for the requests in flight (bounded by the timeout) and returns the result. */
  stop(): Promise<LoadResult>;
  /** Settles when the run ends by itself (duration or request bound) or after stop(). */
  readonly done: Promise<LoadResult>;
  /** Stats so far (live objects). */
  stats(): readonly TargetPhaseStats[];
}

/** Success rate of some stats: ok / (sent + dropped); undefined when nothing was due. */
export function successRate(stats: Pick<TargetPhaseStats, 'ok' | 'sent' | 'dropped'>): number | undefined {
  const due = stats.sent + stats.dropped;
  return due === 0 ? undefined : stats.ok / due;
}

/** The sum of several stats (e.g. all targets of a phase). */
export function combineStats(target: string, phase: string, parts: readonly TargetPhaseStats[]): TargetPhaseStats {
  const combined = emptyStats(target, phase);
  for (const p of parts) {
    combined.sent += p.sent;
    combined.dropped += p.dropped;
    combined.ok += p.ok;
    combined.failed += p.failed;
    combined.overloaded += p.overloaded;
    combined.retries += p.retries;
    for (const [k, v] of Object.entries(p.statuses)) combined.statuses[k] = (combined.statuses[k] ?? 0) + v;
    for (const [k, v] of Object.entries(p.failures)) combined.failures[k] = (combined.failures[k] ?? 0) + v;
    combined.latency.add(p.latency);
    combined.okLatency.add(p.okLatency);
    combined.failedLatency.add(p.failedLatency);
    combined.overloadedLatency.add(p.overloadedLatency);
  }
  return combined;
}

/** A target's phase with nothing recorded yet. */
export function emptyStats(target: string, phase: string): TargetPhaseStats {
  return {
    target,
    phase,
    sent: 0,
    dropped: 0,
    ok: 0,
    failed: 0,
    statuses: {},
    failures: {},
    overloaded: 0,
    retries: 0,
    latency: new LatencyHistogram(),
    okLatency: new LatencyHistogram(),
    failedLatency: new LatencyHistogram(),
    overloadedLatency: new LatencyHistogram(),
  };
}

const isSuccess = (answer: Answer) => answer.status >= 200 && answer.status < 300;

export function validateLoadOptions(options: LoadOptions): void {
  const problems: string[] = [];
  const positive = (name: keyof LoadOptions, value: number, max: number) => {
    if (!(Number.isFinite(value) && value > 0 && value <= max)) problems.push(`'${name}' (${value}) must be above 0 and at most ${max}`);
  };
  positive('ratePerSecond', options.ratePerSecond, 5_000);
  positive('maxDurationMs', options.maxDurationMs, 60 * 60_000);
  positive('maxRequests', options.maxRequests, 1_000_000);
  positive('concurrency', options.concurrency, 10_000);
  positive('timeoutMs', options.timeoutMs, 10 * 60_000);
  if (options.targets.length === 0) problems.push(`'targets' is empty: give at least one target`);
  for (const t of options.targets) {
    if (t.weight !== undefined && !(t.weight > 0)) problems.push(`target '${t.name}': 'weight' (${t.weight}) must be above 0`);
    if (t.retry && !(Number.isInteger(t.retry.attempts) && t.retry.attempts >= 0 && t.retry.attempts <= 10))
      problems.push(`target '${t.name}': 'retry.attempts' (${t.retry.attempts}) must be a whole number from 0 to 10`);
    if (t.retry && !(t.retry.perTryTimeoutMs > 0)) problems.push(`target '${t.name}': 'retry.perTryTimeoutMs' (${t.retry.perTryTimeoutMs}) must be above 0`);
  }
  if (new Set(options.targets.map((t) => t.name)).size !== options.targets.length) problems.push(`target names must be unique`);
  if (problems.length > 0) throw new Error(`invalid load options:\n  - ${problems.join('\n  - ')}`);
}

/** Smooth weighted round-robin (nginx's): deterministic, and spreads each target evenly over time. */
function picker(targets: readonly LoadTarget[]): () => number {
  const weights = targets.map((t) => t.weight ?? 1);
  const total = weights.reduce((a, b) => a + b, 0);
  const current = weights.map(() => 0);
  return () => {
    let best = 0;
    for (let i = 0; i < weights.length; i++) {
      current[i]! += weights[i]!;
      if (current[i]! > current[best]!) best = i;
    }
    current[best]! -= total;
    return best;
  };
}

const fmtMs = (ms: number | undefined) => (ms === undefined ? '-' : ms >= 1000 ? `${(ms / 1000).toFixed(2)}s` : `${Math.round(ms)}ms`);

/** One line on a phase so far: `during 12.0s · sent 240 · in flight 3 · ok 99.2% · p50 12ms p99 80ms · 503×2`. */
export function progressLine(phase: string, phaseSeconds: number, stats: readonly TargetPhaseStats[], inFlight: number): string {
  const all = combineStats('all', phase, stats);
  const rate = successRate(all);
  const codes = Object.entries(all.failures)
    .sort(([, a], [, b]) => b - a)
    .slice(0, 4)
    .map(([code, n]) => `${code}×${n}`)
    .join(' ');
  return [
    `${phase} ${phaseSeconds.toFixed(1)}s`,
    `sent ${all.sent}${all.dropped > 0 ? ` (dropped ${all.dropped})` : ''}`,
    `in flight ${inFlight}`,
    `ok ${rate === undefined ? '-' : `${(rate * 100).toFixed(1)}%`}`,
    `p50 ${fmtMs(all.latency.percentile(50))} p99 ${fmtMs(all.latency.percentile(99))}`,
    ...(codes ? [codes] : []),
  ].join(' · ');
}

/**
 * Starts an open-loop load run: request k is due at k / rate seconds after the start,
 * whatever the answers do (a slow service does not slow the load down, which is what
 * shows queueing). A request due while `concurrency` are in flight is dropped and
 * counted. Latency runs from the scheduled start (no coordinated omission). The run is
 * bounded by `maxDurationMs` and `maxRequests`; only loopback or in-cluster base URLs
 * are accepted.
 */
export function startLoad(options: LoadOptions): LoadRun {
  validateLoadOptions(options);
  const target = checkTarget(options.baseUrl);
  const agent = loadAgent(options.concurrency);
  const pick = picker(options.targets);
  const seqs = options.targets.map(() => 0);
  const byKey = new Map<string, TargetPhaseStats>();
  const order: TargetPhaseStats[] = [];
  const phases: PhaseWindow[] = [];
  let phase = options.phase ?? 'baseline';
  phases.push({ name: phase, startMs: 0, endMs: 0 });
  const inFlightByPhase = new Map<string, number>();
  const waiters = new Set<() => void>();

  const statsFor = (name: string, phaseName: string): TargetPhaseStats => {
    const key = `${phaseName}\u0000${name}`;
    let stats = byKey.get(key);
    if (!stats) {
      stats = emptyStats(name, phaseName);
      byKey.set(key, stats);
      order.push(stats);
    }
    return stats;
  };
  // Every target has a row in every phase, even one that got no request.
  const openPhase = (name: string) => options.targets.forEach((t) => statsFor(t.name, name));
  openPhase(phase);

  /** The target of the next due request, its sequence number and its row. */
  const next = () => {
    const index = pick();
    const loadTarget = options.targets[index]!;
    const seq = seqs[index]!;
    seqs[index] = seq + 1;
    return { loadTarget, seq, phaseName: phase, stats: statsFor(loadTarget.name, phase) };
  };

  const loop = openLoop({
    ratePerSecond: options.ratePerSecond,
    durationMs: options.maxDurationMs,
    maxRequests: options.maxRequests,
    maxInFlight: options.concurrency,
    fire: (_index, dueAt) => issue(next(), dueAt),
    dropped: () => {
      next().stats.dropped += 1;
    },
    ...(options.progress ? { tick: { everyMs: options.progressIntervalMs ?? 1000, run: () => progress(false) } } : {}),
  });
  const elapsed = () => performance.now() - loop.startedAt;

  function progress(final: boolean): void {
    const current = phases[phases.length - 1]!;
    const now = final ? current.endMs : elapsed();
    options.progress?.(
      progressLine(
        current.name,
        (now - current.startMs) / 1000,
        order.filter((s) => s.phase === current.name),
        final ? 0 : loop.inFlight,
      ),
      final,
    );
  }

  async function attempt(loadTarget: LoadTarget, prepared: PreparedRequest, deadline: number): Promise<{ answer: Answer; tries: number }> {
    const retry = loadTarget.retry;
    if (!retry) return { answer: await send(target, prepared, { timeoutMs: Math.max(1, deadline - performance.now()), agent }), tries: 1 };
    let answer: Answer | undefined;
    let tries = 0;
    while (tries <= retry.attempts) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      tries += 1;
      answer = await send(target, prepared, { timeoutMs: Math.min(retry.perTryTimeoutMs, left), agent });
      if (tries > retry.attempts || !retry.retryOn(answer)) break;
      await new Promise((resolve) => setTimeout(resolve, retry.backoffMs ?? 25));
    }
    return { answer: answer ?? { status: 0, headers: {}, body: '', latencyMs: 0, error: 'timeout' }, tries: Math.max(tries, 1) };
  }

  async function issue({ loadTarget, seq, phaseName, stats }: ReturnType<typeof next>, dueAt: number): Promise<void> {
    const scheduledAtMs = dueAt - loop.startedAt;
    inFlightByPhase.set(phaseName, (inFlightByPhase.get(phaseName) ?? 0) + 1);
    stats.sent += 1;
    try {
      const prepared = await loadTarget.prepare(seq);
      const { answer, tries } = await attempt(loadTarget, prepared, dueAt + options.timeoutMs);
      const latencyMs = Math.max(0, performance.now() - dueAt);
      const key = answer.status === 0 ? (answer.error ?? 'error') : (loadTarget.describe?.(answer) ?? String(answer.status));
      stats.statuses[key] = (stats.statuses[key] ?? 0) + 1;
      if (answer.headers['x-envoy-overloaded'] !== undefined) {
        stats.overloaded += 1;
        stats.overloadedLatency.record(latencyMs);
      }
      stats.retries += tries - 1;
      stats.latency.record(latencyMs);
      const ok = (loadTarget.succeeded ?? isSuccess)(answer);
      if (ok) {
        stats.ok += 1;
        stats.okLatency.record(latencyMs);
      } else {
        stats.failed += 1;
        stats.failures[key] = (stats.failures[key] ?? 0) + 1;
        stats.failedLatency.record(latencyMs);
      }
      loadTarget.onAnswer?.({ target: loadTarget.name, phase: phaseName, seq, request: prepared, answer, tries, scheduledAtMs });
    } catch (error) {
      // prepare() or onAnswer() threw: a bug in the scenario, not a failure of the shop.
      const key = `client-error`;
      stats.statuses[key] = (stats.statuses[key] ?? 0) + 1;
      stats.failures[key] = (stats.failures[key] ?? 0) + 1;
      stats.failed += 1;
      process.emitWarning(`load target '${loadTarget.name}': ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      inFlightByPhase.set(phaseName, (inFlightByPhase.get(phaseName) ?? 1) - 1);
      for (const wake of waiters) wake();
    }
  }

  const done = loop.done.then(({ ended }): LoadResult => {
    agent.destroy();
    const durationMs = elapsed();
    phases[phases.length - 1]!.endMs = durationMs;
    progress(true);
    return { phases, stats: order, durationMs, ended };
  });

  return {
    setPhase(name: string) {
      if (name === phase) return;
      const now = elapsed();
      phases[phases.length - 1]!.endMs = now;
      phases.push({ name, startMs: now, endMs: now });
      phase = name;
      openPhase(name);
    },
    get phase() {
      return phase;
    },
    settled(phaseName: string, timeoutMs: number) {
      return new Promise<boolean>((resolve) => {
        const check = () => {
          if ((inFlightByPhase.get(phaseName) ?? 0) > 0) return;
          finish(true);
        };
        const finish = (result: boolean) => {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(result);
        };
        const timer = setTimeout(() => finish(false), timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async stop() {
      loop.stop();
      return done;
    },
    done,
    stats: () => order,
  };
}
