/**
 * The whole shop as local processes: one Node process per service, wired from the
 * platform model (charts/pod-env.ts) exactly as the charts wire the pods, plus an
 * optional in-process stand-in for the Istio ingress gateway (the "local edge").
 *
 * ```ts
 * const shop = await startLocalShop({ kafkaBrokers: ['127.0.0.1:9092'] });
 * await fetch(`${shop.edgeUrl}/products`);
 * await shop.service('notification').restart();
 * await shop.stop();
 * ```
 *
 * Used by `make dev` (local/dev/main.ts), the end-to-end tests (test/apps/e2e-*.int.test.ts),
 * chaos scenarios and benchmarks. What it is not: a mesh. There is no sidecar, so no mTLS,
 * no mesh retries, timeouts per hop, outlier detection or authorization between services;
 * the services call each other directly. See local/dev/README.md.
 *
 * The concerns live apart: wiring.ts (environment and topics from the model), processes.ts
 * (spawn, stop, watchdog), readiness.ts, bundles.ts, edge.ts + edge-jwt.ts (the local edge),
 * banner.ts and signals.ts (what `make dev` prints and how it stops).
 */
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ServiceName } from '../../charts/platform.js';
import { envNames } from '../../contract/env.js';
import { snapshotBundle } from './bundles.js';
import { startLocalEdge, type LocalEdge } from './edge.js';
import { repoRoot } from './paths.js';
import { freePorts, ServiceProcess, type LocalService } from './processes.js';
import { ensureTopics, inheritedEnv, platformEnv, SERVICE_NAMES } from './wiring.js';

export interface LocalShopOptions {
  /**
   * How each service runs: `'bundle'` is `node apps/<name>/dist/main.js` (what the image runs;
   * built with scripts/build-services.ts when missing or older than its sources, then
   * snapshotted into the run directory so a rebuild cannot change a running shop);
   * `'source'` is `node --import tsx apps/<name>/main.ts`.
   * @default 'bundle'
   */
  readonly runtime?: 'bundle' | 'source';
  /**
   * The PostgreSQL URL of a service's own database (one database per service, as on
   * Kubernetes). Called once per service at start; restarts keep the database.
   * @default - an embedded PGlite per service in `<runDir>/data/<service>`
   */
  readonly databaseUrlFor?: (service: ServiceName) => string | undefined | Promise<string | undefined>;
  /**
   * Kafka bootstrap addresses (`host:port`). The model's topics are created with their
   * partition counts when missing, as the Strimzi KafkaTopics would be.
   * @default - Kafka off: events wait in the outbox, notification consumes nothing
   */
  readonly kafkaBrokers?: readonly string[];
  /**
   * Port of the local edge on 127.0.0.1 (0: any free port), or `false` for no edge.
   * @default 0
   */
  readonly edgePort?: number | false;
  /**
   * Extra environment per service, applied after the platform's wiring (LOG_LEVEL,
   * SWEEP_INTERVAL_MS, a test's own KAFKA_GROUP_ID...). The launcher's own choices can be
   * overridden here too: SHUTDOWN_DELAY_MS is 0 locally (no endpoints to wait for).
   * @default - none
   */
  readonly env?: Partial<Record<ServiceName, Readonly<Record<string, string>>>>;
  /**
   * How long each service may take from spawn to its first `GET /health/ready` 200.
   * @default 60000
   */
  readonly readyTimeoutMs?: number;
  /**
   * Directory of the run: `<service>.log`, PGlite data (`data/<service>`), bundle snapshots.
   * A given directory is kept by `stop()`, so PGlite data survives to the next run.
   * @default - a fresh directory under the OS temp dir, removed by `stop()` (see `keepLogs`)
   */
  readonly runDir?: string;
  /**
   * With a run directory of the launcher's own: `stop()` removes the bundles and PGlite data
   * but keeps the `*.log` files, so a stopped shop can still be read (`make dev` does).
   * @default false
   */
  readonly keepLogs?: boolean;
  /**
   * What the edge answers at `GET /.meshkit/local` (local/dev/edge.ts `localStatusPath`).
   * @default - no such path
   */
  readonly edgeStatus?: () => unknown;
  /**
   * Called with every line a service writes (stdout and stderr, pino JSON).
   * @default - lines go to `<runDir>/<service>.log` only
   */
  readonly onLog?: (service: ServiceName, line: string) => void;
}

export interface LocalShop {
  /** Public API base URL of each service. */
  readonly urls: Readonly<Record<ServiceName, string>>;
  /** Admin base URL of each service. */
  readonly adminUrls: Readonly<Record<ServiceName, string>>;
  /** Base URL of the local edge (the public API as through the ingress gateway); undefined with `edgePort: false`. */
  readonly edgeUrl: string | undefined;
  /** The run directory (logs, PGlite data). */
  readonly runDir: string;
  service(name: ServiceName): LocalService;
  /** Stops the edge and every service (in parallel); removes a run directory it created (its logs stay with `keepLogs`). */
  stop(): Promise<void>;
}

/** The port-taken message of the edge, naming the setting that chooses the port. */
export function edgePortTaken(port: number | undefined): string {
  return `the local edge cannot listen on 127.0.0.1:${port}: the port is taken (set EDGE_PORT to another port, or EDGE_PORT=0 for any free port)`;
}

