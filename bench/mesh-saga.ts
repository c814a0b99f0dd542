/**
 * `npm run bench:mesh-saga`: the order saga through a real Istio mesh. The whole shop on
 * local/mesh (`startMeshShop`: the synthesized platform applied to its own kube-apiserver,
 * istiod, every shop pod with pilot-agent + Envoy and Istio's interception, STRICT mTLS, the
 * AuthorizationPolicies, the ingress gateway verifying JWTs), and POST /orders sent to the
 * gateway at fixed open-loop rates by a user who registered and logged in through it.
 * Per rate: orders confirmed (201) and failed by status, latency from when each order was due
 * (p50/p90/p99), and CPU per order of every process of the shop by pod and role (app, Envoy,
 * pilot-agent), istiod and this process (load generator and the node's controllers).
 * Needs Linux and root (network namespaces).
 *
 * Usage: tsx bench/mesh-saga.ts [--rates 5,10,20] [--seconds 8] [--warmup-seconds 2]
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildPlatform } from '../charts/platform-app.js';
import { parseObjects } from '../manifests/parse.js';
import { startMeshShop, type MeshShop } from '../local/mesh/mesh-shop.js';
import { aboveIdle, cpuMsPer, cpuSeconds, idleCpuMs } from './lib/cpu.js';
import { openLoop, type LoadResult } from './lib/http-load.js';
import { loadNow } from './lib/machine.js';
import { benchProcess } from './lib/mesh-saga.js';
import { log, runScript, runSection } from './lib/results.js';

const section = 'meshSaga';

/** Every pid of the trees rooted at `roots`, from one read of /proc. */
function descendants(roots: readonly number[]): number[] {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const tree = new Set(roots.filter((pid) => parents.has(pid)));
  for (let grown = true; grown;) {
    grown = false;
    for (const [pid, ppid] of parents) {
      if (tree.has(ppid) && !tree.has(pid)) {
        tree.add(pid);
        grown = true;
      }
    }
  }
  return [...tree];
}

/** `envoy`, `pilot-agent` or `app`, by the program a process runs. */
function roleOf(pid: number): 'envoy' | 'pilot-agent' | 'app' {
  try {
    const program = basename(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '');
    return program === 'envoy' ? 'envoy' : program === 'pilot-agent' ? 'pilot-agent' : 'app';
  } catch {
    return 'app';
  }
}

/** The pod's app label (its Deployment or StatefulSet; the Strimzi cluster for Kafka, `istio-ingressgateway` for the gateway). */
function workloadOf(labels: Record<string, string> | undefined, name: string): string {
  return labels?.app ?? labels?.['strimzi.io/cluster'] ?? (labels?.istio === 'ingressgateway' ? 'istio-ingressgateway' : name);
}

/**
 * CPU groups `<workload>/<role>` over every replica, re-resolved at each read (a pod that
 * restarts keeps its group), plus istiod and this process.
 */
function cpuGroups(shop: MeshShop): Record<string, () => number[]> {
  const pidsByGroup = (): Map<string, number[]> => {
    const groups = new Map<string, number[]>();
    for (const pod of shop.pods()) {
      const roots = [...pod.containers.map((c) => c.process?.pid), ...(pod.sidecar?.pids ?? [])].filter((p): p is number => p !== undefined);
      const workload = workloadOf(pod.object.metadata.labels as Record<string, string> | undefined, pod.name);
      for (const pid of descendants(roots)) {
        const key = `${workload}/${roleOf(pid)}`;
        groups.set(key, [...(groups.get(key) ?? []), pid]);
      }
    }
    return groups;
  };
  const names = [...pidsByGroup().keys()].sort();
  return {
    ...Object.fromEntries(names.map((name) => [name, () => pidsByGroup().get(name) ?? []])),
    istiod: () => (shop.istiod ? descendants([shop.istiod.process.pid]) : []),
    [benchProcess]: () => [process.pid],
  };
}

