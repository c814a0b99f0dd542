/**
 * `make chaos SCENARIO=<id|number|all>` runs `tsx chaos/main.ts <scenario>`: chaos scenarios
 * against the shop on the kind cluster (default), as local processes (`--local`) or on the local
 * Istio mesh (`--mesh`). See
 * chaos/README.md.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ServiceName } from '../charts/platform.js';
import { kafkaClusterName, namespaces } from '../charts/platform.js';
import type { Context } from '../cli/context.js';
import type { MeshShopOptions } from '../local/mesh/mesh-shop.js';
import { settings } from '../cli/context.js';
import { clusterExists, openSession } from '../cli/kind.js';
import { freePort } from '../infra/processes.js';
import { KubeClient } from '../infra/kube-client.js';
import { chaosKubeApi, ClusterAccess, type ChaosKubeApi } from './cluster/kube.js';
import { clusterEnvironment } from './cluster/environment.js';
import type { ChaosEnvironment, ShopDeployment } from './environment.js';
import { renderReport, type ScenarioReport } from './report.js';
import { runScenarios, type RunOptions } from './runner.js';
import { findScenario, scenarios } from './scenarios/index.js';
import type { Timings } from './scenario.js';
import { synthChaos } from './synth.js';

export const usage = `usage: tsx chaos/main.ts <scenario> [options]     (make chaos SCENARIO=<scenario>)

  <scenario>   a number or id, or 'all':
${scenarios.map((s) => `                 ${s.number}  ${s.id.padEnd(20)} ${s.title}`).join('\n')}
  list         the scenarios and their expectations
  synth        write the fault resources to dist/chaos/ and stop

options
  --local              the shop as local processes behind the local edge (default: the kind cluster at ${settings.ingressUrl})
  --mesh               the shop from dist/ on a real Istio data plane on this machine (make mesh's runtime: istiod, Envoy sidecars,
                       a network namespace per pod); Linux and root only
  --kafka              with --local: start a Kafka broker of the run's own (Java 17+, what \`make test\` provisions); needed by kafka-broker-kill
  --baseline <s> --during <s> --after <s>   phase lengths in seconds (each scenario has its own defaults)
  --rate <n>           requests per second (each scenario has its own default)
  --json <file>        also write the reports as JSON

Exit code: 0 when no scenario failed (PASS, EXPECTED FAIL without a mesh, or NOT RUN within 'all'), 1 when one
FAILed or broke (ERROR) or a scenario named on its own cannot run, 2 on a usage error, 3 when nothing failed but a
scenario was INCONCLUSIVE (its baseline was not healthy).`;

export interface ChaosArgs {
  readonly command: 'run' | 'list' | 'synth' | 'help';
  readonly scenarios: readonly string[];
  readonly local: boolean;
  readonly mesh: boolean;
  readonly kafka: boolean;
  readonly timings: Partial<Timings>;
  readonly json?: string;
}

/** Parses the command line; throws with the problem for a usage error. */
export function parseArgs(argv: readonly string[]): ChaosArgs {
  const [first, ...rest] = argv;
  if (first === undefined || first === 'help' || first === '--help' || first === '-h')
    return { command: 'help', scenarios: [], local: false, mesh: false, kafka: false, timings: {} };
  let local = false;
  let mesh = false;
  let kafka = false;
  let json: string | undefined;
  const timings: { -readonly [K in keyof Timings]?: Timings[K] } = {};
  const number = (flag: string, value: string | undefined, max: number): number => {
    const n = Number(value);
    if (value === undefined || !Number.isFinite(n) || n <= 0 || n > max)
      throw new Error(`${flag} needs a number above 0 and at most ${max} (got ${value ?? 'nothing'})`);
    return n;
  };
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i]!;
    switch (flag) {
      case '--local':
        local = true;
        break;
      case '--mesh':
        mesh = true;
        break;
      case '--kafka':
        kafka = true;
        break;
      case '--baseline':
      case '--during':
      case '--after':
        timings[`${flag.slice(2) as 'baseline' | 'during' | 'after'}Ms`] = number(flag, rest[++i], 3_600) * 1000;
        break;
      case '--rate':
        timings.ratePerSecond = number(flag, rest[++i], 5_000);
        break;
      case '--json':
        json = rest[++i];
        if (!json) throw new Error('--json needs a file name');
        break;
      default:
        throw new Error(`unknown option '${flag}'`);
    }
  }
  if (kafka && !local) throw new Error('--kafka goes with --local (on the cluster and the mesh the scenario kills the Strimzi broker)');
  if (local && mesh) throw new Error('--local and --mesh exclude each other: local processes without a mesh, or the shop on the local mesh');
  if (first === 'list' || first === 'synth') return { command: first, scenarios: [], local, mesh, kafka, timings, json };
  const chosen = first === 'all' ? scenarios.map((s) => s.id) : first.split(',').map((name) => findScenario(name.trim()).id);
  return { command: 'run', scenarios: chosen, local, mesh, kafka, timings, json };
}

