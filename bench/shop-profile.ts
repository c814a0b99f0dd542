/**
 * Whose code an order's CPU runs: the shop at the saga's rate (bench/lib/order-cost.ts, as
 * bench:saga-floor measures it), every service's main thread profiled over exactly the measured
 * window (bench/servers/window-profiler.ts), each sample's frame mapped back through a source map of
 * the very bundle that ran (bench/lib/bundle-sources.ts) to meshkit's code (apps/, contract/,
 * mesh/), an npm package, Node's JavaScript internals or V8 and native code. Beside it, by
 * process: PostgreSQL split by database, the Kafka broker, the load generator.
 *
 * Two views per service: self time (the code the CPU was in) and on behalf of (the nearest frame
 * that is not Node or V8: JSON.stringify called by the kit counts as the kit's).
 *
 * Usage: tsx bench/shop-profile.ts [--rate 100] [--seconds 15] [--keep-profiles <dir>]
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { SERVICE_NAMES } from '../local/dev/index.js';
import { bundleSources, type BundleSources } from './lib/bundle-sources.js';
import { groupOf, isRuntime } from './lib/code-owners.js';
import { startBenchShop, startInfra } from './lib/infra.js';
import { measureOrderCost } from './lib/order-cost.js';
import { precompile } from './lib/precompile.js';
import { attributeProfile, readProfile, type ProfileFrame } from './lib/profile.js';
import { log, repoRoot, runScript, runSection } from './lib/results.js';
import { prepareSagaLoad } from './lib/saga.js';

const S = 'shopProfile';
const tag = 'prof';

/** The owner of the preloaded profiler's frames: its samples (stopping, serializing) are left out. */
const PROFILER = 'bench: profiler';

/** Names the owner of a frame of a service's main thread. */
function ownerOf(sources: BundleSources) {
  return (frame: ProfileFrame): string => {
    const { url, functionName } = frame;
    if (url === '') {
      if (functionName === '(garbage collector)') return 'V8: garbage collection';
      if (functionName === '(program)' || functionName === '(root)') return 'native (event loop, system calls, compiler)';
      return 'V8: builtins';
    }
    if (url.startsWith('node:')) return 'Node: JavaScript internals';
    if (url.includes('window-profiler')) return PROFILER;
    // A service's process runs one bundle (a snapshot of apps/<service>/dist/main.js) and the profiler.
    if (!url.endsWith('/main.js')) return `other: ${url}`;
    const source = sources.sourceAt(frame.lineNumber ?? 0, frame.columnNumber ?? 0);
    if (source === undefined) return 'other: unmapped bundle code';
    const pkg = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(source);
    if (pkg) return `npm: ${pkg[1]}`;
    const ours = /^(apps\/[^/]+|contract|mesh|charts)\//.exec(source);
    return ours ? `meshkit: ${ours[1]}` : `other: ${source}`;
  };
}

const round = (n: number) => Math.round(n * 1000) / 1000;

