/**
 * Footprint: the resource requests of everything the platform synthesizes
 * (sidecars and the pods Strimzi creates included, as charts/resource-budget.ts
 * counts them) against the laptop budget of charts/platform.ts, and each
 * service container's request and memory limit, which RESULTS.md sets beside
 * the RSS measured under load (bench/services.ts, bench/pipeline.ts).
 *
 * Usage: tsx bench/footprint.ts
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { namespaces, resourceBudget, services } from '../charts/platform.js';
import { buildPlatform } from '../charts/platform-app.js';
import { budgetLines, parseCpuMillis, parseMemoryMiB, totalRequests } from '../charts/resource-budget.js';
import { parseObjects } from '../manifests/parse.js';
import { runScript, runSection } from './lib/results.js';

interface Container {
  name: string;
  resources?: { requests?: { cpu?: string; memory?: string }; limits?: { memory?: string } };
}

async function main(): Promise<void> {
  await runSection('footprint', 'npm run bench:footprint', async () => {
    const outdir = mkdtempSync(join(tmpdir(), 'meshkit-bench-footprint-'));
    try {
      buildPlatform({ outdir }).app.synth();
      const objects = readdirSync(outdir)
        .sort()
        .flatMap((file) => parseObjects(readFileSync(join(outdir, file), 'utf8'), file));
      const injected = objects.filter((o) => o.kind === 'Namespace' && o.metadata.labels?.['istio-injection'] === 'enabled').map((o) => o.metadata.name);
      const lines = budgetLines(objects, injected);
      const total = totalRequests(lines);
      const perService = Object.fromEntries(
        services.map((spec) => {
          const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === spec.name && o.metadata.namespace === namespaces.shop);
          const app: Container | undefined = deployment?.spec?.template?.spec?.containers?.[0];
          const annotations: Record<string, string> = deployment?.spec?.template?.metadata?.annotations ?? {};
          return [
            spec.name,
            {
              replicas: deployment?.spec?.replicas ?? 1,
              appCpuMillis: parseCpuMillis(app?.resources?.requests?.cpu),
              appMemoryRequestMiB: parseMemoryMiB(app?.resources?.requests?.memory),
              appMemoryLimitMiB: parseMemoryMiB(app?.resources?.limits?.memory),
              sidecarCpuMillis: parseCpuMillis(annotations['sidecar.istio.io/proxyCPU']),
              sidecarMemoryMiB: parseMemoryMiB(annotations['sidecar.istio.io/proxyMemory']),
            },
          ];
        }),
      );
      return {
        budget: resourceBudget,
        total: { cpuMillis: total.cpuMillis, memoryMiB: Math.round(total.memoryMiB) },
        shareOfBudget: {
          cpuPct: Math.round((total.cpuMillis / resourceBudget.cpuMillis) * 1000) / 10,
          memoryPct: Math.round((total.memoryMiB / resourceBudget.memoryMiB) * 1000) / 10,
        },
        lines: lines.map((l) => ({ what: l.what, cpuMillis: l.cpuMillis, memoryMiB: Math.round(l.memoryMiB) })),
        perService,
      };
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
}

runScript(main);