/**
 * 0: no scenario failed (PASS, EXPECTED FAIL, and NOT RUN within `all`); 1: one FAILed or broke
 * (ERROR), or a scenario asked for by name cannot run; 3: nothing failed but one was INCONCLUSIVE.
 */
export function exitCode(reports: readonly ScenarioReport[], all: boolean): number {
  if (reports.some((r) => r.verdict === 'FAIL' || r.verdict === 'ERROR' || (!all && r.verdict === 'NOT RUN'))) return 1;
  return reports.some((r) => r.verdict === 'INCONCLUSIVE') ? 3 : 0;
}

/** What a verdict means for the run, for the summary. */
const verdictMeaning: Record<ScenarioReport['verdict'], string> = {
  PASS: 'held',
  'EXPECTED FAIL': 'expected without a mesh',
  FAIL: 'a real failure',
  INCONCLUSIVE: 'no verdict: baseline unhealthy',
  'NOT RUN': 'cannot run here',
  ERROR: 'the run broke',
};

/** The summary of several reports: one line each, then the counts and the exit code. */
export function summary(reports: readonly ScenarioReport[], all: boolean): string[] {
  const lines = ['summary:'];
  for (const r of reports) {
    lines.push(
      `  ${r.verdict.padEnd(13)} ${`${r.scenario.number} ${r.scenario.id}`.padEnd(22)} ${verdictMeaning[r.verdict]}${r.reason ? ` — ${r.reason}` : ''}`,
    );
  }
  const count = (v: ScenarioReport['verdict']) => reports.filter((r) => r.verdict === v).length;
  const real = count('FAIL') + count('ERROR');
  lines.push(
    `  ${count('PASS')} passed, ${count('EXPECTED FAIL')} failed as expected without a mesh, ${real} failed for real, ${count('INCONCLUSIVE')} inconclusive, ${count('NOT RUN')} not run → exit ${exitCode(reports, all)}`,
  );
  return lines;
}

/** A progress printer: rewrites one line on a terminal, prints a line every few seconds otherwise. */
export function progressPrinter(write: (text: string) => void, tty: boolean): (line: string, final: boolean) => void {
  let count = 0;
  return (line, final) => {
    if (tty) write(`\r\x1b[2K  ${line}${final ? '\n' : ''}`);
    else if (final || count++ % 5 === 0) write(`  ${line}\n`);
  };
}

/** The order service's recovery sweep on the cluster: apps/order/app.ts defaults, since the chart sets neither SWEEP_INTERVAL_MS nor STALE_ORDER_MS (a test checks both). */
export const clusterOrderSweep = { intervalMs: 10_000, staleMs: 60_000 } as const;

/** The shop of dist/ as deployed on the kind cluster or the local mesh, from the platform model: namespaces, ports, fault resources, the order sweep. */
async function shopDeployment(repoRoot: string): Promise<ShopDeployment> {
  const { buildPlatform } = await import('../charts/platform-app.js');
  const { shop } = buildPlatform();
  return {
    namespaces,
    kafkaCluster: kafkaClusterName,
    servicePort: (service: ServiceName) => shop.service(service).port,
    adminPort: shop.service('order').adminPort,
    resourcesDir: join(repoRoot, 'dist', 'chaos'),
    orderSweep: clusterOrderSweep,
  };
}

