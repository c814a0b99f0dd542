/**
 * The whole shop as local processes: one Node process per service, wired from the
 * platform model (charts/platform.ts) exactly as the charts wire the pods, plus an
 * optional in-process stand-in for the Istio ingress gateway (the "local edge").
 *
 * ```ts
 * const shop = await startLocalShop({ kafkaBrokers: ['127.0.0.1:9092'] });
 * await fetch(`${shop.edgeUrl}/products`);
 * await shop.service('notification').restart();
 * await fetch(`${shop.adminUrls.product}/admin/chaos`, { method: 'POST', body: '{"failRate":0.5}', headers: { 'content-type': 'application/json' } });
 * await shop.stop();
 * ```
 *
 * Used by `make dev` (scripts/dev.ts), the end-to-end tests (test/apps/e2e-*.int.test.ts),
 * chaos scenarios and benchmarks. What it is not: a mesh. There is no sidecar, so no mTLS,
 * no mesh retries, timeouts per hop, outlier detection or authorization between services;
 * the services call each other directly. See apps/README.md, "Run the whole shop".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { copyFile, link, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { callGraph, clientTimeoutMarginMs, edgeAuth, serviceSpec, services, topics, type ServiceName } from '../charts/platform.js';
import { verifyAccessToken, type jwks } from './user/domain/tokens.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Every service of the platform model, in the model's order. */
export const SERVICE_NAMES: readonly ServiceName[] = services.map((s) => s.name);

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
   * @default - a fresh directory under the OS temp dir, removed by `stop()`
   */
  readonly runDir?: string;
  /**
   * Called with every line a service writes (stdout and stderr, pino JSON).
   * @default - lines go to `<runDir>/<service>.log` only
   */
  readonly onLog?: (service: ServiceName, line: string) => void;
}

/** One service's process. Its ports stay the same across stop/start, so callers' URLs stay valid. */
export interface LocalService {
  readonly name: ServiceName;
  /** Base URL of the public API: `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Base URL of the admin port: /health/live, /health/ready, /metrics, /admin/chaos. */
  readonly adminUrl: string;
  /** Process id while a process runs; undefined after it stopped or exited. */
  readonly pid: number | undefined;
  /** Milliseconds from spawn to the first /health/ready 200 of the latest start, polled every 100 ms (NaN before). */
  readonly startupMs: number;
  /** How the latest process ended; undefined while it runs or before any ended. */
  readonly lastExit: { readonly code: number | null; readonly signal: NodeJS.Signals | null } | undefined;
  /** Where stdout and stderr go (appended to across restarts). */
  readonly logFile: string;
  /** The last `count` lines (default 25) the service and the launcher wrote about it, oldest first; 500 are kept. */
  logs(count?: number): string[];
  /** Spawns the process and resolves once it is ready; resolves at once when it already runs. */
  start(): Promise<void>;
  /** SIGTERM (graceful: readiness fails, drain, exit), SIGKILL when it overruns its shutdown budget. */
  stop(): Promise<void>;
  /** `stop()` then `start()`. */
  restart(): Promise<void>;
  /**
   * Sends a signal. For SIGKILL, SIGTERM and SIGINT it resolves once the process exited
   * (it is not restarted: call `start()`); for others (SIGSTOP, SIGCONT...) once it is sent.
   * @default 'SIGKILL'
   */
  kill(signal?: NodeJS.Signals): Promise<void>;
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
  /** Stops the edge and every service (in parallel) and removes a run directory it created. */
  stop(): Promise<void>;
}

/** A service did not become ready: names it, says why, and quotes its last log lines. */
export class ServiceStartError extends Error {
  constructor(
    readonly service: ServiceName,
    readonly reason: string,
    readonly lastLines: readonly string[],
  ) {
    super(`${service}: ${reason}; its last log lines:\n${lastLines.length > 0 ? lastLines.map((l) => `    ${l}`).join('\n') : '    (none)'}`);
    this.name = 'ServiceStartError';
  }
}

