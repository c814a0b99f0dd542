import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

type Labels = { readonly method: string; readonly route: string; readonly status: string };

/** One label set of the public API's RED metrics and the requests counted under it since start. */
interface Series {
  readonly labels: Labels;
  count: number;
}

/**
 * RED metrics of the public API. One registry per service instance (not the
 * prom-client global) so several services can run in one test process.
 * `route` is the path template (`/orders/{id}`), never the raw path, to keep
 * the label set bounded; requests matching no route are counted as `unmatched`.
 *
 * Each request costs one histogram observation and one count here; http_requests_total is
 * written from those counts when it is scraped. prom-client's Counter.inc checks, converts and
 * hashes the labels on every call, as Histogram.observe does again: the two were a microsecond
 * per request (bench/servers/micro.ts). The label objects are built once per label set, so a
 * request allocates none.
 */
export class HttpMetrics {
  readonly registry = new Registry();
  private readonly duration: Histogram<'method' | 'route' | 'status'>;
  /** method → route → status → series; the same bound as the label set itself. */
  private readonly series = new Map<string, Map<string, Map<number, Series>>>();

  constructor(service: string, { defaultMetrics = true } = {}) {
    this.registry.setDefaultLabels({ service });
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry });
    const series = this.series;
    new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests served on the public port, by method, route template and status',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
      // Synchronous, so two scrapes at once cannot interleave the reset and the counts.
      collect(this: Counter<'method' | 'route' | 'status'>) {
        this.reset();
        for (const byRoute of series.values()) for (const byStatus of byRoute.values()) for (const s of byStatus.values()) this.inc(s.labels, s.count);
      },
    });
    this.duration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time to serve HTTP requests on the public port, by method, route template and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
  }

  observe(method: string, route: string, status: number, seconds: number): void {
    const s = this.seriesOf(method, route, status);
    s.count += 1;
    this.duration.observe(s.labels, seconds);
  }

  private seriesOf(method: string, route: string, status: number): Series {
    let byRoute = this.series.get(method);
    if (!byRoute) this.series.set(method, (byRoute = new Map()));
    let byStatus = byRoute.get(route);
    if (!byStatus) byRoute.set(route, (byStatus = new Map()));
    let s = byStatus.get(status);
    if (!s) byStatus.set(status, (s = { labels: { method, route, status: String(status) }, count: 0 }));
    return s;
  }
}