async function waitFor(file: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`no profile at ${file} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { rate: { type: 'string', default: '100' }, seconds: { type: 'string', default: '15' }, 'keep-profiles': { type: 'string' } },
  });
  const rate = Number(values.rate);
  const seconds = Math.min(120, Math.max(5, Number(values.seconds)));
  if (!(rate > 0)) throw new Error(`--rate: a positive number of orders per second (got ${values.rate})`);
  await runSection(S, `npm run bench:shop-profile -- --rate ${rate} --seconds ${seconds}`, async () => {
    const profiler = await precompile('bench/servers/window-profiler.ts', 'window-profiler.mjs');
    const kept = values['keep-profiles'];
    if (kept) mkdirSync(kept, { recursive: true });
    const profileDir = kept ?? mkdtempSync(join(tmpdir(), 'meshkit-shop-profile-'));
    const infra = await startInfra(S, { kafka: true });
    try {
      const bench = await startBenchShop(infra, tag, { NODE_OPTIONS: `--import=${pathToFileURL(profiler).href}`, MESHKIT_CPU_PROFILE_DIR: profileDir });
      let stopped = false;
      try {
        const saga = await prepareSagaLoad(bench, infra);
        const admin = new pg.Client({ connectionString: infra.postgres.url });
        await admin.connect();
        const { postgres: _whole, ...groups } = saga.cpuGroups;
        const signal = () => {
          for (const pid of Object.values(saga.pids)) process.kill(pid, 'SIGUSR2');
        };
        const cost = await measureOrderCost({
          target: saga.target(bench.shop.urls.order),
          groups,
          admin,
          postgresPort: new URL(infra.postgres.url).port,
          tag,
          rate,
          seconds,
          window: { begin: signal, end: signal },
        }).finally(() => admin.end());
        log(S, `${cost.orders} orders, ${cost.aboveIdleMs['total']} ms/order above idle, p99 ${cost.result.latency.p99Ms} ms; reading the profiles`);
        // The profiler samples wall time while a thread is busy, preemption included: each service's
        // shares are spread over its CPU above idle (/proc), so the figures add up to what the target counts.
        const services: Record<
          string,
          { busyMsPerOrder: number; cpuAboveIdleMs: number; selfMs: Record<string, number>; onBehalfOfMs: Record<string, number> }
        > = {};
        for (const name of SERVICE_NAMES) {
          const file = join(profileDir, `${saga.pids[name]}.cpuprofile`);
          await waitFor(file, 30_000);
          const sources = await bundleSources(`apps/${name}/main.ts`, join(repoRoot, 'apps', name, 'dist', 'main.js'), name);
          const attribution = attributeProfile(readProfile(file), ownerOf(sources), isRuntime, PROFILER);
          const cpu = Math.max(0, cost.aboveIdleMs[name] ?? 0);
          const spread = (m: Record<string, number>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, round((v / attribution.busyMs) * cpu)]));
          services[name] = {
            busyMsPerOrder: round(attribution.busyMs / cost.orders),
            cpuAboveIdleMs: cpu,
            selfMs: spread(attribution.self),
            onBehalfOfMs: spread(attribution.onBehalfOf),
          };
        }
        await bench.shop.stop();
        stopped = true;
        const add = (view: 'selfMs' | 'onBehalfOfMs', key: (owner: string) => string) => {
          const out: Record<string, number> = {};
          for (const svc of Object.values(services)) for (const [k, v] of Object.entries(svc[view])) out[key(k)] = round((out[key(k)] ?? 0) + v);
          return Object.fromEntries(Object.entries(out).sort((a, b) => b[1] - a[1]));
        };
        const sumOf = (prefix: string) =>
          round(
            Object.entries(cost.aboveIdleMs)
              .filter(([k]) => k.startsWith(prefix))
              .reduce((a, [, v]) => a + v, 0),
          );
        const shop = {
          services: { self: add('selfMs', groupOf), onBehalfOf: add('onBehalfOfMs', groupOf) },
          servicesByOwner: { self: add('selfMs', (k) => k), onBehalfOf: add('onBehalfOfMs', (k) => k) },
          others: { postgres: sumOf('postgres:'), kafka: sumOf('kafka'), loadGeneratorAndLogs: sumOf('loadGeneratorAndLogs') },
          total: cost.aboveIdleMs['total'] ?? 0,
        };
        log(
          S,
          `the services, ms per order above idle by whose code: ${JSON.stringify(shop.services.self)} (self); ${JSON.stringify(shop.services.onBehalfOf)} (on behalf of); ${JSON.stringify(shop.others)}`,
        );
        return {
          notes: {
            profiles:
              "each service's main thread, V8's sampling profiler every 1 ms (node:inspector, preloaded), started and stopped by SIGUSR2 at the measured window's ends; frames mapped to sources through a source map of the same bundle (bench/lib/bundle-sources.ts)",
            cost: "CPU per order by process from /proc over the same window, PostgreSQL split by database, idle subtracted (bench/lib/order-cost.ts, as bench:saga-floor); each service's profile shares spread over its CPU above idle",
          },
          rate,
          seconds,
          cost,
          services,
          shop,
        };
      } finally {
        if (!stopped) await bench.shop.stop();
      }
    } finally {
      await infra.stop();
      if (!kept) rmSync(profileDir, { recursive: true, force: true });
    }
  });
}

runScript(main);