async function call(
  gatewayUrl: string,
  method: string,
  path: string,
  body: unknown,
  token?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${gatewayUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function measure(options: { rates: number[]; seconds: number; warmupSeconds: number }): Promise<unknown> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    throw new Error(
      'bench:mesh-saga needs Linux and root: every pod gets its own network namespace (veth pairs, a bridge, iptables). Run `sudo npm run bench:mesh-saga`.',
    );
  }
  // The platform as `make synth` writes it, synthesized here so a fresh clone needs no dist/.
  const outdir = mkdtempSync(join(tmpdir(), 'meshkit-mesh-saga-'));
  const platform = buildPlatform({ outdir });
  platform.app.synth();
  const manifests = readdirSync(outdir)
    .sort()
    .flatMap((file) => parseObjects(readFileSync(join(outdir, file), 'utf8'), file));
  rmSync(outdir, { recursive: true, force: true });

  const began = performance.now();
  log(section, 'starting the shop on the mesh (local/mesh/mesh-shop.ts; its own kube-apiserver)');
  const shop = await startMeshShop({
    manifests,
    secrets: platform.requiredSecrets,
    gatewayPort: 0,
    readyTimeoutMs: 900_000,
    log: (line) => log(section, `[mesh] ${line}`),
  });
  const onSignal = (signal: NodeJS.Signals) => {
    log(section, `${signal}: stopping the shop`);
    void shop.stop().finally(() => process.exit(130));
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, onSignal);
  try {
    const shopReadySeconds = Math.round((performance.now() - began) / 100) / 10;
    const gateway = shop.gatewayUrl!;
    log(section, `shop ready in ${shopReadySeconds} s; gateway ${gateway}\n${shop.describe()}`);

    const email = `bench-${randomUUID()}@example.org`;
    const registered = await call(gateway, 'POST', '/users', { email, password: 'correct horse battery', name: 'Bench' });
    if (registered.status !== 201) throw new Error(`POST /users through the gateway answered ${registered.status}: ${JSON.stringify(registered.body)}`);
    const session = await call(gateway, 'POST', '/sessions', { email, password: 'correct horse battery' });
    const token = session.body.accessToken as string | undefined;
    if (!token) throw new Error(`POST /sessions through the gateway answered ${session.status} without an accessToken`);

    // The seeded catalog (a few hundred units): each order takes one unit of the product with the most left, so stock lasts the run.
    const listed = await call(gateway, 'GET', '/products', undefined, token);
    const products = (Array.isArray(listed.body) ? listed.body : (listed.body.products as { id: string; available: number }[])) as {
      id: string;
      available: number;
    }[];
    const stock = new Map(products.map((p) => [p.id, p.available]));
    const planned = options.rates.reduce((sum, rate) => sum + rate * (options.seconds + options.warmupSeconds), 0);
    const units = [...stock.values()].reduce((a, b) => a + b, 0);
    if (units < planned) throw new Error(`the catalog holds ${units} units, fewer than the ${planned} orders planned: lower --rates or --seconds`);
    const nextProduct = (): string => {
      const [id] = [...stock.entries()].reduce((best, entry) => (entry[1] > best[1] ? entry : best));
      stock.set(id, stock.get(id)! - 1);
      return id;
    };

    const groups = cpuGroups(shop);
    const idleCpuMsPerSecond = await idleCpuMs(groups);
    log(section, `idle shop on the mesh: ${idleCpuMsPerSecond['total']} ms of CPU per second`);

    const runs: (LoadResult & {
      load: ReturnType<typeof loadNow>;
      loadAfter: ReturnType<typeof loadNow>;
      cpuMsPerOrder: Record<string, number>;
      marginalCpuMsPerOrder: Record<string, number>;
    })[] = [];
    for (const rate of options.rates) {
      const load = loadNow();
      const before = cpuSeconds(groups);
      const runBegan = performance.now();
      const result = await openLoop(
        {
          baseUrl: gateway,
          next: () => ({
            method: 'POST',
            path: '/orders',
            headers: { authorization: `Bearer ${token}`, 'idempotency-key': randomUUID() },
            body: JSON.stringify({ items: [{ productId: nextProduct(), quantity: 1 }], paymentToken: 'tok_visa' }),
          }),
          ok: (status) => status === 201,
        },
        { rate, warmupMs: options.warmupSeconds * 1000, durationMs: options.seconds * 1000, maxSockets: 256 },
      );
      const wallSeconds = (performance.now() - runBegan) / 1000;
      const cpuMsPerOrder = cpuMsPer(before, cpuSeconds(groups), result.totalSent);
      // Less what the shop burns idle over the same wall time: what the orders themselves cost.
      const marginalCpuMsPerOrder = aboveIdle(cpuMsPerOrder, idleCpuMsPerSecond, wallSeconds, result.totalSent);
      const loadAfter = loadNow();
      log(
        section,
        `${rate} orders/s: ${result.completed} confirmed, ${result.failed} failed ${JSON.stringify(result.statuses)}; p50 ${result.latency.p50Ms} ms, p99 ${result.latency.p99Ms} ms; CPU ${cpuMsPerOrder['total']} ms/order (${marginalCpuMsPerOrder['total']} above idle); load ${load.load1} -> ${loadAfter.load1}`,
      );
      runs.push({ ...result, load, loadAfter, cpuMsPerOrder, marginalCpuMsPerOrder });
    }
    return {
      date: new Date().toISOString().slice(0, 10),
      notes: {
        path: 'client (this process) -> 127.0.0.1 port-forward -> ingress gateway Envoy (JWT verified) -> order pod sidecar -> order app -> user, product (twice), payment through both sidecars (STRICT mTLS); each service -> its PostgreSQL pod through both sidecars; outbox -> Kafka',
        order:
          'POST /orders {one unit of the product with the most stock, paymentToken tok_visa}, Bearer token of a user registered through the gateway, a fresh Idempotency-Key; 201 = CONFIRMED',
        latency: 'open loop (bench/lib/http-load.ts): from when each order was due, not when it left',
      },
      shopReadySeconds,
      pods: shop.pods().length,
      warmupSeconds: options.warmupSeconds,
      seconds: options.seconds,
      idleCpuMsPerSecond,
      runs,
    };
  } finally {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeListener(signal, onSignal);
    log(section, 'stopping the shop');
    await shop.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { rates: { type: 'string', default: '5,10,20' }, seconds: { type: 'string', default: '8' }, 'warmup-seconds': { type: 'string', default: '2' } },
  });
  const options = { rates: values.rates.split(',').map(Number), seconds: Number(values.seconds), warmupSeconds: Number(values['warmup-seconds']) };
  if (options.rates.some((r) => !(r > 0 && r <= 200)))
    throw new Error(`'--rates' (${values.rates}) must be orders per second from 1 to 200, comma-separated (e.g. 5,10,20)`);
  await runSection(
    section,
    `npm run bench:mesh-saga -- --rates ${options.rates.join(',')} --seconds ${options.seconds} --warmup-seconds ${options.warmupSeconds}`,
    () => measure(options),
  );
}

runScript(main);