// ---------------------------------------------------------------------------------------------
// Wiring: the environment the charts give each pod (charts/shop-chart.ts, constructs/meshed-service.ts)

export interface PlatformAddresses {
  /** Public base URL of each service (where the chart puts `http://<name>.shop.svc.cluster.local:8080`). */
  readonly urls: Readonly<Record<ServiceName, string>>;
  /** Kafka bootstrap addresses; none leaves every KAFKA_* variable unset. */
  readonly kafkaBrokers?: readonly string[];
}

/**
 * The platform's own wiring of `service`, derived from the model as charts/shop-chart.ts
 * derives it: SERVICE_NAME; `<CALLEE>_URL` per call-graph edge; HTTP_CLIENT_TIMEOUT_MS
 * (the longest mesh timeout of the routes it calls plus `clientTimeoutMarginMs`);
 * JWT_ISSUER/JWT_AUDIENCE on the service serving the JWKS; KAFKA_* from the topics.
 * Ports and the database are the launcher's business, not part of this.
 */
export function platformEnv(service: ServiceName, at: PlatformAddresses): Record<string, string> {
  const env: Record<string, string> = { SERVICE_NAME: service };
  const edges = callGraph.filter((e) => e.from === service);
  for (const edge of edges) env[`${edge.to.toUpperCase()}_URL`] = at.urls[edge.to];
  const called = edges.flatMap((e) => routesNamed(e.to, e.routes));
  if (called.length > 0) env['HTTP_CLIENT_TIMEOUT_MS'] = String(Math.max(...called.map((r) => r.timeout.toMilliseconds())) + clientTimeoutMarginMs);
  if (service === jwksService()) {
    env['JWT_ISSUER'] = edgeAuth.issuer;
    env['JWT_AUDIENCE'] = edgeAuth.audiences[0];
  }
  const produces = topics.filter((t) => t.producers.includes(service)).map((t) => t.name);
  const consumes = topics.filter((t) => t.consumers.includes(service)).map((t) => t.name);
  if (at.kafkaBrokers && at.kafkaBrokers.length > 0 && (produces.length > 0 || consumes.length > 0)) {
    env['KAFKA_BROKERS'] = at.kafkaBrokers.join(',');
    env['KAFKA_CLIENT_ID'] = service;
    if (produces.length > 0) env['KAFKA_PRODUCE_TOPICS'] = produces.join(',');
    if (consumes.length > 0) {
      env['KAFKA_CONSUME_TOPICS'] = consumes.join(',');
      env['KAFKA_GROUP_ID'] = service;
    }
  }
  return env;
}

function routesNamed(service: ServiceName, descriptions: readonly string[]) {
  const spec = serviceSpec(service);
  return descriptions.map((d) => {
    const route = spec.routes.find((r) => r.description === d);
    if (!route) throw new Error(`the platform model's service '${service}' declares no route '${d}'`);
    return route;
  });
}

/** The service that serves the JWKS the edge verifies tokens with (and so issues them). */
function jwksService(): ServiceName {
  const spec = services.find((s) => s.routes.some((r) => r.path === edgeAuth.jwksPath));
  if (!spec) throw new Error(`no service of the platform model declares a route for ${edgeAuth.jwksPath}`);
  return spec.name;
}

// ---------------------------------------------------------------------------------------------
// Processes

// Every process any shop of this process started: none outlives it, however it ends.
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

const KEPT_LINES = 500;
const READY_POLL_MS = 100;
const ERROR_LINES = 25;

interface ServiceSetup {
  readonly name: ServiceName;
  readonly port: number;
  readonly adminPort: number;
  readonly command: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly logFile: string;
  readonly readyTimeoutMs: number;
  readonly onLog: ((service: ServiceName, line: string) => void) | undefined;
}

