import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { Counter, Gauge } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HttpMetrics } from '../../apps/kit/metrics.js';
import { inPodHttpScript } from '../../chaos/cluster/kube.js';
import { counterDeltas, gaugeTotals, phaseDeltas, type Snapshot } from '../../chaos/metrics/collector.js';
import { clusterStat, isOutboundCluster, parseEnvoyStats, parsePrometheusText, sumSamples } from '../../chaos/metrics/parse.js';
import { envoyStatsCollector, prometheusCollector, serviceMetricsCollector } from '../../chaos/metrics/sources.js';

/** The /metrics text of a service instance, made by the kit's own HttpMetrics plus the outbox and consumer metric names. */
async function serviceMetricsText(requests: [method: string, route: string, status: number][], unsent = 0): Promise<string> {
  const metrics = new HttpMetrics('payment', { defaultMetrics: false });
  for (const [method, route, status] of requests) metrics.observe(method, route, status, 0.01);
  new Counter({ name: 'outbox_events_published_total', help: 'x', registers: [metrics.registry] }).inc(4);
  const consumed = new Counter({ name: 'events_consumed_total', help: 'x', labelNames: ['outcome'], registers: [metrics.registry] });
  consumed.inc({ outcome: 'processed' }, 5);
  consumed.inc({ outcome: 'duplicate' }, 2);
  new Gauge({ name: 'outbox_unsent_events', help: 'x', registers: [metrics.registry] }).set(unsent);
  return metrics.registry.metrics();
}

const envoyText = (retries: number, ejections: number, ejectedNow = 0) => `cluster.outbound|8080|v1|payment.shop.svc.cluster.local.upstream_rq_retry: ${retries}
cluster.outbound|8080||payment.shop.svc.cluster.local.upstream_rq_retry: 1
cluster.outbound|8080|v1|payment.shop.svc.cluster.local.outlier_detection.ejections_enforced_total: ${ejections}
cluster.outbound|8080|v1|payment.shop.svc.cluster.local.outlier_detection.ejections_active: ${ejectedNow}
cluster.outbound|8080|v1|payment.shop.svc.cluster.local.upstream_rq_pending_overflow: 0
cluster.outbound|8080|v1|payment.shop.svc.cluster.local.upstream_rq_time: P0(nan,1.0) P25(nan,2.05) P50(nan,3.0)
cluster.outbound|8080|v1|product.shop.svc.cluster.local.upstream_rq_retry: 99
cluster.outbound|9090|v1|payment.shop.svc.cluster.local.upstream_rq_retry: 50
cluster.inbound|8080||.upstream_rq_retry: 7
http.inbound_0.0.0.0_8080.downstream_rq_total: 42
server.uptime: 1234
`;

describe('parsing', () => {
  it('reads the Prometheus text prom-client serves, labels included', async () => {
    const samples = parsePrometheusText(
      await serviceMetricsText([
        ['POST', '/charges', 201],
        ['POST', '/charges', 503],
        ['POST', '/charges', 503],
        ['GET', '/charges/{id}', 200],
      ]),
    );
    expect(sumSamples(samples, 'http_requests_total')).toBe(4);
    expect(sumSamples(samples, 'http_requests_total', { status: '503' })).toBe(2);
    expect(sumSamples(samples, 'http_requests_total', { status: /^2/, route: '/charges' })).toBe(1);
    expect(sumSamples(samples, 'http_request_duration_seconds_count', { service: 'payment' })).toBe(4);
  });

  it('understands escaped label values, +Inf, NaN and timestamps, and names a line that is not a sample', () => {
    const samples = parsePrometheusText('# HELP x y\nm{a="q\\"uote",b="back\\\\slash"} 3 1700000000000\nm{le="+Inf"} +Inf\nn NaN\n\n');
    expect(samples[0]).toEqual({ name: 'm', labels: { a: 'q"uote', b: 'back\\slash' }, value: 3 });
    expect(samples[1]!.value).toBe(Number.POSITIVE_INFINITY);
    expect(Number.isNaN(samples[2]!.value)).toBe(true);
    expect(sumSamples(samples, 'm')).toBe(3);
    expect(() => parsePrometheusText('ok 1\nthis is not a sample\n')).toThrow('line 2 is not a Prometheus sample: this is not a sample');
  });

  it('reads Envoy admin stats, skipping histograms, and sums one statistic over the subsets of one mesh host and port', () => {
    const stats = parseEnvoyStats(envoyText(12, 2));
    expect(stats.get('server.uptime')).toBe(1234);
    expect(stats.has('cluster.outbound|8080|v1|payment.shop.svc.cluster.local.upstream_rq_time')).toBe(false);
    expect(clusterStat(stats, 'payment.shop.svc.cluster.local', 8080, 'upstream_rq_retry')).toBe(13);
    expect(clusterStat(stats, 'payment.shop.svc.cluster.local', 9090, 'upstream_rq_retry')).toBe(50);
    expect(clusterStat(stats, 'payment.shop.svc.cluster.local', 8080, 'outlier_detection.ejections_enforced_total')).toBe(2);
    expect(isOutboundCluster('outbound|8080|v1|payment.shop.svc.cluster.local', 'payment.shop.svc.cluster.local', 8080)).toBe(true);
    expect(isOutboundCluster('inbound|8080||', 'payment.shop.svc.cluster.local', 8080)).toBe(false);
  });

  it("reads the stat names Istio's bootstrap delimits with ';' (a sidecar's admin /stats: `<cluster>;.<stat>`)", () => {
    const stats = parseEnvoyStats(
      'cluster.outbound|8080||payment.shop.svc.cluster.local;.upstream_rq_retry: 4\ncluster.outbound|8080|v1|payment.shop.svc.cluster.local;.upstream_rq_retry: 3\n',
    );
    expect(clusterStat(stats, 'payment.shop.svc.cluster.local', 8080, 'upstream_rq_retry')).toBe(7);
  });
});

