// The benchmarks' load runs on the one load generator (load/: sender, open and closed loops, target
// guard): a warm-up left out of the figures, then a measured window tallied by status.
import type { Agent } from 'node:http';
import { LatencyHistogram, type LatencySummary } from '../../load/histogram.js';
import { loadAgent, send, type PreparedRequest } from '../../load/http.js';
import { closedLoop as runClosedLoop, openLoop as runOpenLoop } from '../../load/loops.js';
import { checkTarget, type AllowedTarget } from '../../load/targets.js';

/** One request to send; built fresh for each send so bodies and headers can vary. */
export interface RequestSpec {
  readonly method: string;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Already serialized (JSON by default content type). */
  readonly body?: string;
}

export interface LoadTarget {
  /** Loopback base URL, e.g. http://127.0.0.1:8080 */
  readonly baseUrl: string;
  next(): RequestSpec;
  /** Which statuses count as success. @default 2xx */
  readonly ok?: (status: number) => boolean;
}

export interface LoadResult {
  /** Requests sent in the measured window. */
  readonly sent: number;
  /** Requests sent in all, warm-up included (what the server did while a CPU counter ran around the call). */
  readonly totalSent: number;
  readonly completed: number;
  readonly failed: number;
  /** Requests that got no answer within the per-request timeout or hit a socket error. */
  readonly transportErrors: number;
  readonly statuses: Record<string, number>;
  readonly seconds: number;
  /** Completed successful requests per second over the measured window. */
  readonly rps: number;
  readonly latency: LatencySummary;
  /** Open loop only: the rate asked for. */
  readonly offeredRps?: number;
}

const REQUEST_TIMEOUT_MS = 30_000;

/**
 * Sends one spec with the shared sender, its answer's body drained unread (the benchmark judges
 * by status: the client's CPU counts against the server on a shared machine). Resolves with the
 * status, or -1 for a transport error or timeout.
 */
function sendSpec(target: AllowedTarget, agent: Agent, spec: RequestSpec): Promise<number> {
  const prepared: PreparedRequest =
    spec.body === undefined ? spec : { method: spec.method, path: spec.path, ...(spec.headers ? { headers: spec.headers } : {}), rawBody: spec.body };
  return send(target, prepared, { agent, timeoutMs: REQUEST_TIMEOUT_MS, discardBody: true }).then((answer) => (answer.status === 0 ? -1 : answer.status));
}

class Tally {
  readonly latency = new LatencyHistogram();
  readonly statuses: Record<string, number> = {};
  sent = 0;
  completed = 0;
  failed = 0;
  transportErrors = 0;

  constructor(private readonly ok: (status: number) => boolean) {}

  add(status: number, latencyMs: number): void {
    this.statuses[String(status)] = (this.statuses[String(status)] ?? 0) + 1;
    if (status === -1) this.transportErrors += 1;
    if (status !== -1 && this.ok(status)) {
      this.completed += 1;
      // Never negative but for rounding: an open-loop request leaves when due or later.
      this.latency.record(Math.max(0, latencyMs));
    } else {
      this.failed += 1;
    }
  }

  result(seconds: number, totalSent: number, offeredRps?: number): LoadResult {
    return {
      sent: this.sent,
      totalSent,
      completed: this.completed,
      failed: this.failed,
      transportErrors: this.transportErrors,
      statuses: this.statuses,
      seconds: Math.round(seconds * 1000) / 1000,
      rps: Math.round((this.completed / seconds) * 10) / 10,
      latency: this.latency.summary(),
      ...(offeredRps === undefined ? {} : { offeredRps }),
    };
  }
}

export interface ClosedLoopOptions {
  /** Concurrent keep-alive connections, each sending its next request when the last one is answered. */
  readonly connections: number;
  /** Not recorded: lets the server warm up (JIT, pools). */
  readonly warmupMs: number;
  readonly durationMs: number;
}

/**
 * Closed loop (as wrk does): `connections` workers, each with one request in
 * flight. Measures the throughput the server sustains; latencies are those seen
 * at that concurrency.
 */
export async function closedLoop(target: LoadTarget, options: ClosedLoopOptions): Promise<LoadResult> {
  const checked = checkTarget(target.baseUrl);
  const agent = loadAgent(options.connections);
  const ok = target.ok ?? ((s: number) => s >= 200 && s < 300);
  let tally = new Tally(ok);
  const warmEnd = performance.now() + options.warmupMs;
  let measuredFrom = warmEnd;
  let warm = options.warmupMs <= 0;
  const totalSent = await runClosedLoop({
    connections: options.connections,
    durationMs: options.warmupMs + options.durationMs,
    fire: () => {
      const began = performance.now();
      if (!warm && began >= warmEnd) {
        warm = true;
        tally = new Tally(ok);
        measuredFrom = began;
      }
      const own = tally;
      own.sent += 1;
      return sendSpec(checked, agent, target.next()).then((status) => own.add(status, performance.now() - began));
    },
  });
  const seconds = (performance.now() - measuredFrom) / 1000;
  agent.destroy();
  return tally.result(seconds, totalSent);
}

export interface OpenLoopOptions {
  /** Requests per second, sent on a fixed schedule whatever the answers do. */
  readonly rate: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Sockets the agent may open; further requests queue in the agent (and that wait counts). */
  readonly maxSockets: number;
  /** Requests allowed in flight before the generator stops scheduling (counted as failed). @default 5000 */
  readonly maxInFlight?: number;
}

/**
 * Open loop (as wrk2 does): requests leave on a fixed schedule and latency is
 * measured from when each was due, not from when it was sent, so a stall is
 * not hidden by the generator waiting for it (no coordinated omission).
 */
export async function openLoop(target: LoadTarget, options: OpenLoopOptions): Promise<LoadResult> {
  const checked = checkTarget(target.baseUrl);
  const agent = loadAgent(options.maxSockets);
  const ok = target.ok ?? ((s: number) => s >= 200 && s < 300);
  const warmup = new Tally(ok);
  const measured = new Tally(ok);
  const warmCount = Math.round((options.warmupMs / 1000) * options.rate);
  const tallyOf = (index: number) => (index < warmCount ? warmup : measured);
  await runOpenLoop({
    ratePerSecond: options.rate,
    durationMs: options.warmupMs + options.durationMs,
    maxInFlight: options.maxInFlight ?? 5000,
    fire: (index, dueAt) => {
      const tally = tallyOf(index);
      tally.sent += 1;
      return sendSpec(checked, agent, target.next()).then((status) => tally.add(status, performance.now() - dueAt));
    },
    dropped: (index) => {
      const tally = tallyOf(index);
      tally.sent += 1;
      tally.add(-1, 0);
    },
  }).done;
  agent.destroy();
  return measured.result(options.durationMs / 1000, warmup.sent + measured.sent, options.rate);
}