/** The kind cluster as a ChaosEnvironment: the bring-up's session (kubeconfig, API), its runner, the platform's ports. */
export async function openCluster(ctx: Context): Promise<ChaosEnvironment> {
  if (!(await clusterExists(ctx.runner))) throw new Error(`no kind cluster ${settings.clusterName}: \`make up\` first`);
  let opened: ChaosKubeApi | undefined;
  const session = await openSession({ ...ctx, connect: (c) => (opened = chaosKubeApi(new KubeClient(c))) });
  if (!opened) throw new Error('internal: the session opened no Kubernetes client');
  const api: ChaosKubeApi = opened;
  const access = new ClusterAccess({ api, runner: ctx.runner, kubeconfig: session.kubeconfig, sleep: ctx.sleep, now: ctx.now, freePort });
  const deployment = await shopDeployment(ctx.repoRoot);
  let forward: Promise<Awaited<ReturnType<ClusterAccess['forwardPrometheus']>>> | undefined;
  return clusterEnvironment({
    ...deployment,
    access,
    baseUrl: ctx.env.MESHKIT_URL || settings.ingressUrl,
    prometheusUrl: async () => (await (forward ??= access.forwardPrometheus(namespaces.istio))).url,
    close: async () => {
      if (forward) (await forward.catch(() => undefined))?.forward.stop();
      api.close();
    },
  });
}

/** Local processes behind the local edge, with a Kafka broker of the run's own when asked. */
export async function openLocal(withKafka: boolean, print: (line: string) => void): Promise<ChaosEnvironment> {
  const [{ startLocalShop }, { localEnvironment, localShopEnv }] = await Promise.all([import('../local/dev/shop.js'), import('./local.js')]);
  const broker = withKafka ? await (await import('../infra/kafka-broker.js')).startKafkaBroker() : undefined;
  if (broker) print(`started a Kafka broker of this run on ${broker.brokers.join(',')}`);
  const orderSweep = { intervalMs: 1_000, staleMs: 15_000 };
  try {
    const shop = await startLocalShop({
      // Fresh PGlite directories: five first starts at once take long on a busy laptop.
      readyTimeoutMs: 180_000,
      kafkaBrokers: broker?.brokers,
      env: localShopEnv(orderSweep),
    });
    print(`started the local shop (run directory ${shop.runDir}), edge ${shop.edgeUrl}`);
    return localEnvironment({
      shop,
      orderSweep,
      kafka: broker,
      close: async () => {
        await shop.stop();
        await broker?.stop();
      },
    });
  } catch (error) {
    await broker?.stop();
    throw error;
  }
}

/** Linux, root and the tools `make mesh` needs, or an error saying what is missing (before anything is synthesized or started). */
export async function meshPreflight(): Promise<void> {
  const { MeshPreflightError, preflight } = await import('../local/mesh/host.js');
  try {
    preflight();
  } catch (error) {
    throw error instanceof MeshPreflightError
      ? new Error(`--mesh runs the shop on a real mesh on this machine and needs Linux and root: ${error.message}`)
      : error;
  }
}

/**
 * The shop from dist/ on the local mesh (local/mesh: a kube-apiserver, istiod, a network namespace
 * per pod with its Envoy sidecar, the ingress gateway); stopped by the environment's close(). Not
 * Linux or not root: an error saying so. `signal` aborts the start-up, which
 * then removes what it made. `shopOptions` go to startMeshShop (the tests pass their apiserver and
 * freshly synthesized manifests).
 */
export async function openMesh(repoRoot: string, print: (line: string) => void, shopOptions: MeshShopOptions = {}): Promise<ChaosEnvironment> {
  await meshPreflight();
  const [{ startMeshShop }, { meshEnvironment }, deployment, { provisionPostgres }] = await Promise.all([
    import('../local/mesh/mesh-shop.js'),
    import('./mesh/environment.js'),
    shopDeployment(repoRoot),
    import('../infra/postgres.js'),
  ]);
  const began = Date.now();
  // gatewayPort 0: the load goes to the gateway pod itself, and a running `make mesh` keeps its 8080.
  const shop = await startMeshShop({ gatewayPort: 0, log: (line) => print(`[mesh] ${line}`), ...shopOptions });
  try {
    print(`the shop on the mesh is ready in ${((Date.now() - began) / 1000).toFixed(0)} s (logs in ${shop.runDir}/logs)`);
    return meshEnvironment({
      ...deployment,
      shop,
      psql: join(provisionPostgres().bindir, 'psql'),
      close: () => shop.stop(),
    });
  } catch (error) {
    await shop.stop();
    throw error;
  }
}