describe('counter deltas', () => {
  const reading = (counters: Record<string, number>, gauges: Record<string, number> = {}) => ({ counters, gauges });

  it('sum the growth of each source', () => {
    const before: Snapshot = { a: reading({ x: 10 }), b: reading({ x: 5 }) };
    const after: Snapshot = { a: reading({ x: 14 }), b: reading({ x: 6 }) };
    expect(counterDeltas(before, after)).toEqual({ x: 5 });
  });

  it('count a restarted source (its counter went down) from zero, and a new source in full', () => {
    const before: Snapshot = { 'payment-a': reading({ x: 100 }) };
    const after: Snapshot = { 'payment-a': reading({ x: 3 }), 'payment-b': reading({ x: 7 }) };
    expect(counterDeltas(before, after)).toEqual({ x: 10 });
  });

  it('drop a source that disappeared, and total the gauges', () => {
    const before: Snapshot = { a: reading({ x: 1 }), gone: reading({ x: 50 }) };
    const after: Snapshot = { a: reading({ x: 2 }, { unsent: 3 }) };
    expect(counterDeltas(before, after)).toEqual({ x: 1 });
    expect(gaugeTotals({ a: reading({}, { unsent: 3 }), b: reading({}, { unsent: 4 }) })).toEqual({ unsent: 7 });
  });

  it('give no delta for a phase whose boundary reading failed', () => {
    const series = { collector: 'c', snapshots: [{ a: reading({ x: 1 }) }, undefined, { a: reading({ x: 9 }) }], errors: [] };
    expect(phaseDeltas(series, 0)).toBeUndefined();
    expect(phaseDeltas(series, 1)).toBeUndefined();
  });
});