class ServiceProcess implements LocalService {
  readonly name: ServiceName;
  readonly url: string;
  readonly adminUrl: string;
  readonly logFile: string;
  startupMs = Number.NaN;
  lastExit: LocalService['lastExit'];
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private starting: Promise<void> | undefined;
  private readonly lines: string[] = [];
  private readonly log: WriteStream;

  constructor(private readonly setup: ServiceSetup) {
    this.name = setup.name;
    this.url = `http://127.0.0.1:${setup.port}`;
    this.adminUrl = `http://127.0.0.1:${setup.adminPort}`;
    this.logFile = setup.logFile;
    this.log = createWriteStream(setup.logFile, { flags: 'a' });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  logs(count = ERROR_LINES): string[] {
    return this.lines.slice(-count);
  }

  start(): Promise<void> {
    if (this.child) return this.starting ?? Promise.resolve();
    this.starting = this.spawnAndWait().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const env = this.setup.env;
    // The kit's own hard stop fires after SHUTDOWN_TIMEOUT_MS + SHUTDOWN_DELAY_MS + 2 s; ours a little later.
    const budgetMs = Number(env['SHUTDOWN_TIMEOUT_MS'] ?? 15_000) + Number(env['SHUTDOWN_DELAY_MS'] ?? 3000) + 5000;
    child.kill('SIGTERM');
    if (!(await this.waitForExit(budgetMs))) {
      this.record(`[local-shop] ${this.name} did not exit within ${budgetMs} ms of SIGTERM: SIGKILL`);
      child.kill('SIGKILL');
      await this.waitForExit(10_000);
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill(signal);
    if (signal === 'SIGKILL' || signal === 'SIGTERM' || signal === 'SIGINT') {
      const budgetMs = signal === 'SIGKILL' ? 10_000 : Number(this.setup.env['SHUTDOWN_TIMEOUT_MS'] ?? 15_000) + 10_000;
      if (!(await this.waitForExit(budgetMs))) throw new Error(`${this.name} (pid ${child.pid}) did not exit within ${budgetMs} ms of ${signal}`);
    }
  }

  /** Closes the log file; the process must be gone. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.log.end(resolve));
  }

  private async spawnAndWait(): Promise<void> {
    const [command, ...args] = this.setup.command as [string, ...string[]];
    const began = performance.now();
    this.record(`[local-shop] starting ${this.name}: ${[command, ...args].join(' ')}`);
    // Its own process group: a Ctrl-C in the terminal reaches the launcher, which stops the services in order.
    const child = spawn(command, args, { cwd: this.setup.cwd, env: this.setup.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child = child;
    this.lastExit = undefined;
    liveChildren.add(child);
    if (child.pid !== undefined) this.record(`[local-shop] ${this.name} runs as pid ${child.pid}`);
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        liveChildren.delete(child);
        this.lastExit = { code, signal };
        if (this.child === child) this.child = undefined;
        this.record(`[local-shop] ${this.name} (pid ${child.pid}) exited with ${signal ?? `code ${code}`}`);
        resolve();
      });
    });
    child.once('error', (err) => this.record(`[local-shop] ${this.name}: ${err.message}`));
    this.pipeLines(child.stdout!);
    this.pipeLines(child.stderr!);

    const deadline = Date.now() + this.setup.readyTimeoutMs;
    let last = 'no answer yet';
    for (;;) {
      if (this.child !== child) {
        // Set by the exit listener meanwhile (TypeScript still sees the `undefined` assigned above).
        const exit = this.lastExit as LocalService['lastExit'];
        const how = exit?.signal ?? `code ${exit?.code}`;
        throw new ServiceStartError(this.name, `exited with ${how} before it was ready`, this.logs());
      }
      try {
        const res = await fetch(`${this.adminUrl}/health/ready`, { signal: AbortSignal.timeout(1000) });
        const body = await res.text();
        if (res.status === 200) break;
        last = `${res.status} ${body.slice(0, 200)}`;
      } catch (err) {
        last = (err as { cause?: { code?: string } }).cause?.code ?? (err instanceof Error ? err.message : String(err));
      }
      if (Date.now() >= deadline) {
        const error = new ServiceStartError(
          this.name,
          `not ready after ${this.setup.readyTimeoutMs} ms (last answer of ${this.adminUrl}/health/ready: ${last})`,
          this.logs(),
        );
        await this.kill('SIGKILL').catch(() => undefined);
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
    }
    this.startupMs = Math.round(performance.now() - began);
  }

  private async waitForExit(timeoutMs: number): Promise<boolean> {
    if (!this.exited) return true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(resolve, timeoutMs, false)));
    const exited = this.exited.then(() => true as const);
    try {
      return await Promise.race([exited, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  private pipeLines(stream: NodeJS.ReadableStream): void {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) this.record(line);
    });
    stream.on('end', () => {
      if (partial) this.record(partial);
      partial = '';
    });
  }

  private record(line: string): void {
    this.lines.push(line);
    if (this.lines.length > KEPT_LINES) this.lines.splice(0, this.lines.length - KEPT_LINES);
    if (this.log.writable) this.log.write(`${line}\n`);
    this.setup.onLog?.(this.name, line);
  }
}

/** Distinct free loopback ports, held together while choosing so that they differ. */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, async () => {
      const server = createNetServer();
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      return server;
    }),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

// ---------------------------------------------------------------------------------------------
// Bundles

async function newestSourceMtime(dirs: readonly string[]): Promise<number> {
  let newest = 0;
  for (const dir of dirs) {
    for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
      const parent = entry.parentPath;
      if (!entry.isFile() || !entry.name.endsWith('.ts') || parent.split(/[\\/]/).includes('dist')) continue;
      newest = Math.max(newest, (await stat(join(parent, entry.name))).mtimeMs);
    }
  }
  return newest;
}

/** Builds apps/<service>/dist when missing or older than the kit, the service or the lockfile, then snapshots it. */
async function snapshotBundle(service: ServiceName, into: string): Promise<string> {
  const dist = join(root, 'apps', service, 'dist');
  const built = await stat(join(dist, 'main.js')).then(
    (s) => s.mtimeMs,
    () => undefined,
  );
  const sources = Math.max(
    await newestSourceMtime([join(root, 'apps', 'kit'), join(root, 'apps', service)]),
    (await stat(join(root, 'package-lock.json'))).mtimeMs,
  );
  if (built === undefined || built < sources) {
    const { buildService } = await import('../scripts/build-services.js');
    await buildService(service);
  }
  // Hard links cost nothing and survive a later rebuild (which removes and rewrites dist/); copies across file systems.
  await rm(into, { recursive: true, force: true });
  await mkdir(into, { recursive: true });
  for (const file of await readdir(dist)) {
    await link(join(dist, file), join(into, file)).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EXDEV' && err.code !== 'EPERM') throw err;
      await copyFile(join(dist, file), join(into, file));
    });
  }
  return join(into, 'main.js');
}

