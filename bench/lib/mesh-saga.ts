/**
 * The "Order saga through the mesh" part of bench/RESULTS.md, from the section bench/mesh-saga.ts
 * wrote, beside the same saga without a mesh from the services section (bench/services.ts).
 */
import { services as shopServices } from '../../contract/index.js';
import { formatLoad, type LoadSample } from './machine.js';
import type { Section } from './results.js';

interface Run {
  readonly offeredRps: number;
  readonly sent: number;
  readonly completed: number;
  readonly failed: number;
  readonly statuses: Record<string, number>;
  readonly rps: number;
  readonly latency: { readonly p50Ms: number; readonly p90Ms: number; readonly p99Ms: number };
  readonly load: LoadSample;
  readonly loadAfter: LoadSample;
  readonly cpuMsPerOrder: Record<string, number>;
  readonly marginalCpuMsPerOrder: Record<string, number>;
}

const services: readonly string[] = shopServices.map((s) => s.name);
/** bench/mesh-saga.ts's group for its own process: the load generator and local/mesh's node controllers (kubelet, probes, EndpointSlices, kube-proxy, DNS). */
export const benchProcess = 'bench process (load generator, node controllers)';

/** Which row of the CPU table a `<workload>/<role>` group belongs to. */
export function cpuCategory(group: string): string {
  const [workload = group, role] = group.split('/');
  if (role === undefined) return group;
  if (workload === 'istio-ingressgateway') return role === 'envoy' ? 'ingress gateway Envoy' : 'ingress gateway pilot-agent';
  if (role === 'envoy') return 'sidecar Envoys (services and databases)';
  if (role === 'pilot-agent') return 'sidecar pilot-agents';
  if (services.includes(workload)) return 'the five services (apps)';
  if (workload.endsWith('-db')) return 'PostgreSQL (4 pods)';
  return `${workload} (app)`;
}

/** CPU ms per order summed by category, in the order the table shows them. */
export function byCategory(cpuMsPerOrder: Record<string, number>): Map<string, number> {
  const sums = new Map<string, number>();
  for (const [group, ms] of Object.entries(cpuMsPerOrder)) {
    if (group === 'total') continue;
    const category = cpuCategory(group);
    sums.set(category, (sums.get(category) ?? 0) + ms);
  }
  return new Map([...sums.entries()].sort((a, b) => b[1] - a[1]));
}

const ms = (n: number | undefined) => (typeof n === 'number' && Number.isFinite(n) ? `${n.toFixed(n < 10 ? 1 : 0)} ms` : 'n/a');
const table = (head: string[], rows: (string | number)[][]) =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
const statuses = (s: Record<string, number>) =>
  Object.entries(s)
    .filter(([status]) => status !== '201')
    .map(([status, n]) => `${n}× ${status === '-1' ? 'no answer' : status}`)
    .join(', ') || 'none';

/** One row of the saga table: where it ran, the load offered, the run's figures, the load average. */
const runRow = (shop: string, offered: string, r: Run, load: string): string[] => [
  shop,
  offered,
  `${r.completed} of ${r.sent}`,
  statuses(r.statuses),
  ms(r.latency.p50Ms),
  ms(r.latency.p90Ms),
  ms(r.latency.p99Ms),
  ms(r.cpuMsPerOrder['total']),
  ms(r.marginalCpuMsPerOrder['total']),
  load,
];

/** The section's Markdown; `services` (bench/services.ts) gives the saga without a mesh when present. */
export function meshSagaDetails(s: Section, servicesSection: Section | undefined): string {
  const d = s.data as {
    date: string;
    seconds: number;
    warmupSeconds: number;
    shopReadySeconds: number;
    pods: number;
    notes: Record<string, string>;
    idleCpuMsPerSecond: Record<string, number>;
    runs: Run[];
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the services section's shape is bench/services.ts's
  const local = (servicesSection?.data as any)?.saga as Record<string, Run> | undefined;
  const localRows = local
    ? [
        ['one at a time', local.unloaded],
        ['25/s', local.at25],
      ]
        .filter((r): r is [string, Run] => r[1] !== undefined)
        .map(([label, r]) => runRow(`no mesh (bench:services, ${servicesSection!.startedAt.slice(0, 10)})`, label, r, formatLoad(r.load)))
    : [];
  const categories = [...new Set(d.runs.flatMap((r) => [...byCategory(r.cpuMsPerOrder).keys()]))];
  const proxyShare = d.runs.map((r) => {
    const cats = byCategory(r.cpuMsPerOrder);
    const proxies = [...cats.entries()].filter(([c]) => /Envoy|pilot-agent/.test(c)).reduce((sum, [, v]) => sum + v, 0);
    return Math.round((proxies / r.cpuMsPerOrder['total']!) * 100);
  });
  return [
    '### Order saga through the mesh (issue 14)',
    '',
    `Measured ${d.date} by \`${s.command}\`: the whole shop on a real Istio data plane (local/mesh \`startMeshShop\`, ${d.pods} pods, ready in ${d.shopReadySeconds} s), ` +
      `POST /orders sent to the ingress gateway at a fixed open-loop rate for ${d.seconds} s after ${d.warmupSeconds} s of warm-up. ${d.notes.path}. ${d.notes.order}. ` +
      `Latency ${d.notes.latency}. Everything (the load generator, ${d.pods} pods, their sidecars, istiod, the apiserver) shares 2 cores with other engineers' work: the load average is in each row.`,
    '',
    table(
      ['shop', 'offered', 'confirmed (201)', 'not confirmed', 'p50', 'p90', 'p99', 'CPU per order', 'above idle', 'load 1/5/15 min (start → end)'],
      [...d.runs.map((r) => runRow('mesh (gateway + sidecars)', `${r.offeredRps}/s`, r, `${formatLoad(r.load)} → ${formatLoad(r.loadAfter)}`)), ...localRows],
    ),
    '',
    'CPU per order by process (utime + stime of every process of each pod from /proc, children included, over the window, warm-up included, divided by the orders sent):',
    '',
    table(
      ['processes', ...d.runs.map((r) => `${r.offeredRps}/s`)],
      [
        ...categories.map((c) => [c, ...d.runs.map((r) => ms(byCategory(r.cpuMsPerOrder).get(c)))]),
        ['total', ...d.runs.map((r) => ms(r.cpuMsPerOrder['total']))],
        ['total of the shop (without the bench process)', ...d.runs.map((r) => ms(r.cpuMsPerOrder['total']! - (r.cpuMsPerOrder[benchProcess] ?? 0)))],
        ['share of Envoy + pilot-agent', ...proxyShare.map((p) => `${p}%`)],
      ],
    ),
    '',
    `The Kafka broker is the Strimzi cluster's pod (its \`strimzi.io/cluster\` label, \`meshkit\`). The bench process also runs what a cluster's kubelet, kube-proxy and DNS would (local/mesh's controllers, probing every pod): ` +
      `idle, the shop burnt ${ms(d.idleCpuMsPerSecond['total'])} of CPU per second, ${ms(d.idleCpuMsPerSecond[benchProcess])} of it in the bench process, so CPU per order falls as the rate rises (the idle cost is shared by more orders) and "above idle" subtracts it, with the noise of a 5 s idle sample on a loaded machine.`,
    '',
    'The no-mesh rows are the same saga sent straight to the order service (no gateway, no JWT, no sidecar, one process per service) from another run (its date in the row), for scale only: ' +
      'the mesh run also has the shop at its synthesized replica counts, the gateway and istiod on the same two cores.',
  ].join('\n');
}
