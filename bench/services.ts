/**
 * Services: requests/s and latency of a read (GET /products/{id}) and of the
 * order saga (POST /orders: verify user, reserve, charge, commit, with their
 * database writes), on the real PostgreSQL of test/harness; the kit's cost
 * against the same handler in a bare Express app, in the same run; the cost of
 * metrics, access logging, validation and trace headers separately; RSS of
 * each service under load.
 *
 * Usage: tsx bench/services.ts [--reps 3] [--seconds 8] [--saga-seconds 20]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathOf } from '../contract/route.js';
import { product, services } from '../contract/services.js';
import { bundleService } from './lib/bundle.js';
import { rssMiB, sampleRss, startChild, type ChildServer } from './lib/child.js';
import { aboveIdle, cpuMsPer, cpuSeconds, idleCpuMs, processTree } from './lib/cpu.js';
import { median } from './lib/stats.js';
import { closedLoop, openLoop, type LoadResult, type LoadTarget } from './lib/http-load.js';
import { startBenchShop, startInfra } from './lib/infra.js';
import { loadNow } from './lib/machine.js';
import { runTimed } from './lib/proc.js';
import { prepareSagaLoad, TRACE_HEADERS } from './lib/saga.js';
import { summarizeProfile } from './lib/profile.js';
import { log, repoRoot, runScript, runSection } from './lib/results.js';

const S = 'services';

interface Arm {
  readonly id: string;
  readonly variant: string;
  readonly traced: boolean;
}

interface ArmResult {
  readonly id: string;
  readonly rps: number[];
  readonly medianRps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** CPU time of the server process per request (µs), median over the runs: what the handler stack costs, whatever else loads the machine. */
  readonly serverCpuUsPerRequest: number;
  readonly runs: Array<LoadResult & { load1: number; rssMiB: number; logBytesPerRequest: number; cpuMsPerRequest: Record<string, number> }>;
}

function summarize(id: string, runs: ArmResult['runs']): ArmResult {
  const rps = runs.map((r) => r.rps);
  return {
    id,
    rps,
    medianRps: median(rps),
    p50Ms: median(runs.map((r) => r.latency.p50Ms)),
    p99Ms: median(runs.map((r) => r.latency.p99Ms)),
    serverCpuUsPerRequest: Math.round(median(runs.map((r) => (r.cpuMsPerRequest['server'] ?? Number.NaN) * 1000))),
    runs,
  };
}

/** The unmeasured run before each measured one (the notes' warm-up). */
const ARM_WARMUP_MS = 2000;

/** Loads each arm in turn, `reps` rounds (ABC ABC ABC), so slow drifts of the shared machine hit every arm alike. */
async function interleaved(
  label: string,
  arms: readonly Arm[],
  servers: ReadonlyMap<string, ChildServer>,
  target: (server: ChildServer, arm: Arm) => LoadTarget,
  opts: { reps: number; seconds: number; connections: number; postgresPort: string },
): Promise<Record<string, ArmResult>> {
  // Every server once, unmeasured, before any measured run: JIT, pool connections, caches.
  for (const arm of arms) await closedLoop(target(servers.get(arm.variant)!, arm), { connections: opts.connections, warmupMs: 0, durationMs: 4000 });
  const runs = new Map<string, ArmResult['runs']>(arms.map((a) => [a.id, []]));
  for (let rep = 0; rep < opts.reps; rep += 1) {
    // Each rep starts one arm later, so no arm always runs first (after the others' idle) or right after the same one.
    for (const arm of [...arms.slice(rep % arms.length), ...arms.slice(0, rep % arms.length)]) {
      const server = servers.get(arm.variant)!;
      // A server that sat idle through the other arms' runs warms up again, unmeasured, before its own.
      await closedLoop(target(server, arm), { connections: opts.connections, warmupMs: 0, durationMs: ARM_WARMUP_MS });
      const load = loadNow();
      const bytesBefore = server.stdoutBytes();
      const groups = { server: () => [server.pid], postgres: () => processTree(`port=${opts.postgresPort}`), loadGenerator: () => [process.pid] };
      const cpuBefore = cpuSeconds(groups);
      const result = await closedLoop(target(server, arm), { connections: opts.connections, warmupMs: 0, durationMs: opts.seconds * 1000 });
      const cpuMsPerRequest = cpuMsPer(cpuBefore, cpuSeconds(groups), result.totalSent);
      const logged = server.stdoutBytes() - bytesBefore;
      runs.get(arm.id)!.push({
        ...result,
        load1: load.load1,
        rssMiB: rssMiB(server.pid),
        logBytesPerRequest: Math.round(logged / Math.max(1, result.sent)),
        cpuMsPerRequest,
      });
      log(
        S,
        `${label} rep ${rep + 1}/${opts.reps} ${arm.id}: ${result.rps} req/s, p50 ${result.latency.p50Ms} ms, p99 ${result.latency.p99Ms} ms, failed ${result.failed}, server CPU ${Math.round((cpuMsPerRequest['server'] ?? 0) * 1000)} µs/request`,
      );
    }
  }
  return Object.fromEntries(arms.map((a) => [a.id, summarize(a.id, runs.get(a.id)!)]));
}

