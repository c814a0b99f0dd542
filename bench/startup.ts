/**
 * Start-up and bundles: each service bundled as the images bundle it
 * (bench/lib/bundle.ts, with the build's own options), then started with
 * `node main.js` on a real PostgreSQL (test/harness), from process start to
 * ready. "Ready" is the `service ready` log line, written once the public port
 * listens and readiness turns 200; a /health/ready 200 is checked right after.
 * Each service starts on a fresh database (migrations run) and on one already
 * migrated; repetitions interleave the services; medians.
 *
 * Usage: tsx bench/startup.ts [--reps 5]
 */
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { callGraph, services, type ServiceName } from '../charts/platform.js';
import { serviceUrlEnv } from '../contract/index.js';
import { bundleService } from './lib/bundle.js';
import { median } from './lib/stats.js';
import { startInfra } from './lib/infra.js';
import { loadNow } from './lib/machine.js';
import { runTimed } from './lib/proc.js';
import { log, repoRoot, runScript, runSection } from './lib/results.js';

const S = 'startup';
const SERVICES: readonly ServiceName[] = services.map((s) => s.name);

interface Start {
  /** Spawn to the `service ready` log line. */
  readonly readyLogMs: number;
  /** Spawn to a 200 from /health/ready, polled every 5 ms once the ready line was seen. */
  readonly readyProbeMs: number;
}

/** Starts one service bundle, times it, then stops it with SIGTERM (bounded waits throughout). */
async function timeStart(file: string, service: ServiceName, databaseUrl: string): Promise<Start> {
  const began = performance.now();
  const child = spawn(process.execPath, [file], {
    env: {
      PATH: process.env.PATH,
      PORT: '0',
      ADMIN_PORT: '0',
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: 'info',
      SHUTDOWN_DELAY_MS: '0',
      // A URL for each service it calls (nothing listens there: start-up makes no call).
      ...Object.fromEntries(callGraph.filter((e) => e.from === service).map((e) => [serviceUrlEnv(e.to), 'http://127.0.0.1:9'])),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const { readyLogMs, adminPort } = await new Promise<{ readyLogMs: number; adminPort: number }>((resolve, reject) => {
      let text = '';
      let stderr = '';
      const timer = setTimeout(() => reject(new Error(`${service} was not ready within 60 s:\n${text.slice(-2000)}${stderr.slice(-2000)}`)), 60_000);
      child.stdout.on('data', (chunk: Buffer) => {
        if (text.length > 1_000_000) return;
        text += chunk.toString();
        const ready = /"adminPort":(\d+)[^\n]*"message":"service ready"/.exec(text);
        if (ready) {
          clearTimeout(timer);
          resolve({ readyLogMs: performance.now() - began, adminPort: Number(ready[1]) });
        }
      });
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${service} exited with ${code} before it was ready:\n${text.slice(-2000)}${stderr.slice(-2000)}`));
      });
    });
    let readyProbeMs = Number.NaN;
    for (let i = 0; i < 2000; i += 1) {
      const res = await fetch(`http://127.0.0.1:${adminPort}/health/ready`).catch(() => undefined);
      await res?.text();
      if (res?.status === 200) {
        readyProbeMs = performance.now() - began;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const round = (n: number) => Math.round(n);
    return { readyLogMs: round(readyLogMs), readyProbeMs: round(readyProbeMs) };
  } finally {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { reps: { type: 'string', default: '5' } } });
  const reps = Math.min(20, Math.max(1, Number(values.reps)));
  await runSection(S, `npm run bench:startup -- --reps ${reps}`, async () => {
    log(S, `bundling the ${SERVICES.length} services (esbuild, as scripts/build-services.ts does)`);
    const bundles: Record<string, { file: string; bytes: number; assetBytes: number; appsDistBytes: number | null }> = {};
    for (const service of SERVICES) {
      const bundle = await bundleService(`apps/${service}/main.ts`, `services/${service}`);
      // The committed build script's own output, when someone built it: the same options should give the same size.
      const dist = join(repoRoot, 'apps', service, 'dist', 'main.js');
      bundles[service] = { ...bundle, appsDistBytes: existsSync(dist) ? statSync(dist).size : null };
      log(S, `${service}: ${(bundle.bytes / 1024 / 1024).toFixed(2)} MB (+ ${(bundle.assetBytes / 1024 / 1024).toFixed(2)} MB PGlite assets)`);
    }

    const nodeBaseline: number[] = [];
    for (let i = 0; i < reps; i += 1) nodeBaseline.push(Math.round((await runTimed(process.execPath, ['-e', '0'], { timeoutMs: 30_000 })).ms));

    const infra = await startInfra(S, { kafka: false });
    try {
      const runs: Record<string, { fresh: Start[]; migrated: Start[]; load1: number[] }> = Object.fromEntries(
        SERVICES.map((s) => [s, { fresh: [], migrated: [], load1: [] }]),
      );
      const migratedDb: Partial<Record<ServiceName, string>> = {};
      for (let rep = 0; rep < reps; rep += 1) {
        for (const service of SERVICES) {
          const load = loadNow();
          const fresh = await infra.postgres.createDatabase(`start_${service}_${rep}`);
          const first = await timeStart(bundles[service]!.file, service, fresh);
          migratedDb[service] ??= fresh;
          const again = await timeStart(bundles[service]!.file, service, migratedDb[service]!);
          runs[service]!.fresh.push(first);
          runs[service]!.migrated.push(again);
          runs[service]!.load1.push(load.load1);
          log(
            S,
            `rep ${rep + 1}/${reps} ${service}: fresh database ${first.readyLogMs} ms, migrated ${again.readyLogMs} ms (/health/ready 200 at ${again.readyProbeMs} ms)`,
          );
        }
      }
      const summary = Object.fromEntries(
        SERVICES.map((service) => {
          const r = runs[service]!;
          const med = (xs: Start[], key: keyof Start) => median(xs.map((x) => x[key]));
          return [
            service,
            {
              freshMedianMs: med(r.fresh, 'readyLogMs'),
              freshMaxMs: Math.max(...r.fresh.map((x) => x.readyLogMs)),
              migratedMedianMs: med(r.migrated, 'readyLogMs'),
              migratedMaxMs: Math.max(...r.migrated.map((x) => x.readyLogMs)),
              readyProbeMedianMs: med(r.migrated, 'readyProbeMs'),
              runs: r,
            },
          ];
        }),
      );
      return {
        notes: {
          ready: "spawn of `node main.js` to the kit's `service ready` log line (admin port up, database open, migrations applied, public port listening)",
          env: 'PORT=0, ADMIN_PORT=0, DATABASE_URL to its own database on the harness PostgreSQL, LOG_LEVEL=info, no Kafka',
          bundles:
            '.cache/bench/services/<name>/main.js built with the options of scripts/build-services.ts; appsDistBytes is apps/<name>/dist/main.js when present',
        },
        postgresVersion: infra.postgres.version,
        nodeBaselineMedianMs: median(nodeBaseline),
        bundles: Object.fromEntries(
          Object.entries(bundles).map(([k, v]) => [k, { bytes: v.bytes, pgliteAssetBytes: v.assetBytes, appsDistBytes: v.appsDistBytes }]),
        ),
        startup: summary,
      };
    } finally {
      await infra.stop();
    }
  });
}

runScript(main);
