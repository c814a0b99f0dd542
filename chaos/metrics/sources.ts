import type { MetricsCollector, Reading, Snapshot } from './collector.js';
import { clusterStat, parseEnvoyStats, parsePrometheusText, sumSamples } from './parse.js';

/** Something that serves a metrics text: a local process's admin port, a pod reached with kubectl exec. */
export interface MetricsEndpoint {
  /** Source name in snapshots (process or pod). */
  readonly source: string;
  read(): Promise<string>;
}

async function readAll(endpoints: readonly MetricsEndpoint[], toReading: (text: string) => Reading): Promise<Snapshot> {
  const snapshot: Record<string, Reading> = {};
  const results = await Promise.allSettled(endpoints.map(async (e) => [e.source, toReading(await e.read())] as const));
  const failures: string[] = [];
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') snapshot[r.value[0]] = r.value[1];
    else failures.push(`${endpoints[i]!.source}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`);
  });
  // A source that is down right now (a killed pod) is simply absent; if none answered, say why.
  if (endpoints.length > 0 && failures.length === endpoints.length) throw new Error(`no source answered: ${failures.join('; ')}`);
  return snapshot;
}

/**
 * The RED metrics and worker counters a service serves at /metrics (apps/kit/metrics.ts,
 * outbox.ts, consumer.ts), per process or pod:
 * `<service>.requests`, `<service>.5xx`, `<service>.503`, `<service>.outbox_published`,
 * `<service>.events_<outcome>` and the gauge `<service>.outbox_unsent`.
 */
export function serviceMetricsCollector(service: string, endpoints: () => Promise<readonly MetricsEndpoint[]>): MetricsCollector {
  return {
    name: `${service} /metrics`,
    lagMs: 0,
    snapshot: async () =>
      readAll(await endpoints(), (text) => {
        const samples = parsePrometheusText(text);
        const counters: Record<string, number> = {
          [`${service}.requests`]: sumSamples(samples, 'http_requests_total'),
          [`${service}.5xx`]: sumSamples(samples, 'http_requests_total', { status: /^5/ }),
          [`${service}.503`]: sumSamples(samples, 'http_requests_total', { status: '503' }),
          [`${service}.outbox_published`]: sumSamples(samples, 'outbox_events_published_total'),
        };
        for (const outcome of ['processed', 'duplicate', 'dead-lettered']) {
          counters[`${service}.events_${outcome}`] = sumSamples(samples, 'events_consumed_total', { outcome });
        }
        const unsent = samples.filter((s) => s.name === 'outbox_unsent_events');
        return { counters, gauges: unsent.length > 0 ? { [`${service}.outbox_unsent`]: sumSamples(samples, 'outbox_unsent_events') } : {} };
      }),
  };
}

/** Envoy cluster statistics the reports use, and their names in snapshots. */
export const envoyFigures = {
  'envoy.retries': 'upstream_rq_retry',
  'envoy.retry_overflow': 'upstream_rq_retry_overflow',
  'envoy.ejections': 'outlier_detection.ejections_enforced_total',
  'envoy.pending_overflow': 'upstream_rq_pending_overflow',
  'envoy.cx_overflow': 'upstream_cx_overflow',
  'envoy.per_try_timeouts': 'upstream_rq_per_try_timeout',
  'envoy.timeouts': 'upstream_rq_timeout',
  'envoy.upstream_5xx': 'upstream_rq_5xx',
} as const;

/**
 * Envoy's own statistics for calls from some proxies (the ingress gateway, or a service's
 * sidecars) to one mesh host: retries, ejections, circuit-breaker overflows, timeouts.
 * `stats(pod)` returns the admin `/stats` text (on kind: `kubectl exec <pod> -c istio-proxy --
 * pilot-agent request GET stats`). Ejections currently in force are the gauge `envoy.ejected_now`.
 */
export function envoyStatsCollector(options: {
  readonly name: string;
  readonly upstream: { readonly host: string; readonly port: number };
  readonly proxies: () => Promise<readonly string[]>;
  readonly stats: (pod: string) => Promise<string>;
}): MetricsCollector {
  const { host, port } = options.upstream;
  return {
    name: options.name,
    lagMs: 0,
    snapshot: async () =>
      readAll(
        (await options.proxies()).map((pod) => ({ source: pod, read: () => options.stats(pod) })),
        (text) => {
          const stats = parseEnvoyStats(text);
          const counters: Record<string, number> = {};
          for (const [figure, stat] of Object.entries(envoyFigures)) counters[figure] = clusterStat(stats, host, port, stat);
          return { counters, gauges: { 'envoy.ejected_now': clusterStat(stats, host, port, 'outlier_detection.ejections_active') } };
        },
      ),
  };
}

/** A Prometheus instant-query answer (the parts we read). */
interface QueryAnswer {
  status: string;
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

/**
 * Istio's standard request metric as Prometheus holds it, for requests to one service
 * reported by the calling proxy: `istio.requests`, `istio.code.<code>` and
 * `istio.flags.<flags>` (`UO` is an overflowed circuit breaker, `URX` retries exhausted,
 * `-` none). Prometheus scrapes every 15 s in Istio's sample add-on, so this source lags:
 * the runner reads it after the run for each boundary time (query `time=`).
 */
export function prometheusCollector(options: {
  /** Base URL of the Prometheus HTTP API (a port-forward on 127.0.0.1). */
  readonly baseUrl: () => Promise<string>;
  readonly destinationService: string;
  /** Only requests reported by this workload (the ingress gateway: `istio-ingressgateway`). @default - any source */
  readonly sourceWorkload?: string;
  readonly fetch?: typeof fetch;
  /** @default 20000 */
  readonly lagMs?: number;
}): MetricsCollector {
  const doFetch = options.fetch ?? fetch;
  const selector = [`reporter="source"`, `destination_service_name="${options.destinationService}"`];
  if (options.sourceWorkload) selector.push(`source_workload="${options.sourceWorkload}"`);
  const expr = `sum by (response_code, response_flags) (istio_requests_total{${selector.join(',')}})`;
  return {
    name: `Prometheus istio_requests_total → ${options.destinationService}`,
    lagMs: options.lagMs ?? 20_000,
    async snapshot(atMs) {
      const url = new URL('/api/v1/query', await options.baseUrl());
      url.searchParams.set('query', expr);
      url.searchParams.set('time', (atMs / 1000).toFixed(3));
      const res = await doFetch(url, { signal: AbortSignal.timeout(10_000) });
      const answer = (await res.json()) as QueryAnswer;
      if (answer.status !== 'success' || !answer.data) throw new Error(`Prometheus query failed: ${answer.error ?? `HTTP ${res.status}`}`);
      const counters: Record<string, number> = { 'istio.requests': 0 };
      for (const { metric, value } of answer.data.result) {
        const n = Number(value[1]);
        counters['istio.requests'] = (counters['istio.requests'] ?? 0) + n;
        const code = `istio.code.${metric.response_code ?? 'unknown'}`;
        counters[code] = (counters[code] ?? 0) + n;
        const flags = `istio.flags.${metric.response_flags ?? '-'}`;
        counters[flags] = (counters[flags] ?? 0) + n;
      }
      return { prometheus: { counters, gauges: {} } };
    },
  };
}