// ---------------------------------------------------------------------------------------------
// Kafka topics, as the Strimzi KafkaTopics of charts/kafka-chart.ts would create them

async function ensureTopics(brokers: readonly string[]): Promise<void> {
  const admin = new Kafka({
    clientId: 'meshkit-local-shop',
    brokers: [...brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    requestTimeout: 10_000,
    retry: { retries: 3 },
  }).admin();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Kafka at ${brokers.join(',')} did not answer within 30 s`)), 30_000);
  });
  try {
    await Promise.race([
      (async () => {
        await admin.connect();
        const existing = new Set(await admin.listTopics());
        const missing = topics.filter((t) => !existing.has(t.name));
        if (missing.length > 0) {
          await admin.createTopics({ waitForLeaders: true, topics: missing.map((t) => ({ topic: t.name, numPartitions: t.partitions })) });
        }
      })(),
      timeout,
    ]);
  } catch (err) {
    throw new Error(`cannot create the platform's topics on Kafka at ${brokers.join(',')}: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    clearTimeout(timer);
    await admin.disconnect().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// The shop

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
    if (ownRunDir) await rm(runDir, { recursive: true, force: true });
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
          const entry = runtime === 'bundle' ? await snapshotBundle(name, join(runDir, 'bundles', name)) : join(root, 'apps', name, 'main.ts');
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
        PORT: String(portOf(name, false)),
        ADMIN_PORT: String(portOf(name, true)),
        HOST: '127.0.0.1',
        ...(databaseUrl ? { DATABASE_URL: databaseUrl } : { PGLITE_DATA_DIR: dataDir }),
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
          cwd: runtime === 'bundle' ? dirname(entry) : root,
          env,
          logFile: join(runDir, `${name}.log`),
          readyTimeoutMs: options.readyTimeoutMs ?? 60_000,
          onLog: options.onLog,
        }),
      );
    }

    // The edge first: a taken edge port fails the start before any service runs.
    if (options.edgePort !== false) {
      edge = await startLocalEdge({ upstreams: urls, port: options.edgePort ?? 0 }).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'EADDRINUSE')
          throw new Error(`the local edge cannot listen on 127.0.0.1:${options.edgePort}: the port is taken (choose another, or 0 for any free port)`);
        throw err;
      });
    }
    // Ports are fixed up front, so every service can start at once (order only calls the others per request).
    const results = await Promise.allSettled(started.map((s) => s.start()));
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason instanceof Error ? r.reason.message : String(r.reason)] : []));
    if (failures.length > 0) throw new Error(`the local shop did not start${ownRunDir ? '' : ` (logs in ${runDir})`}:\n${failures.join('\n')}`);

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

