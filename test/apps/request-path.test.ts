import { once } from 'node:events';
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type DestinationStream } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  compileValidator,
  contextFromHeaders,
  createHttpApp,
  createLogger,
  currentContext,
  defineRoute,
  HttpMetrics,
  runWithContext,
} from '../../apps/kit/index.js';
import { isoTimeField } from '../../apps/kit/logger.js';
import { product } from '../../contract/services.js';

// What every request pays for: the access-log line, RED metrics and validation's storability
// check. Each was rewritten for speed (issue 17); these pin what they write.

/** A pino destination that keeps each line parsed. */
function capture(): DestinationStream & { lines: Record<string, unknown>[]; raw: string[] } {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  return {
    lines,
    raw,
    write(line: string) {
      raw.push(line);
      lines.push(JSON.parse(line) as Record<string, unknown>);
    },
  };
}

describe('the log timestamp', () => {
  afterEach(() => vi.useRealTimers());

  it('writes exactly what pino.stdTimeFunctions.isoTime writes, across milliseconds, seconds and days', () => {
    vi.useFakeTimers();
    const field = isoTimeField();
    const instants = [
      Date.UTC(2026, 11, 3, 6, 8, 51, 0),
      Date.UTC(2026, 11, 3, 6, 8, 51, 7),
      Date.UTC(2026, 11, 3, 6, 8, 51, 42),
      Date.UTC(2026, 11, 3, 6, 8, 51, 999),
      Date.UTC(2026, 11, 3, 6, 8, 52, 0),
      Date.UTC(2026, 11, 3, 23, 59, 59, 999),
      Date.UTC(2026, 11, 4, 0, 0, 0, 1),
      Date.UTC(2026, 11, 3, 6, 8, 51, 300), // back in time (the clock was set back)
    ];
    for (const t of instants) {
      vi.setSystemTime(t);
      expect(field()).toBe(pino.stdTimeFunctions.isoTime());
    }
  });
});

