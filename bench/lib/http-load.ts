import { Agent, request, type OutgoingHttpHeaders } from 'node:http';
import { LatencyHistogram, type LatencySummary } from '../../load/histogram.js';

/** One request to send; built fresh for each send so bodies and headers can vary. */
export interface RequestSpec {
  readonly method: string;
  readonly path: string;
  readonly headers?: OutgoingHttpHeaders;
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

function assertLoopback(baseUrl: string): URL {
  const url = new URL(baseUrl);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname) || url.protocol !== 'http:') {
    throw new Error(`'baseUrl' (${baseUrl}) must be a plain-HTTP loopback address: the benchmarks only load this machine`);
  }
  return url;
}

/** Sends one request; resolves with the status, or -1 for a transport error or timeout. Never rejects. */
function send(agent: Agent, url: URL, spec: RequestSpec): Promise<number> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (status: number) => {
      if (!settled) {
        settled = true;
        resolve(status);
      }
    };
    const headers: OutgoingHttpHeaders = { ...spec.headers };
    if (spec.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      headers['content-length'] = Buffer.byteLength(spec.body);
    }
    const req = request({ agent, host: url.hostname, port: url.port, method: spec.method, path: spec.path, headers, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => done(res.statusCode ?? -1));
      res.on('error', () => done(-1));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => done(-1));
    req.end(spec.body);
  });
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
      // An open-loop request sent up to 1 ms before it was due can be answered before then.
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
  const url = assertLoopback(target.baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const ok = target.ok ?? ((s: number) => s >= 200 && s < 300);
  let tally = new Tally(ok);
  const start = performance.now();
  const warmEnd = start + options.warmupMs;
  const end = warmEnd + options.durationMs;
  let measuredFrom = warmEnd;
  let warm = options.warmupMs <= 0;
  let totalSent = 0;
  const worker = async () => {
    for (let i = 0; i < 100_000_000; i += 1) {
      const now = performance.now();
      if (now >= end) return;
      if (!warm && now >= warmEnd) {
        warm = true;
        tally = new Tally(ok);
        measuredFrom = now;
      }
      const own = tally;
      own.sent += 1;
      totalSent += 1;
      const began = performance.now();
      const status = await send(agent, url, target.next());
      own.add(status, performance.now() - began);
    }
  };
  await Promise.all(Array.from({ length: options.connections }, worker));
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
  const url = assertLoopback(target.baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets });
  const ok = target.ok ?? ((s: number) => s >= 200 && s < 300);
  const maxInFlight = options.maxInFlight ?? 5000;
  const warmup = new Tally(ok);
  const measured = new Tally(ok);
  const intervalMs = 1000 / options.rate;
  const total = Math.round(((options.warmupMs + options.durationMs) / 1000) * options.rate);
  const warmCount = Math.round((options.warmupMs / 1000) * options.rate);
  const start = performance.now();
  let inFlight = 0;
  for (let i = 0; i < total; i += 1) {
    const due = start + i * intervalMs;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const tally = i < warmCount ? warmup : measured;
    tally.sent += 1;
    if (inFlight >= maxInFlight) {
      tally.add(-1, 0);
      continue;
    }
    inFlight += 1;
    void send(agent, url, target.next()).then((status) => {
      inFlight -= 1;
      tally.add(status, performance.now() - due);
    });
  }
  // Every send settles within its timeout; wait for the stragglers, bounded.
  const drainUntil = performance.now() + REQUEST_TIMEOUT_MS + 1000;
  while (inFlight > 0 && performance.now() < drainUntil) await new Promise((resolve) => setTimeout(resolve, 20));
  agent.destroy();
  return measured.result(options.durationMs / 1000, warmup.sent + measured.sent, options.rate);
}