/** What a service process gets from ours: enough to run Node, nothing that could configure the service by accident. */
function inheritedEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

// ---------------------------------------------------------------------------------------------
// The local edge: a stand-in for the Istio ingress gateway of mesh/edge-gateway.ts

export interface LocalEdgeOptions {
  /** Public base URL of each service. */
  readonly upstreams: Readonly<Record<ServiceName, string>>;
  /**
   * Port on 127.0.0.1 (0: any free port).
   * @default 0
   */
  readonly port?: number;
}

export interface LocalEdge {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  stop(): Promise<void>;
}

interface EdgeRoute {
  readonly service: ServiceName;
  readonly methods: readonly string[];
  readonly path: RegExp;
  readonly timeoutMs: number;
  readonly requireJwt: boolean;
}

type Jwks = ReturnType<typeof jwks>;

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** The routes the edge exposes: the model's publicRoutes, with each route's mesh timeout and whether it needs a JWT. */
function edgeRoutes(): EdgeRoute[] {
  return services.flatMap((spec) =>
    routesNamed(spec.name, spec.publicRoutes).map((route) => ({
      service: spec.name,
      methods: route.methods,
      path: new RegExp(route.pathRegex),
      timeoutMs: route.timeout.toMilliseconds(),
      requireJwt: spec.jwtRoutes.includes(route.description),
    })),
  );
}

/**
 * A local stand-in for the Istio ingress gateway, with the semantics of mesh/edge-gateway.ts:
 * - only the model's public routes are routed (anything else: 404, as the VirtualService);
 * - a bearer token present on any request must verify (EdDSA against the user service's JWKS,
 *   issuer and audience from `edgeAuth`, expiry) or the request gets 401, as RequestAuthentication;
 * - a jwtRoute without a token gets 403, as the DENY AuthorizationPolicy (`notRequestPrincipals`);
 * - a client's own x-user-id is always dropped; a verified token's `sub` is sent as x-user-id and
 *   the token itself is not forwarded (Istio's `forwardOriginalToken: false`);
 * - each route's mesh timeout applies (504), an unreachable service is a 503, an x-request-id is
 *   added when missing.
 * It is not Envoy: no retries, no outlier detection, no connection pools, no mTLS.
 */