/** Throughput lost against `bare`, in percent. */
const overhead = (bare: ArmResult | undefined, other: ArmResult | undefined) =>
  bare && other ? Math.round((1 - other.medianRps / bare.medianRps) * 1000) / 10 : Number.NaN;
/**
 * Throughput lost against `bare` when the two cores are the limit, in percent: from the CPU per request of
 * everything on them (server, PostgreSQL, load generator), which the machine's other tenants do not change.
 */
const cpuBoundOverhead = (bare: ArmResult | undefined, other: ArmResult | undefined) => {
  const total = (a: ArmResult) => median(a.runs.map((r) => r.cpuMsPerRequest['total'] ?? Number.NaN));
  return bare && other ? Math.round((1 - total(bare) / total(other)) * 1000) / 10 : Number.NaN;
};
/** Spread of an arm's throughput over its runs: (max - min) / median, in percent. */
const spread = (a: ArmResult | undefined) => (a ? Math.round(((Math.max(...a.rps) - Math.min(...a.rps)) / a.medianRps) * 1000) / 10 : Number.NaN);
/** Extra server CPU per request against `bare`, in percent. */
const cpuOverhead = (bare: ArmResult | undefined, other: ArmResult | undefined) =>
  bare && other ? Math.round((other.serverCpuUsPerRequest / bare.serverCpuUsPerRequest - 1) * 1000) / 10 : Number.NaN;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { reps: { type: 'string', default: '3' }, seconds: { type: 'string', default: '8' }, 'saga-seconds': { type: 'string', default: '20' } },
  });
  const reps = Math.min(10, Math.max(1, Number(values.reps)));
  const seconds = Math.min(60, Math.max(2, Number(values.seconds)));
  const sagaSeconds = Math.min(120, Math.max(5, Number(values['saga-seconds'])));
  await runSection(S, `npm run bench:services -- --reps ${reps} --seconds ${seconds} --saga-seconds ${sagaSeconds}`, async () => {
    const infra = await startInfra(S, { kafka: true });
    const postgresPort = new URL(infra.postgres.url).port;
    const started: ChildServer[] = [];
    try {
      log(S, 'bundling the variant server and the micro-benchmark (esbuild, as scripts/build-services.ts does)');
      const variantBundle = await bundleService('bench/servers/variant-server.ts', 'variant-server');
      const microBundle = await bundleService('bench/servers/micro.ts', 'micro');

      // --- micro: per-call costs of the pieces on every request -------------------------------
      const micro = JSON.parse((await runTimed('sh', ['-c', `"${process.execPath}" "${microBundle.file}" > /dev/null`], { timeoutMs: 120_000 })).stderr.trim());
      log(S, `micro: ${JSON.stringify(micro)}`);

      // --- read: GET /products/{id} with and without the kit ------------------------------------
      const readArms: Arm[] = [
        { id: 'bare', variant: 'bare', traced: false },
        { id: 'kit', variant: 'kit', traced: false },
        { id: 'kit+traceHeaders', variant: 'kit', traced: true },
        { id: 'kitNoMetrics', variant: 'kit-no-metrics', traced: false },
        { id: 'kitNoAccessLog', variant: 'kit-no-log', traced: false },
        { id: 'kitNoValidation', variant: 'kit-no-validation', traced: false },
        { id: 'kitNoAsyncContext', variant: 'kit-no-async-context', traced: false },
      ];
      const read: Record<string, unknown> = {};
      const productDb = await infra.postgres.createDatabase('bench_read_product');
      for (const store of ['postgres', 'memory'] as const) {
        const servers = new Map<string, ChildServer>();
        for (const variant of new Set(readArms.map((a) => a.variant))) {
          const server = await startChild(variantBundle.file, {
            PATH: process.env.PATH,
            ROUTE: 'read',
            VARIANT: variant,
            STORE: store,
            DATABASE_URL: productDb,
          });
          servers.set(variant, server);
          started.push(server);
        }
        const arms = await interleaved(
          `read/${store}`,
          readArms,
          servers,
          (server, arm) => ({
            baseUrl: server.url,
            next: () => ({
              method: product.routes.get.method,
              path: pathOf(product.routes.get, { id: 'espresso-beans' }),
              headers: arm.traced ? TRACE_HEADERS : {},
            }),
          }),
          { reps, seconds, connections: 16, postgresPort },
        );
        for (const server of servers.values()) await server.stop();
        const parts = (f: typeof overhead) => ({
          metrics: f(arms['kitNoMetrics'], arms['kit']),
          accessLog: f(arms['kitNoAccessLog'], arms['kit']),
          validation: f(arms['kitNoValidation'], arms['kit']),
          asyncContext: f(arms['kitNoAsyncContext'], arms['kit']),
          traceHeadersPresent: f(arms['kit'], arms['kit+traceHeaders']),
        });
        read[store] = {
          arms,
          kitOverheadPct: overhead(arms['bare'], arms['kit']),
          kitCpuOverheadPct: cpuOverhead(arms['bare'], arms['kit']),
          kitCpuBoundOverheadPct: cpuBoundOverhead(arms['bare'], arms['kit']),
          rpsSpreadPct: { bare: spread(arms['bare']), kit: spread(arms['kit']) },
          overheadPct: parts(overhead),
          cpuOverheadPct: parts(cpuOverhead),
        };
      }

      // --- the order saga on the whole shop -------------------------------------------------------
      log(S, 'starting the shop (local/dev/shop.ts, bundles) on PostgreSQL with Kafka');
      const bench = await startBenchShop(infra, 'saga');
      const { shop } = bench;
      try {
        const startupMs = Object.fromEntries(services.map((s) => [s.name, shop.service(s.name).startupMs]));
        const saga = await prepareSagaLoad(bench, infra);
        const orderTarget = saga.target;
        const { pids, cpuGroups } = saga;
        const idleRss = Object.fromEntries(Object.entries(pids).map(([n, pid]) => [n, rssMiB(pid)]));

        // What the shop burns doing nothing (relay polling, Kafka fetches and heartbeats, the broker itself), per second.
        const idleCpuMsPerSecond = await idleCpuMs(cpuGroups);
        log(S, `idle shop: ${idleCpuMsPerSecond['total']} ms of CPU per second`);

        const sagaRun = async (label: string, run: () => Promise<LoadResult>) => {
          const load = loadNow();
          const stopRss = sampleRss(pids);
          const before = cpuSeconds(cpuGroups);
          const began = performance.now();
          const result = await run();
          const wallSeconds = (performance.now() - began) / 1000;
          const cpuMsPerOrder = cpuMsPer(before, cpuSeconds(cpuGroups), result.totalSent);
          // The same, less what the shop would have burnt idle over the run: the CPU the orders themselves cost.
          const marginalCpuMsPerOrder = aboveIdle(cpuMsPerOrder, idleCpuMsPerSecond, wallSeconds, result.totalSent);
          const rss = stopRss();
          log(
            S,
            `saga ${label}: ${result.rps} orders/s, p50 ${result.latency.p50Ms} ms, p99 ${result.latency.p99Ms} ms, failed ${result.failed} ${JSON.stringify(result.statuses)}; CPU ${cpuMsPerOrder['total']} ms/order (${marginalCpuMsPerOrder['total']} above idle)`,
          );
          return { ...result, load, cpuMsPerOrder, marginalCpuMsPerOrder, rss };
        };
        const open = (rate: number, secs: number) => () =>
          openLoop(orderTarget(shop.urls.order), { rate, warmupMs: 3000, durationMs: secs * 1000, maxSockets: 256 });
        const unloaded = await sagaRun('one at a time', () => closedLoop(orderTarget(shop.urls.order), { connections: 1, warmupMs: 2000, durationMs: 5000 }));
        const at25 = await sagaRun('open loop 25/s', open(25, 10));
        const at50 = await sagaRun('open loop 50/s', open(50, 10));
        const at100 = await sagaRun('open loop 100/s', open(100, sagaSeconds));
        const max = await sagaRun('closed loop, 16 connections', () =>
          closedLoop(orderTarget(shop.urls.order), { connections: 16, warmupMs: 2000, durationMs: seconds * 1000 }),
        );

        // The order front with and without the kit; user, product and payment stay the shop's.
        const fronts = new Map<string, ChildServer>();
        for (const variant of ['bare', 'kit']) {
          const server = await startChild(variantBundle.file, {
            PATH: process.env.PATH,
            ROUTE: 'order',
            VARIANT: variant,
            DATABASE_URL: await infra.postgres.createDatabase(`bench_front_${variant}`),
            USER_URL: shop.urls.user,
            PRODUCT_URL: shop.urls.product,
            PAYMENT_URL: shop.urls.payment,
          });
          fronts.set(variant, server);
          started.push(server);
        }
        const frontArms = await interleaved(
          'saga front',
          [
            { id: 'bare', variant: 'bare', traced: true },
            { id: 'kit', variant: 'kit', traced: true },
          ],
          fronts,
          (server) => orderTarget(server.url),
          { reps, seconds, connections: 16, postgresPort },
        );
        for (const server of fronts.values()) await server.stop();

        // Where the order service's own CPU goes: the kit front from source under --cpu-prof (names intact), 30 orders/s.
        log(S, 'profiling the order front (node --cpu-prof, from source through tsx) at 30 orders/s');
        const profileDir = mkdtempSync(join(tmpdir(), 'meshkit-bench-profile-'));
        const profiled = await startChild(
          join(repoRoot, 'bench', 'servers', 'variant-server.ts'),
          {
            PATH: process.env.PATH,
            ROUTE: 'order',
            VARIANT: 'kit',
            DATABASE_URL: await infra.postgres.createDatabase('bench_front_profiled'),
            USER_URL: shop.urls.user,
            PRODUCT_URL: shop.urls.product,
            PAYMENT_URL: shop.urls.payment,
          },
          60_000,
          ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--import', 'tsx'],
        );
        started.push(profiled);
        const profiledRun = await openLoop(orderTarget(profiled.url), { rate: 30, warmupMs: 2000, durationMs: 15_000, maxSockets: 64 });
        await profiled.stop();
        const orderProfile = { ...summarizeProfile(profileDir), orders: profiledRun.sent };
        rmSync(profileDir, { recursive: true, force: true });
        log(S, `order front profile: ${JSON.stringify(orderProfile)}`);

        return {
          notes: {
            loadGenerator: 'node:http keep-alive client in the benchmark process on the same 2 cores (bench/lib/http-load.ts)',
            read: 'closed loop, 16 connections, each measured run after a 2 s unmeasured one on the same server; reps rotate the order of the arms; every arm is the same bundled server (bench/servers/variant-server.ts) with a different VARIANT',
            saga: 'POST /orders straight to the order service (no edge), x-user-id and trace headers set, 1 unit of a product stocked for the run; 201 = CONFIRMED',
          },
          bundles: { variantServerBytes: variantBundle.bytes },
          micro,
          read,
          saga: {
            shopStartupMs: startupMs,
            idleCpuMsPerSecond,
            unloaded,
            at25,
            at50,
            at100,
            closedLoop: { ...max, connections: 16 },
            orderProfile: { ...orderProfile, busyMsPerOrder: Math.round((orderProfile.busyMs / Math.max(1, orderProfile.orders)) * 100) / 100 },
            front: {
              arms: frontArms,
              kitOverheadPct: overhead(frontArms['bare'], frontArms['kit']),
              kitCpuOverheadPct: cpuOverhead(frontArms['bare'], frontArms['kit']),
              rpsSpreadPct: { bare: spread(frontArms['bare']), kit: spread(frontArms['kit']) },
            },
          },
          rss: { idle: idleRss, at100: at100.rss, closedLoop: max.rss },
        };
      } finally {
        await shop.stop();
      }
    } finally {
      await Promise.allSettled(started.map((s) => s.stop()));
      await infra.stop();
    }
  });
}

runScript(main);
