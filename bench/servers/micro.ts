/**
 * Per-call cost of the kit's pieces that run on every request, in one process
 * (bundled and run by bench/services.ts): trace context from headers (with and
 * without incoming trace headers), entering the async context, a RED metrics
 * observation, and one access-log line (the kit's pino logger; run it with
 * stdout on /dev/null). Prints JSON with nanoseconds per call on stderr
 * (median of 5 rounds after a warm-up round).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { contextFromHeaders, createLogger, HttpMetrics, runWithContext } from '../../apps/kit/index.js';

const traced: IncomingHttpHeaders = {
  host: '127.0.0.1:8080',
  accept: 'application/json',
  'x-request-id': '6f1c0a52-8d4e-4a43-9b0e-2c5f1d7e9a10',
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  'x-b3-traceid': '4bf92f3577b34da6a3ce929d0e0e4736',
  'x-b3-spanid': '00f067aa0ba902b7',
  'x-b3-sampled': '1',
};
const plain: IncomingHttpHeaders = { host: '127.0.0.1:8080', accept: 'application/json' };

function nsPerCall(fn: (i: number) => unknown, calls: number): number {
  let sink: unknown;
  const rounds: number[] = [];
  for (let round = 0; round < 6; round += 1) {
    const began = process.hrtime.bigint();
    for (let i = 0; i < calls; i += 1) sink = fn(i);
    const ns = Number(process.hrtime.bigint() - began) / calls;
    if (round > 0) rounds.push(ns);
  }
  if (sink === Symbol.for('never')) console.log(sink);
  rounds.sort((a, b) => a - b);
  return Math.round(rounds[Math.floor(rounds.length / 2)]! * 10) / 10;
}

const metrics = new HttpMetrics('product');
const logger = createLogger('product', 'info');
const ctx = contextFromHeaders(traced);
const line = { requestId: ctx.requestId, traceId: ctx.traceId, method: 'GET', route: '/products/{id}', status: 200, durationMs: 1 };

const result = {
  contextFromTraceHeadersNs: nsPerCall(() => contextFromHeaders(traced), 200_000),
  contextWithoutTraceHeadersNs: nsPerCall(() => contextFromHeaders(plain), 200_000),
  runWithContextNs: nsPerCall(() => runWithContext(ctx, () => 1), 200_000),
  metricsObserveNs: nsPerCall((i) => metrics.observe('GET', '/products/{id}', 200, (i % 100) / 10_000), 200_000),
  accessLogLineNs: nsPerCall(() => runWithContext(ctx, () => logger.info(line, 'request')), 50_000),
};
process.stderr.write(`${JSON.stringify(result)}\n`);
