import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { combineStats, progressLine, startLoad, successRate, type LoadOptions, type LoadTarget } from '../../load/generator.js';
import { freePort } from '../../infra/processes.js';

type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void;

interface TestServer {
  readonly url: string;
  readonly received: { method: string; url: string; host: string; at: number; headers: IncomingMessage['headers'] }[];
  maxConcurrent: number;
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((s) => {
      s.closeAllConnections();
      return new Promise((resolve) => s.close(resolve));
    }),
  );
});

/** A loopback HTTP server whose answers the test decides (this tests the generator, not the shop). */
async function serve(handler: Handler): Promise<TestServer> {
  const started = Date.now();
  let active = 0;
  const state: TestServer = { url: '', received: [], maxConcurrent: 0 };
  const server = createServer((req, res) => {
    active += 1;
    state.maxConcurrent = Math.max(state.maxConcurrent, active);
    res.on('close', () => (active -= 1));
    state.received.push({ method: req.method ?? '', url: req.url ?? '', host: req.headers.host ?? '', at: Date.now() - started, headers: req.headers });
    req.resume();
    handler(req, res, state.received.length);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  (state as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

const reply =
  (status: number, delayMs = 0, headers: Record<string, string> = {}): Handler =>
  (_req, res) =>
    setTimeout(() => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify({ status }));
    }, delayMs);

const get = (name = 'get', extra: Partial<LoadTarget> = {}): LoadTarget => ({ name, prepare: (seq) => ({ method: 'GET', path: `/item/${seq}` }), ...extra });

function options(url: string, extra: Partial<LoadOptions> = {}): LoadOptions {
  return { baseUrl: url, targets: [get()], ratePerSecond: 20, maxDurationMs: 1_000, maxRequests: 1_000, concurrency: 100, timeoutMs: 5_000, ...extra };
}

describe('the open-loop load generator', () => {
  it('starts requests at the fixed rate whatever the answers do (open loop), and measures the slow answers', async () => {
    const server = await serve(reply(200, 300));
    const result = await startLoad(options(server.url, { ratePerSecond: 20, maxDurationMs: 1_000 })).done;
    const stats = result.stats[0]!;
    expect(result.ended).toBe('duration');
    expect(stats.sent).toBe(20);
    expect(server.received).toHaveLength(20);
    // A closed loop of one would have managed ~3 in that second; the open loop keeps several in flight.
    expect(server.maxConcurrent).toBeGreaterThanOrEqual(5);
    expect(stats.latency.percentile(50)!).toBeGreaterThanOrEqual(295);
    expect(stats.statuses).toEqual({ '200': 20 });
    expect(successRate(stats)).toBe(1);
  });

  it('never schedules more than maxRequests, and says which bound ended the run', async () => {
    const server = await serve(reply(200));
    const result = await startLoad(options(server.url, { ratePerSecond: 200, maxRequests: 15, maxDurationMs: 5_000 })).done;
    expect(result.ended).toBe('requests');
    expect(result.stats[0]!.sent).toBe(15);
    expect(result.durationMs).toBeLessThan(1_000);
  });

  it('drops requests due while the concurrency cap is reached and counts them as not served', async () => {
    const server = await serve(reply(200, 400));
    const result = await startLoad(options(server.url, { ratePerSecond: 40, concurrency: 2, maxDurationMs: 1_000 })).done;
    const stats = result.stats[0]!;
    expect(server.maxConcurrent).toBe(2);
    expect(stats.dropped).toBeGreaterThan(20);
    expect(stats.sent + stats.dropped).toBe(40);
    expect(successRate(stats)).toBeCloseTo(stats.ok / 40, 10);
  });

  it('attributes each request to the phase it was scheduled in', async () => {
    const server = await serve(reply(200));
    const run = startLoad(options(server.url, { ratePerSecond: 50, maxDurationMs: 5_000 }));
    await new Promise((r) => setTimeout(r, 400));
    run.setPhase('during');
    await new Promise((r) => setTimeout(r, 400));
    run.setPhase('after');
    await new Promise((r) => setTimeout(r, 200));
    const result = await run.stop();
    expect(result.ended).toBe('stopped');
    expect(result.phases.map((p) => p.name)).toEqual(['baseline', 'during', 'after']);
    const [baseline, during, after] = ['baseline', 'during', 'after'].map((p) => result.stats.find((s) => s.phase === p)!);
    expect(baseline!.sent).toBeGreaterThanOrEqual(18);
    expect(during!.sent).toBeGreaterThanOrEqual(18);
    expect(after!.sent).toBeGreaterThanOrEqual(8);
    expect(baseline!.sent + during!.sent + after!.sent).toBe(server.received.length);
    expect(result.phases[1]!.startMs).toBeCloseTo(400, -2);
    expect(result.phases[2]!.endMs).toBe(result.durationMs);
  });

  it('tells when the requests of a phase have all answered, so a fault never lands on them', async () => {
    const server = await serve(reply(200, 300));
    const run = startLoad(options(server.url, { ratePerSecond: 20, maxDurationMs: 5_000 }));
    await new Promise((r) => setTimeout(r, 120));
    run.setPhase('during');
    const t0 = Date.now();
    expect(await run.settled('baseline', 2_000)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(await run.settled('during', 50)).toBe(false);
    const result = await run.stop();
    expect(result.stats.find((s) => s.phase === 'baseline')!.ok).toBe(result.stats.find((s) => s.phase === 'baseline')!.sent);
  });

  it('counts statuses, judges success by the target, describes answers and counts x-envoy-overloaded separately', async () => {
    const server = await serve((req, res, n) => (n % 2 === 0 ? reply(503, 0, { 'x-envoy-overloaded': 'true' })(req, res, n) : reply(201, 30)(req, res, n)));
    const target = get('orders', {
      succeeded: (a) => a.status === 201,
      describe: (a) => (a.status === 201 ? '201 CREATED' : `${a.status} shed`),
    });
    const result = await startLoad(options(server.url, { targets: [target], ratePerSecond: 40, maxRequests: 20 })).done;
    const stats = result.stats[0]!;
    expect(stats.statuses).toEqual({ '201 CREATED': 10, '503 shed': 10 });
    expect(stats.failures).toEqual({ '503 shed': 10 });
    expect([stats.ok, stats.failed, stats.overloaded, stats.overloadedLatency.count]).toEqual([10, 10, 10, 10]);
    expect(stats.okLatency.percentile(50)!).toBeGreaterThan(stats.overloadedLatency.percentile(50)!);
  });

  it('emulates a retry policy: retried on 5xx up to the attempts, each try cut by the per-try timeout', async () => {
    // Every request's first try is slow (cut at 100 ms), its second answers 503, its third 200.
    const tries = new Map<string, number>();
    const server = await serve((req, res, n) => {
      const t = (tries.get(req.url!) ?? 0) + 1;
      tries.set(req.url!, t);
      if (t === 1) return reply(200, 400)(req, res, n);
      return reply(t === 2 ? 503 : 200)(req, res, n);
    });
    const target = get('retried', { retry: { attempts: 2, perTryTimeoutMs: 100, retryOn: (a) => a.status === 0 || a.status >= 500, backoffMs: 5 } });
    const result = await startLoad(options(server.url, { targets: [target], ratePerSecond: 20, maxRequests: 5 })).done;
    const stats = result.stats[0]!;
    expect([...tries.values()]).toEqual([3, 3, 3, 3, 3]);
    expect([stats.ok, stats.retries]).toEqual([5, 10]);
    expect(stats.latency.percentile(0)!).toBeGreaterThanOrEqual(100);
  });

  it('gives up after the last retry and reports the last answer', async () => {
    const server = await serve(reply(502));
    const target = get('doomed', { retry: { attempts: 2, perTryTimeoutMs: 500, retryOn: (a) => a.status >= 500, backoffMs: 1 } });
    const result = await startLoad(options(server.url, { targets: [target], maxRequests: 2 })).done;
    expect(server.received).toHaveLength(6);
    expect(result.stats[0]!.statuses).toEqual({ '502': 2 });
    expect(result.stats[0]!.retries).toBe(4);
  });

  it('sends the Host header a target asks for while connecting to the checked base URL', async () => {
    const server = await serve(reply(200));
    const target: LoadTarget = { name: 'fault host', prepare: () => ({ method: 'POST', path: '/orders', host: 'faults.chaos.meshkit.local', body: { a: 1 } }) };
    await startLoad(options(server.url, { targets: [target], maxRequests: 1 })).done;
    expect(server.received[0]).toMatchObject({ method: 'POST', url: '/orders', host: 'faults.chaos.meshkit.local' });
    expect(server.received[0]!.headers['content-type']).toBe('application/json');
  });

  it('mixes targets by weight, deterministically', async () => {
    const server = await serve(reply(200));
    const result = await startLoad(options(server.url, { targets: [get('heavy', { weight: 3 }), get('light')], ratePerSecond: 200, maxRequests: 40 })).done;
    expect(result.stats.map((s) => [s.target, s.sent])).toEqual([
      ['heavy', 30],
      ['light', 10],
    ]);
  });

  it('counts a request without an answer as timeout, and a refused connection by its error code', async () => {
    const server = await serve(() => undefined);
    const silent = await startLoad(options(server.url, { timeoutMs: 150, maxRequests: 2 })).done;
    expect(silent.stats[0]!.statuses).toEqual({ timeout: 2 });
    // The timeout runs from the scheduled start, like the latency.
    expect(silent.stats[0]!.failedLatency.percentile(50)!).toBeGreaterThanOrEqual(140);
    const closed = await startLoad(options(`http://127.0.0.1:${await freePort()}`, { maxRequests: 2 })).done;
    expect(closed.stats[0]!.statuses).toEqual({ ECONNREFUSED: 2 });
    expect(closed.stats[0]!.failed).toBe(2);
  });

  it('reports live progress about once a second and a final line', async () => {
    const server = await serve(reply(200, 10));
    const lines: [string, boolean][] = [];
    await startLoad(options(server.url, { maxDurationMs: 1_300, progressIntervalMs: 500, progress: (line, final) => lines.push([line, final]) })).done;
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(lines.at(-1)![1]).toBe(true);
    expect(lines.slice(0, -1).every(([, final]) => !final)).toBe(true);
    expect(lines.at(-1)![0]).toMatch(/^baseline 1\.\ds · sent 26 · in flight 0 · ok 100\.0% · p50 \d+ms p99 \d+ms$/);
  });

  it('refuses a target outside loopback and the cluster before sending anything, and lists bad options together', () => {
    expect(() => startLoad(options('http://example.com'))).toThrow('refusing to load http://example.com');
    expect(() => startLoad(options('http://127.0.0.1:1', { ratePerSecond: 0, concurrency: -1, targets: [] }))).toThrow(
      "invalid load options:\n  - 'ratePerSecond' (0) must be above 0 and at most 5000\n  - 'concurrency' (-1) must be above 0 and at most 10000\n  - 'targets' is empty: give at least one target",
    );
  });
});

describe('stats helpers', () => {
  it('combine the stats of several targets and phases into one', async () => {
    const server = await serve(reply(200));
    const result = await startLoad(options(server.url, { targets: [get('a'), get('b')], ratePerSecond: 100, maxRequests: 10 })).done;
    const all = combineStats('all', 'baseline', result.stats);
    expect([all.sent, all.ok, all.latency.count]).toEqual([10, 10, 10]);
    expect(progressLine('baseline', 1, result.stats, 0)).toMatch(/^baseline 1\.0s · sent 10 · in flight 0 · ok 100\.0%/);
    expect(successRate({ ok: 0, sent: 0, dropped: 0 })).toBeUndefined();
  });
});
