/**
 * The platform model with N extra services: each a copy of `product` (same
 * routes, replicas, own PostgreSQL, exposed at the edge) that `order` calls, so
 * it adds what a real service adds: Deployment, Service, ServiceAccount, PDB,
 * database, VirtualService, DestinationRule, edge routes, one more call-graph
 * edge in the AuthorizationPolicies and NetworkPolicies. The model's arrays are
 * extended in place, so the real ShopChart code synthesizes them.
 *
 * As a script: `tsx bench/synth/extra-services.ts <N>` synthesizes once to
 * $CDK8S_OUTDIR and prints {"extra":N,"objects":…,"ms":…} (build + synth only).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { callGraph, services, type CallEdge, type ServiceSpec } from '../../charts/platform.js';
import { buildPlatform } from '../../charts/platform-app.js';

const base = services.find((s) => s.name === 'product')!;
const baseEdge = callGraph.find((e) => e.from === 'order' && e.to === 'product')!;

/** Builds and synthesizes the platform with `extra` more services; returns the milliseconds of build + synth. */
export function synthWithExtraServices(extra: number, outdir: string): { ms: number; objects: number } {
  const model = services as ServiceSpec[];
  const edges = callGraph as CallEdge[];
  const added: ServiceSpec[] = Array.from({ length: extra }, (_, i) => ({ ...base, name: `extra${String(i + 1).padStart(3, '0')}` as ServiceSpec['name'] }));
  model.push(...added);
  edges.push(...added.map((s) => ({ ...baseEdge, to: s.name })));
  try {
    const began = performance.now();
    const { app } = buildPlatform({ outdir });
    app.synth();
    const ms = performance.now() - began;
    const objects = readdirSync(outdir)
      .filter((f) => f.endsWith('.yaml'))
      .reduce((n, f) => n + readFileSync(`${outdir}/${f}`, 'utf8').split(/^---$/m).length, 0);
    return { ms, objects };
  } finally {
    model.splice(model.length - extra, extra);
    edges.splice(edges.length - extra, extra);
  }
}

/** In one warm process: each N `reps` times after one unmeasured round; milliseconds of build + synth per run. */
export function sweep(
  counts: readonly number[],
  reps: number,
  outdirOf: (extra: number, rep: number) => string,
): Array<{ extra: number; ms: number[]; objects: number }> {
  for (const extra of counts) synthWithExtraServices(extra, outdirOf(extra, -1));
  const out = counts.map((extra) => ({ extra, ms: [] as number[], objects: 0 }));
  for (let rep = 0; rep < reps; rep += 1) {
    for (const row of out) {
      const { ms, objects } = synthWithExtraServices(row.extra, outdirOf(row.extra, rep));
      row.ms.push(Math.round(ms * 10) / 10);
      row.objects = objects;
    }
  }
  return out;
}

if (process.argv[1]?.includes('extra-services') && process.argv[2] === 'sweep') {
  const outdir = process.env.CDK8S_OUTDIR;
  const counts = (process.argv[3] ?? '0,5,10,20,40').split(',').map(Number);
  const reps = Number(process.argv[4] ?? '5');
  if (!outdir || counts.some((n) => !Number.isInteger(n) || n < 0 || n > 500) || !(reps >= 1 && reps <= 50)) {
    console.error('usage: CDK8S_OUTDIR=<dir> tsx bench/synth/extra-services.ts sweep <N,N,...> <reps>');
    process.exit(2);
  }
  console.log(JSON.stringify(sweep(counts, reps, (extra, rep) => `${outdir}/n${extra}-r${rep}`)));
} else if (process.argv[1]?.includes('extra-services')) {
  const extra = Number(process.argv[2] ?? '0');
  const outdir = process.env.CDK8S_OUTDIR;
  if (!Number.isInteger(extra) || extra < 0 || extra > 500 || !outdir) {
    console.error('usage: CDK8S_OUTDIR=<dir> tsx bench/synth/extra-services.ts <N (0-500)>');
    process.exit(2);
  }
  const { ms, objects } = synthWithExtraServices(extra, outdir);
  console.log(JSON.stringify({ extra, objects, ms: Math.round(ms * 10) / 10 }));
}
