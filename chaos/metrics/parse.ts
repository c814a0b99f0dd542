/** One sample of the Prometheus text exposition format. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const unescape = (value: string) => value.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));

/**
 * Parses the Prometheus text format (what prom-client serves at /metrics): comments and
 * blank lines skipped, label values unescaped, `+Inf`/`-Inf`/`NaN` understood, an
 * optional timestamp ignored. A line that is not a sample throws, naming the line.
 */
export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[^"}]|"(?:[^"\\]|\\.)*")*)\})?\s+(\S+)(\s+-?\d+)?$/.exec(line);
    if (!m) throw new Error(`line ${i + 1} is not a Prometheus sample: ${line.slice(0, 120)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = unescape(l[2]!);
    const raw = m[4]!;
    const value = raw === '+Inf' ? Number.POSITIVE_INFINITY : raw === '-Inf' ? Number.NEGATIVE_INFINITY : Number(raw);
    if (Number.isNaN(value) && raw !== 'NaN') throw new Error(`line ${i + 1}: '${raw}' is not a number`);
    samples.push({ name: m[1]!, labels, value });
  }
  return samples;
}

/** Sum of the samples named `name` whose labels include every label of `match` (a value may be a RegExp). */
export function sumSamples(samples: readonly Sample[], name: string, match: Readonly<Record<string, string | RegExp>> = {}): number {
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    const fits = Object.entries(match).every(([k, v]) => (typeof v === 'string' ? s.labels[k] === v : v.test(s.labels[k] ?? '')));
    if (fits && Number.isFinite(s.value)) sum += s.value;
  }
  return sum;
}

/**
 * Parses Envoy's admin `/stats` text (`name: value` per line, what
 * `pilot-agent request GET stats` prints). Counters and gauges become numbers;
 * histogram summaries (`P0(...)`) and other non-numeric lines are skipped.
 */
export function parseEnvoyStats(text: string): Map<string, number> {
  const stats = new Map<string, number>();
  for (const line of text.split('\n')) {
    const i = line.lastIndexOf(': ');
    if (i <= 0) continue;
    const raw = line.slice(i + 2).trim();
    if (!/^-?\d+(\.\d+)?$/.test(raw)) continue;
    stats.set(line.slice(0, i).trim(), Number(raw));
  }
  return stats;
}

/** Envoy's name for the outbound cluster of a mesh host, without or with a subset: `outbound|8080|v1|payment.shop.svc.cluster.local`. */
export function isOutboundCluster(cluster: string, host: string, port: number): boolean {
  const parts = cluster.split('|');
  return parts.length === 4 && parts[0] === 'outbound' && parts[1] === String(port) && parts[3] === host;
}

/**
 * Sums one cluster statistic (`upstream_rq_retry`, `outlier_detection.ejections_enforced_total`...)
 * over every outbound cluster of `host:port` (Istio makes one per subset plus one without).
 */
export function clusterStat(stats: ReadonlyMap<string, number>, host: string, port: number, stat: string): number {
  let sum = 0;
  const suffix = `.${stat}`;
  for (const [name, value] of stats) {
    if (!name.startsWith('cluster.outbound|') || !name.endsWith(suffix)) continue;
    // Istio's bootstrap ends the cluster name with ';' (its delimited stats-tag regex): `cluster.outbound|8080||payment.shop.svc.cluster.local;.upstream_rq_retry`.
    const cluster = name.slice('cluster.'.length, name.length - suffix.length).replace(/;$/, '');
    if (isOutboundCluster(cluster, host, port)) sum += value;
  }
  return sum;
}