describe('the logger', () => {
  it('adds the request and trace ids of the async context to a line, and writes a line that names both itself as given', () => {
    const out = capture();
    const logger = createLogger('probe', 'info', out);
    const ctx = contextFromHeaders({ 'x-request-id': 'req-1', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
    runWithContext(ctx, () => {
      logger.info({ orderId: 'o-1' }, 'from a handler');
      logger.info({ requestId: 'req-2', traceId: undefined, route: '/x' }, 'names both ids');
    });
    logger.info('outside any request');
    expect(out.lines[0]).toMatchObject({ requestId: 'req-1', traceId: '4bf92f3577b34da6a3ce929d0e0e4736', orderId: 'o-1', message: 'from a handler' });
    expect(out.lines[1]).toMatchObject({ requestId: 'req-2', route: '/x' });
    expect(out.lines[1]).not.toHaveProperty('traceId');
    expect(out.lines[2]).not.toHaveProperty('requestId');
    expect(Object.keys(out.lines[0]!).slice(0, 6)).toEqual(['level', 'time', 'service', 'requestId', 'traceId', 'orderId']);
  });
});

describe('RED metrics', () => {
  it('counts http_requests_total as the histogram counts, per label set, however often it is scraped at once', async () => {
    const metrics = new HttpMetrics('probe', { defaultMetrics: false });
    for (let i = 0; i < 3; i++) metrics.observe('GET', '/products/{id}', 200, 0.002);
    metrics.observe('GET', '/products/{id}', 404, 0.001);
    metrics.observe('POST', '/orders', 503, 0.2);
    const scrapes = await Promise.all([metrics.registry.metrics(), metrics.registry.metrics(), metrics.registry.metrics()]);
    for (const text of scrapes) {
      expect(text).toContain('http_requests_total{method="GET",route="/products/{id}",status="200",service="probe"} 3');
      expect(text).toContain('http_requests_total{method="GET",route="/products/{id}",status="404",service="probe"} 1');
      expect(text).toContain('http_requests_total{method="POST",route="/orders",status="503",service="probe"} 1');
      expect(text).toContain('http_request_duration_seconds_count{service="probe",method="GET",route="/products/{id}",status="200"} 3');
      expect(text).toContain('http_request_duration_seconds_bucket{le="0.25",service="probe",method="POST",route="/orders",status="503"} 1');
      expect(text).toContain('http_request_duration_seconds_bucket{le="0.1",service="probe",method="POST",route="/orders",status="503"} 0');
    }
    metrics.observe('GET', '/products/{id}', 200, 0.002);
    expect(await metrics.registry.metrics()).toContain('http_requests_total{method="GET",route="/products/{id}",status="200",service="probe"} 4');
  });
});

describe('what the database cannot store', () => {
  const validate = compileValidator({ type: 'object' }, 'body');

  it('names each member by its JSON pointer, escaping ~ and / in names', () => {
    const violations = validate({
      ok: 'text',
      n: 1.5,
      nested: { 'a/b~c': ['fine', 'nul\u0000', { deep: 'lone \ud800 high' }] },
      ['bad\u0000key']: 1,
      list: [1, 2, 'x'],
    });
    expect(violations).toEqual([
      { path: 'body/nested/a~1b~0c/1', message: expect.stringContaining('NUL') },
      { path: 'body/nested/a~1b~0c/2/deep', message: expect.stringContaining('surrogate') },
      { path: 'body/bad\u0000key', message: expect.stringContaining('cannot store') },
    ]);
  });

  it('refuses a non-finite number, a lone low surrogate and a name with a lone surrogate, and lets paired surrogates through', () => {
    const query = compileValidator({ type: 'object', properties: { limit: { type: 'number' } } }, 'query');
    expect(query({ limit: 'Infinity' })).toEqual([{ path: 'query/limit', message: 'must be a finite number' }]);
    expect(validate({ emoji: '\ud83d\ude00', low: '\ude00x' })).toEqual([{ path: 'body/low', message: expect.stringContaining('surrogate') }]);
    expect(validate({ ['k\udc00']: 'v' })).toEqual([{ path: 'body/k\udc00', message: expect.stringContaining('cannot store') }]);
    expect(compileValidator({ type: 'string' }, 'params')('a\u0000')).toEqual([{ path: 'params', message: expect.stringContaining('NUL') }]);
    expect(validate({ a: [[null, true, { b: null }]] })).toEqual([]);
  });
});

describe('every request, when it ends', () => {
  const out = capture();
  const metrics = new HttpMetrics('probe', { defaultMetrics: false });
  let server: Server;
  let port: number;
  let release: () => void = () => undefined;

  beforeAll(async () => {
    const routes = [
      defineRoute(product.routes.get, {
        handle: async ({ params }) => {
          createLogger('probe', 'info', out).info({ seen: (params as { id: string }).id, inContext: currentContext()?.requestId }, 'handler');
          if ((params as { id: string }).id === 'slow') await new Promise<void>((resolve) => (release = resolve));
          return { body: { id: (params as { id: string }).id } };
        },
      }),
    ];
    server = createHttpApp({ routes, logger: createLogger('probe', 'info', out), metrics }).listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => server.close());

  const get = (path: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; requestId: string | undefined }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path, headers }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, requestId: res.headers['x-request-id'] as string | undefined }));
      });
      req.on('error', reject);
      req.end();
    });
  const accessLines = () => out.lines.filter((l) => l['message'] === 'request' || l['message'] === 'request failed');

  it('logs one access line with the route template, the status, the ids and the duration, and counts it', async () => {
    const answer = await get('/products/espresso', { 'x-request-id': 'abc-123', 'x-b3-traceid': '4bf92f3577b34da6' });
    expect(answer).toEqual({ status: 200, requestId: 'abc-123' });
    await vi.waitFor(() => expect(accessLines().length).toBe(1));
    const handlerLine = out.lines.find((l) => l['message'] === 'handler');
    expect(handlerLine).toMatchObject({ seen: 'espresso', inContext: 'abc-123', requestId: 'abc-123', traceId: '4bf92f3577b34da6' });
    const line = accessLines()[0]!;
    expect(line).toMatchObject({
      level: 'info',
      service: 'probe',
      requestId: 'abc-123',
      traceId: '4bf92f3577b34da6',
      method: 'GET',
      route: '/products/{id}',
      status: 200,
    });
    expect(line['durationMs']).toEqual(expect.any(Number));
    expect(line).not.toHaveProperty('code');
    const text = await metrics.registry.metrics();
    expect(text).toContain('http_requests_total{method="GET",route="/products/{id}",status="200",service="probe"} 1');
  });

  it('counts and logs an undeclared path as unmatched 404 with its error code, with a request id made up', async () => {
    const answer = await get('/nowhere');
    expect(answer.status).toBe(404);
    expect(answer.requestId).toMatch(/^[0-9a-f-]{36}$/);
    await vi.waitFor(() => expect(accessLines().some((l) => l['route'] === 'unmatched')).toBe(true));
    expect(accessLines().find((l) => l['route'] === 'unmatched')).toMatchObject({ status: 404, code: 'NOT_FOUND', requestId: answer.requestId });
    expect(await metrics.registry.metrics()).toContain('http_requests_total{method="GET",route="unmatched",status="404",service="probe"} 1');
  });

  it('counts a request whose client hung up before the answer as 499', async () => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/products/slow' });
    req.on('error', () => undefined);
    req.end();
    await vi.waitFor(() => expect(out.lines.some((l) => l['seen'] === 'slow')).toBe(true));
    req.destroy();
    await vi.waitFor(() => expect(accessLines().some((l) => l['status'] === 499)).toBe(true));
    release();
    expect(accessLines().find((l) => l['status'] === 499)).toMatchObject({ route: '/products/{id}', method: 'GET' });
    expect(await metrics.registry.metrics()).toContain('http_requests_total{method="GET",route="/products/{id}",status="499",service="probe"} 1');
  });
});