/** Removes everything of a run directory but its log files (bundle snapshots, PGlite data). */
export async function keepOnlyLogs(runDir: string): Promise<void> {
  for (const entry of await readdir(runDir, { withFileTypes: true }).catch(() => [])) {
    if (entry.isFile() && entry.name.endsWith('.log')) continue;
    await rm(join(runDir, entry.name), { recursive: true, force: true });
  }
}

/** Starts every service of the model as a local process and, unless `edgePort: false`, the local edge. */
export async function startLocalShop(options: LocalShopOptions = {}): Promise<LocalShop> {
  const runtime = options.runtime ?? 'bundle';
  const ownRunDir = options.runDir === undefined;
  const runDir = options.runDir ?? (await mkdtemp(join(tmpdir(), 'meshkit-local-shop-')));
  await mkdir(runDir, { recursive: true });
  const started: ServiceProcess[] = [];
  let edge: LocalEdge | undefined;
  const cleanUp = async () => {
    await edge?.stop();
    await Promise.allSettled(started.map((s) => s.stop()));
    await Promise.allSettled(started.map((s) => s.close()));
    if (ownRunDir) {
      if (options.keepLogs) await keepOnlyLogs(runDir);
      else await rm(runDir, { recursive: true, force: true });
    }
  };

  try {
    const ports = await freePorts(SERVICE_NAMES.length * 2);
    const portOf = (name: ServiceName, admin: boolean) => ports[SERVICE_NAMES.indexOf(name) * 2 + (admin ? 1 : 0)]!;
    const urls = Object.fromEntries(SERVICE_NAMES.map((n) => [n, `http://127.0.0.1:${portOf(n, false)}`])) as Record<ServiceName, string>;
    const adminUrls = Object.fromEntries(SERVICE_NAMES.map((n) => [n, `http://127.0.0.1:${portOf(n, true)}`])) as Record<ServiceName, string>;
    const kafkaBrokers = options.kafkaBrokers && options.kafkaBrokers.length > 0 ? options.kafkaBrokers : undefined;

    const [entries] = await Promise.all([
      Promise.all(
        SERVICE_NAMES.map(async (name) => {
          const entry = runtime === 'bundle' ? await snapshotBundle(name, join(runDir, 'bundles', name)) : join(repoRoot, 'apps', name, 'main.ts');
          return [name, entry] as const;
        }),
      ),
      kafkaBrokers ? ensureTopics(kafkaBrokers) : Promise.resolve(),
    ]);
    const entryOf = new Map(entries);

    for (const name of SERVICE_NAMES) {
      const databaseUrl = await options.databaseUrlFor?.(name);
      const dataDir = join(runDir, 'data', name);
      if (!databaseUrl) await mkdir(dataDir, { recursive: true });
      const env: Record<string, string> = {
        ...inheritedEnv(),
        [envNames.port]: String(portOf(name, false)),
        [envNames.adminPort]: String(portOf(name, true)),
        [envNames.host]: '127.0.0.1',
        ...(databaseUrl ? { [envNames.databaseUrl]: databaseUrl } : { PGLITE_DATA_DIR: dataDir }),
        // No endpoints to update locally: the drain starts at once (Kubernetes waits 3 s for them).
        SHUTDOWN_DELAY_MS: '0',
        ...platformEnv(name, { urls, ...(kafkaBrokers ? { kafkaBrokers } : {}) }),
        ...options.env?.[name],
      };
      const entry = entryOf.get(name)!;
      started.push(
        new ServiceProcess({
          name,
          port: portOf(name, false),
          adminPort: portOf(name, true),
          command: runtime === 'bundle' ? [process.execPath, entry] : [process.execPath, '--import', 'tsx', entry],
          cwd: runtime === 'bundle' ? dirname(entry) : repoRoot,
          env,
          logFile: join(runDir, `${name}.log`),
          database: databaseUrl ? { url: databaseUrl } : { pgliteDataDir: dataDir },
          readyTimeoutMs: options.readyTimeoutMs ?? 60_000,
          onLog: options.onLog,
        }),
      );
    }

    // The edge first: a taken edge port fails the start before any service runs.
    if (options.edgePort !== false) {
      edge = await startLocalEdge({ upstreams: urls, port: options.edgePort ?? 0, ...(options.edgeStatus ? { status: options.edgeStatus } : {}) }).catch(
        (err: NodeJS.ErrnoException) => {
          if (err.code === 'EADDRINUSE') throw new Error(edgePortTaken(options.edgePort === false ? undefined : options.edgePort));
          throw err;
        },
      );
    }
    // Ports are fixed up front, so every service can start at once (order only calls the others per request).
    const results = await Promise.allSettled(started.map((s) => s.start()));
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason instanceof Error ? r.reason.message : String(r.reason)] : []));
    if (failures.length > 0)
      throw new Error(`the local shop did not start${ownRunDir && !options.keepLogs ? '' : ` (logs in ${runDir})`}:\n${failures.join('\n')}`);

    const byName = new Map(started.map((s) => [s.name, s]));
    let stopping: Promise<void> | undefined;
    return {
      urls,
      adminUrls,
      edgeUrl: edge?.url,
      runDir,
      service(name) {
        const service = byName.get(name);
        if (!service) throw new Error(`the local shop runs no service '${name}' (it runs ${SERVICE_NAMES.join(', ')})`);
        return service;
      },
      stop: () => (stopping ??= cleanUp()),
    };
  } catch (err) {
    await cleanUp();
    throw err;
  }
}