export interface MainDeps {
  readonly print: (line: string) => void;
  readonly progress: (line: string, final: boolean) => void;
  readonly open: (args: ChaosArgs) => Promise<ChaosEnvironment>;
  readonly repoRoot: string;
  readonly signal?: AbortSignal;
}

/** Runs the command line; resolves to the exit code. */
export async function main(argv: readonly string[], deps: MainDeps): Promise<number> {
  let args: ChaosArgs;
  try {
    args = parseArgs(argv);
  } catch (error) {
    deps.print(`${error instanceof Error ? error.message : String(error)}\n\n${usage}`);
    return 2;
  }
  if (args.command === 'help') {
    deps.print(usage);
    return argv.length === 0 ? 2 : 0;
  }
  if (args.command === 'list') {
    for (const s of scenarios) deps.print(`${s.number}  ${s.id}: ${s.title}\n   expect: ${s.expectation}`);
    return 0;
  }
  const files = synthChaos(join(deps.repoRoot, 'dist', 'chaos'));
  deps.print(`fault resources: ${files.map((f) => f.slice(deps.repoRoot.length + 1)).join(', ')}`);
  if (args.command === 'synth') return 0;

  const env = await deps.open(args);
  let reports: ScenarioReport[] = [];
  try {
    const options: RunOptions & { report: (text: string) => void } = {
      timings: args.timings,
      print: (line) => deps.print(`  ${line}`),
      progress: deps.progress,
      signal: deps.signal,
      report: (text) => deps.print(`${text}\n`),
    };
    deps.print(`chaos: ${args.scenarios.length} scenario(s) on ${env.description}`);
    reports = await runScenarios(
      args.scenarios.map((id) => findScenario(id)),
      env,
      options,
    );
  } finally {
    await env.close();
  }
  if (args.json) writeFileSync(args.json, `${JSON.stringify(reports, null, 2)}\n`);
  if (reports.length > 1) for (const line of summary(reports, argv[0] === 'all')) deps.print(line);
  return exitCode(reports, argv[0] === 'all');
}

export { renderReport };

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { realContext } = await import('../cli/main.js');
  const ctx = realContext();
  const controller = new AbortController();
  let interrupts = 0;
  /** The mesh this run started: even a second Ctrl-C stops it first (it owns namespaces, addresses and processes). */
  let stopMesh: (() => Promise<void>) | undefined;
  const onSignal = () => {
    interrupts += 1;
    if (interrupts > 1) {
      if (!stopMesh) process.exit(130);
      if (interrupts > 2) return;
      process.stderr.write('\nquitting: stopping the mesh first (pods, network namespaces, istiod), leaving the fault in place\n');
      void stopMesh().finally(() => process.exit(130));
      return;
    }
    process.stderr.write(
      '\ninterrupted: finishing the current phase, reverting the fault, reporting (Ctrl-C again to quit at once, leaving the fault in place)\n',
    );
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  const print = (line: string) => console.log(line);
  const openMeshOnce = async (): Promise<ChaosEnvironment> => {
    const env = await openMesh(ctx.repoRoot, print, { signal: controller.signal });
    let closed: Promise<void> | undefined;
    const close = () => (closed ??= env.close());
    stopMesh = close;
    return { ...env, close };
  };
  const wantsMesh = process.argv.includes('--mesh');
  (wantsMesh ? meshPreflight() : Promise.resolve())
    .then(() =>
      main(process.argv.slice(2), {
        print,
        progress: progressPrinter((text) => process.stderr.write(text), process.stderr.isTTY === true),
        open: (args) => (args.mesh ? openMeshOnce() : args.local ? openLocal(args.kafka, print) : openCluster(ctx)),
        repoRoot: ctx.repoRoot,
        signal: controller.signal,
      }),
    )
    .then(
      (code) => {
        process.exitCode = code;
        // Handles kept by clients (kafkajs, agents) must not keep a finished run alive.
        setTimeout(() => process.exit(code), 2_000).unref();
      },
      (error: unknown) => {
        console.error(error instanceof Error ? error.message : error);
        process.exitCode = 1;
        setTimeout(() => process.exit(1), 2_000).unref();
      },
    );
}