export async function startLocalEdge(options: LocalEdgeOptions): Promise<LocalEdge> {
  const routes = edgeRoutes();
  const agent = new Agent({ keepAlive: true, timeout: 30_000 });
  const jwksUrl = `${options.upstreams[jwksService()]}${edgeAuth.jwksPath}`;
  let keys: { set: Jwks; fetchedAt: number } | undefined;

  const loadKeys = async (refresh: boolean): Promise<Jwks> => {
    // As Envoy: cache the set, fetch again at most once a second when a token names an unknown key.
    if (keys && (!refresh || Date.now() - keys.fetchedAt < 1000) && Date.now() - keys.fetchedAt < 300_000) return keys.set;
    const res = await fetch(jwksUrl, { signal: AbortSignal.timeout(2000) });
    if (res.status !== 200) throw new Error(`JWKS fetch answered ${res.status}`);
    keys = { set: (await res.json()) as Jwks, fetchedAt: Date.now() };
    return keys.set;
  };

  const verify = async (token: string): Promise<string> => {
    const kid = (() => {
      try {
        return (JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as { kid?: string }).kid;
      } catch {
        return undefined;
      }
    })();
    let set = await loadKeys(false);
    if (kid !== undefined && !set.keys.some((k) => k.kid === kid)) set = await loadKeys(true);
    let lastError: unknown;
    for (const aud of edgeAuth.audiences) {
      try {
        return verifyAccessToken(token, set, { iss: edgeAuth.issuer, aud }).sub;
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError;
  };

  const reply = (res: ServerResponse, status: number, text: string) => {
    if (res.headersSent) return void res.destroy();
    res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text), server: 'meshkit-local-edge' });
    res.end(text);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://edge.local');
    const method = req.method ?? 'GET';
    let userId: string | undefined;
    // As Envoy's jwt_authn: a token is an `Authorization: Bearer` header; any other scheme is no token.
    const token = /^Bearer\s+(.*)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim();
    if (token !== undefined) {
      try {
        userId = await verify(token);
      } catch (err) {
        return reply(res, 401, `Jwt verification fails (${err instanceof Error ? err.message : String(err)})`);
      }
    }
    const route = routes.find((r) => r.methods.includes(method) && r.path.test(url.pathname));
    if (route?.requireJwt && userId === undefined) return reply(res, 403, 'RBAC: access denied');
    if (!route) return reply(res, 404, '');

    const headers: IncomingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (HOP_BY_HOP.has(name) || name === edgeAuth.userIdHeader || name === 'host' || (name === 'authorization' && token !== undefined)) continue;
      headers[name] = value;
    }
    if (userId !== undefined) headers[edgeAuth.userIdHeader] = userId;
    headers['x-request-id'] ??= randomUUID();
    headers['x-forwarded-for'] = [req.headers['x-forwarded-for'], req.socket.remoteAddress].filter(Boolean).join(', ');
    headers['x-forwarded-proto'] = 'http';

    const upstream = new URL(`${url.pathname}${url.search}`, options.upstreams[route.service]);
    const proxied = httpRequest(upstream, { method, headers, agent });
    const timer = setTimeout(() => {
      proxied.destroy(new Error('route timeout'));
      reply(res, 504, 'upstream request timeout');
    }, route.timeoutMs);
    proxied.on('response', (answer) => {
      const out: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
      res.writeHead(answer.statusCode ?? 502, out);
      answer.pipe(res);
      answer.on('end', () => clearTimeout(timer));
      answer.on('error', () => res.destroy());
    });
    proxied.on('error', (err) => {
      clearTimeout(timer);
      if (err.message === 'route timeout') return;
      reply(res, 503, `upstream connect error or disconnect/reset before headers. reset reason: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
    });
    res.on('close', () => {
      clearTimeout(timer);
      if (!res.writableFinished) proxied.destroy();
    });
    req.pipe(proxied);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => reply(res, 500, `local edge: ${err instanceof Error ? err.message : String(err)}`));
  });
  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  let stopping: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      (stopping ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
        agent.destroy();
      })()),
  };
}
