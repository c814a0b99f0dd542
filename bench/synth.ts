/**
 * Synthesis: cold `npm run synth` of the whole platform against a minimal
 * cdk8s-plus chart (one Deployment + Service), each in a fresh Node process,
 * interleaved, several repetitions, medians; where the cold time goes; and the
 * cost of each added service (the platform model with N extra services, slope
 * of a least-squares fit), warm in one process and cold in fresh ones.
 *
 * Usage: tsx bench/synth.ts [--reps 7]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { linearFit, median } from './lib/stats.js';
import { loadNow, type LoadSample } from './lib/machine.js';
import { precompile } from './lib/precompile.js';
import { runTimed } from './lib/proc.js';
import { log, repoRoot, runScript, runSection } from './lib/results.js';

const tsx = join(repoRoot, 'node_modules', '.bin', 'tsx');
const TIMEOUT = 120_000;

interface Variant {
  readonly id: string;
  readonly what: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: Record<string, string>;
}

async function timeVariants(variants: readonly Variant[], reps: number, scratch: string) {
  const runs = new Map<string, { ms: number[]; load1: number[] }>(variants.map((v) => [v.id, { ms: [], load1: [] }]));
  for (let rep = 0; rep < reps; rep += 1) {
    for (const v of variants) {
      const outdir = join(scratch, `${v.id}-${rep}`);
      const load = loadNow();
      const run = await runTimed(v.command, v.args, { cwd: repoRoot, env: { ...process.env, ...v.env, CDK8S_OUTDIR: outdir }, timeoutMs: TIMEOUT });
      runs.get(v.id)!.ms.push(Math.round(run.ms));
      runs.get(v.id)!.load1.push(load.load1);
      rmSync(outdir, { recursive: true, force: true });
    }
    log('synth', `cold rep ${rep + 1}/${reps}: ${variants.map((v) => `${v.id} ${runs.get(v.id)!.ms[rep]} ms`).join(', ')}`);
  }
  return Object.fromEntries(
    variants.map((v) => {
      const r = runs.get(v.id)!;
      return [v.id, { what: v.what, command: [v.command, ...v.args].join(' ').replace(repoRoot + '/', ''), medianMs: median(r.ms), ms: r.ms, load1: r.load1 }];
    }),
  );
}

async function phases(entry: { id: string; command: string; args: string[]; env?: Record<string, string> }, reps: number, scratch: string) {
  const samples: Array<Record<string, number>> = [];
  const wall: number[] = [];
  for (let rep = 0; rep < reps; rep += 1) {
    const outdir = join(scratch, `phases-${entry.id}-${rep}`);
    const run = await runTimed(entry.command, entry.args, { cwd: repoRoot, env: { ...process.env, ...entry.env, CDK8S_OUTDIR: outdir }, timeoutMs: TIMEOUT });
    const line = run.stdout.trim().split('\n').pop() ?? '{}';
    samples.push((JSON.parse(line) as { phases: Record<string, number> }).phases);
    wall.push(Math.round(run.ms));
    rmSync(outdir, { recursive: true, force: true });
  }
  const names = Object.keys(samples[0] ?? {});
  const medians = Object.fromEntries(names.map((n) => [n, Math.round(median(samples.map((s) => s[n] ?? Number.NaN)))]));
  return { wallMedianMs: median(wall), phasesMedianMs: medians, reps };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { reps: { type: 'string', default: '7' } } });
  const reps = Math.min(30, Math.max(3, Number(values.reps)));
  await runSection('synth', `npm run bench:synth -- --reps ${reps}`, async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'meshkit-bench-synth-'));
    try {
      log('synth', 'precompiling the entry points with esbuild (packages stay in node_modules)');
      const pre = {
        platform: await precompile('charts/main.ts', 'synth-platform.mjs'),
        minimal: await precompile('bench/synth/minimal-chart.ts', 'synth-minimal.mjs'),
        phases: await precompile('bench/synth/phases.ts', 'synth-phases.mjs'),
        extra: await precompile('bench/synth/extra-services.ts', 'synth-extra-services.mjs'),
      };
      const noCache = { TSX_DISABLE_CACHE: '1' };
      const cold = await timeVariants(
        [
          { id: 'nodeBaseline', what: 'node -e 0 (an empty Node process)', command: process.execPath, args: ['-e', '0'] },
          { id: 'platformTsx', what: 'platform: tsx charts/main.ts (what npm run synth runs)', command: tsx, args: ['charts/main.ts'] },
          { id: 'minimalTsx', what: 'minimal chart: tsx bench/synth/minimal-chart.ts', command: tsx, args: ['bench/synth/minimal-chart.ts'] },
          { id: 'platformTsxNoCache', what: 'platform under tsx with its transform cache off', command: tsx, args: ['charts/main.ts'], env: noCache },
          {
            id: 'minimalTsxNoCache',
            what: 'minimal chart under tsx with its transform cache off',
            command: tsx,
            args: ['bench/synth/minimal-chart.ts'],
            env: noCache,
          },
          { id: 'platformPrecompiled', what: 'platform precompiled (esbuild) run by node', command: process.execPath, args: [pre.platform] },
          { id: 'minimalPrecompiled', what: 'minimal chart precompiled (esbuild) run by node', command: process.execPath, args: [pre.minimal] },
          { id: 'npmRunSynth', what: 'npm run synth (npm itself included)', command: 'npm', args: ['run', '--silent', 'synth'] },
        ],
        reps,
        scratch,
      );
      const ratio = (a: string, b: string) => Math.round(((cold[a]!.medianMs as number) / (cold[b]!.medianMs as number)) * 100) / 100;

      log('synth', 'phases of one cold run (3 runs each, medians)');
      const phaseReps = 3;
      const breakdown = {
        platformTsx: await phases({ id: 'pt', command: tsx, args: ['bench/synth/phases.ts', 'platform'] }, phaseReps, scratch),
        minimalTsx: await phases({ id: 'mt', command: tsx, args: ['bench/synth/phases.ts', 'minimal'] }, phaseReps, scratch),
        platformTsxNoCache: await phases({ id: 'pn', command: tsx, args: ['bench/synth/phases.ts', 'platform'], env: noCache }, phaseReps, scratch),
        platformPrecompiled: await phases({ id: 'pp', command: process.execPath, args: [pre.phases, 'platform'] }, phaseReps, scratch),
        minimalPrecompiled: await phases({ id: 'mp', command: process.execPath, args: [pre.phases, 'minimal'] }, phaseReps, scratch),
      };

      log('synth', 'cost per added service: warm, in one process');
      const counts = [0, 5, 10, 20, 40];
      const warmLoad = loadNow();
      const warmRun = await runTimed(process.execPath, [pre.extra, 'sweep', counts.join(','), '5'], {
        cwd: repoRoot,
        env: { ...process.env, CDK8S_OUTDIR: join(scratch, 'sweep') },
        timeoutMs: 600_000,
      });
      const warmRows = JSON.parse(warmRun.stdout.trim().split('\n').pop()!) as Array<{ extra: number; ms: number[]; objects: number }>;
      const warmFit = linearFit(warmRows.map((r) => [r.extra, median(r.ms)] as const));

      log('synth', 'cost per added service: cold, a fresh process per run');
      const coldCounts = [0, 10, 20, 40];
      const coldReps = Math.max(3, Math.min(reps, 7));
      type ColdRow = { extra: number; launcher: string; wallMs: number[]; inProcessMs: number[]; objects: number; load1: number[] };
      const coldRows: ColdRow[] = (['tsx', 'precompiled'] as const).flatMap((launcher) =>
        coldCounts.map((extra) => ({ extra, launcher, wallMs: [], inProcessMs: [], objects: 0, load1: [] })),
      );
      // Round-robin over N and launcher, so a burst of load elsewhere on the machine hits every N alike.
      for (let rep = 0; rep < coldReps; rep += 1) {
        for (const row of coldRows) {
          const outdir = join(scratch, `cold-${row.launcher}-${row.extra}-${rep}`);
          const load: LoadSample = loadNow();
          const [command, args] =
            row.launcher === 'tsx' ? [tsx, ['bench/synth/extra-services.ts', String(row.extra)]] : [process.execPath, [pre.extra, String(row.extra)]];
          const run = await runTimed(command, args, { cwd: repoRoot, env: { ...process.env, CDK8S_OUTDIR: outdir }, timeoutMs: TIMEOUT });
          const printed = JSON.parse(run.stdout.trim().split('\n').pop()!) as { ms: number; objects: number };
          row.wallMs.push(Math.round(run.ms));
          row.inProcessMs.push(printed.ms);
          row.objects = printed.objects;
          row.load1.push(load.load1);
          rmSync(outdir, { recursive: true, force: true });
        }
        log('synth', `cold +N services rep ${rep + 1}/${coldReps}: ${coldRows.map((r) => `${r.launcher} +${r.extra} ${r.wallMs[rep]} ms`).join(', ')}`);
      }
      const coldFit = (launcher: string, key: 'wallMs' | 'inProcessMs') =>
        linearFit(coldRows.filter((r) => r.launcher === launcher).map((r) => [r.extra, median(r[key])] as const));

      return {
        reps,
        cold,
        ratios: {
          tsx: ratio('platformTsx', 'minimalTsx'),
          tsxNoCache: ratio('platformTsxNoCache', 'minimalTsxNoCache'),
          precompiled: ratio('platformPrecompiled', 'minimalPrecompiled'),
        },
        breakdown,
        perService: {
          model: 'copies of product (5 routes, 2 replicas, own PostgreSQL, public at the edge), each called by order',
          warm: { load: warmLoad, rows: warmRows.map((r) => ({ ...r, medianMs: median(r.ms) })), fit: warmFit },
          cold: {
            rows: coldRows.map((r) => ({ ...r, wallMedianMs: median(r.wallMs), inProcessMedianMs: median(r.inProcessMs) })),
            fitTsxWall: coldFit('tsx', 'wallMs'),
            fitTsxInProcess: coldFit('tsx', 'inProcessMs'),
            fitPrecompiledWall: coldFit('precompiled', 'wallMs'),
            fitPrecompiledInProcess: coldFit('precompiled', 'inProcessMs'),
          },
        },
      };
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
}

runScript(main);