describe('collectors', () => {
  it("read a service's RED metrics and worker counters per instance", async () => {
    const texts = [await serviceMetricsText([['POST', '/charges', 503]], 2), await serviceMetricsText([['POST', '/charges', 201]], 1)];
    const collector = serviceMetricsCollector('payment', async () => texts.map((text, i) => ({ source: `payment-${i}`, read: async () => text })));
    const snapshot = await collector.snapshot(Date.now());
    expect(Object.keys(snapshot)).toEqual(['payment-0', 'payment-1']);
    expect(snapshot['payment-0']).toEqual({
      counters: {
        'payment.requests': 1,
        'payment.5xx': 1,
        'payment.503': 1,
        'payment.outbox_published': 4,
        'payment.events_processed': 5,
        'payment.events_duplicate': 2,
        'payment.events_dead-lettered': 0,
      },
      gauges: { 'payment.outbox_unsent': 2 },
    });
    expect(gaugeTotals(snapshot)).toEqual({ 'payment.outbox_unsent': 3 });
  });

  it('leave out an instance that does not answer, and fail only when none does', async () => {
    const ok = await serviceMetricsText([]);
    const collector = serviceMetricsCollector('payment', async () => [
      { source: 'up', read: async () => ok },
      { source: 'down', read: () => Promise.reject(new Error('connection refused')) },
    ]);
    expect(Object.keys(await collector.snapshot(0))).toEqual(['up']);
    const dead = serviceMetricsCollector('payment', async () => [{ source: 'down', read: () => Promise.reject(new Error('connection refused')) }]);
    await expect(dead.snapshot(0)).rejects.toThrow('no source answered: down: connection refused');
  });

  it('read retries, ejections and ejections in force from each proxy’s Envoy stats', async () => {
    const asked: string[] = [];
    const collector = envoyStatsCollector({
      name: 'order sidecars → payment',
      upstream: { host: 'payment.shop.svc.cluster.local', port: 8080 },
      proxies: async () => ['shop/order-a', 'shop/order-b'],
      stats: async (pod) => {
        asked.push(pod);
        return pod.endsWith('a') ? envoyText(10, 1, 1) : envoyText(4, 0);
      },
    });
    const snapshot = await collector.snapshot(0);
    expect(asked).toEqual(['shop/order-a', 'shop/order-b']);
    expect(snapshot['shop/order-a']!.counters).toMatchObject({ 'envoy.retries': 11, 'envoy.ejections': 1, 'envoy.pending_overflow': 0 });
    expect(gaugeTotals(snapshot)).toEqual({ 'envoy.ejected_now': 1 });
    expect(counterDeltas(snapshot, { ...snapshot, 'shop/order-b': { counters: { 'envoy.retries': 9 }, gauges: {} } })['envoy.retries']).toBe(4);
  });

  it('query Prometheus for istio_requests_total at a given time and split it by code and flags', async () => {
    const urls: URL[] = [];
    const fakeFetch = (async (input: string | URL) => {
      urls.push(new URL(String(input)));
      return new Response(
        JSON.stringify({
          status: 'success',
          data: {
            resultType: 'vector',
            result: [
              { metric: { response_code: '200', response_flags: '-' }, value: [1, '120'] },
              { metric: { response_code: '503', response_flags: 'UO' }, value: [1, '30'] },
            ],
          },
        }),
      );
    }) as typeof fetch;
    const collector = prometheusCollector({
      baseUrl: async () => 'http://127.0.0.1:9999',
      destinationService: 'product',
      sourceWorkload: 'istio-ingressgateway',
      fetch: fakeFetch,
    });
    expect(collector.lagMs).toBe(20_000);
    const snapshot = await collector.snapshot(1_700_000_000_500);
    expect(snapshot.prometheus!.counters).toEqual({
      'istio.requests': 150,
      'istio.code.200': 120,
      'istio.code.503': 30,
      'istio.flags.-': 120,
      'istio.flags.UO': 30,
    });
    expect(urls[0]!.pathname).toBe('/api/v1/query');
    expect(urls[0]!.searchParams.get('time')).toBe('1700000000.500');
    expect(urls[0]!.searchParams.get('query')).toBe(
      'sum by (response_code, response_flags) (istio_requests_total{reporter="source",destination_service_name="product",source_workload="istio-ingressgateway"})',
    );
    const failing = prometheusCollector({
      baseUrl: async () => 'http://127.0.0.1:9999',
      destinationService: 'product',
      fetch: (async () => new Response(JSON.stringify({ status: 'error', error: 'parse error' }), { status: 400 })) as typeof fetch,
    });
    await expect(failing.snapshot(0)).rejects.toThrow('Prometheus query failed: parse error');
  });
});

describe('the in-pod HTTP one-liner (run by kubectl exec in a service container)', () => {
  it('is valid Node that sends the method, URL and JSON body, prints the answer, and fails on a non-2xx', async () => {
    const seen: { method?: string; body: string; type?: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method, body, type: req.headers['content-type'] });
        res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'application/json' }).end('{"failRate":0.5,"latencyMs":0}');
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const run = promisify(execFile);
      const { stdout } = await run(process.execPath, ['-e', inPodHttpScript, 'POST', `${base}/admin/chaos`, '{"failRate":0.5}']);
      expect(stdout).toBe('{"failRate":0.5,"latencyMs":0}');
      expect(seen[0]).toEqual({ method: 'POST', body: '{"failRate":0.5}', type: 'application/json' });
      await run(process.execPath, ['-e', inPodHttpScript, 'DELETE', `${base}/admin/chaos`]);
      expect(seen[1]).toEqual({ method: 'DELETE', body: '', type: undefined });
      await expect(run(process.execPath, ['-e', inPodHttpScript, 'GET', `${base}/missing`])).rejects.toMatchObject({
        code: 1,
        stderr: expect.stringContaining('HTTP 404'),
      });
    } finally {
      server.close();
    }
  });
});
