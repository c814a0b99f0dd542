/**
 * One local service as a process: spawned with its wiring, its output in `<runDir>/<service>.log`,
 * ready when its /health/ready answers 200, stopped with SIGTERM (graceful) then SIGKILL. No
 * process outlives the launcher, however the launcher ends: an exit hook kills what is left, and
 * a detached watchdog per process stops it when the launcher itself was killed with SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import type { ServiceName } from '../../charts/platform.js';
import { waitForReady } from './readiness.js';

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
  /** Its database: a PostgreSQL URL, or the directory of its embedded PGlite. */
  readonly database: { readonly url: string } | { readonly pgliteDataDir: string };
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

// Every process any shop of this process started: none outlives it, however it ends.
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

/**
 * A detached shell that outlives the launcher only to stop `pid` once the launcher is gone
 * (SIGKILL skips exit hooks): it ignores the terminal's signals, sends SIGTERM, then SIGKILL
 * after `graceSeconds`, and ends by itself when the service does.
 */
function watchdog(pid: number, graceSeconds: number): ChildProcess {
  const script =
    `trap '' INT TERM HUP; while kill -0 ${process.pid} 2>/dev/null && kill -0 ${pid} 2>/dev/null; do sleep 1; done; ` +
    `if kill -0 ${pid} 2>/dev/null; then kill -TERM ${pid}; i=0; ` +
    `while kill -0 ${pid} 2>/dev/null && [ $i -lt ${graceSeconds} ]; do sleep 1; i=$((i+1)); done; kill -KILL ${pid} 2>/dev/null; fi`;
  const child = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' });
  child.unref();
  return child;
}

function killGroup(pgid: number | undefined): void {
  if (!pgid) return;
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // already gone
  }
}

const KEPT_LINES = 500;
const ERROR_LINES = 25;

export interface ServiceSetup {
  readonly name: ServiceName;
  readonly port: number;
  readonly adminPort: number;
  readonly command: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly logFile: string;
  readonly database: LocalService['database'];
  readonly readyTimeoutMs: number;
  readonly onLog: ((service: ServiceName, line: string) => void) | undefined;
}

export class ServiceProcess implements LocalService {
  readonly name: ServiceName;
  readonly url: string;
  readonly adminUrl: string;
  readonly logFile: string;
  readonly database: LocalService['database'];
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
    this.database = setup.database;
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

  /** The kit's own hard stop fires after SHUTDOWN_TIMEOUT_MS + SHUTDOWN_DELAY_MS + 2 s; ours a little later. */
  private get stopBudgetMs(): number {
    const env = this.setup.env;
    return Number(env['SHUTDOWN_TIMEOUT_MS'] ?? 15_000) + Number(env['SHUTDOWN_DELAY_MS'] ?? 3000) + 5000;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const budgetMs = this.stopBudgetMs;
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
    const guard = child.pid !== undefined ? watchdog(child.pid, Math.ceil(this.stopBudgetMs / 1000)) : undefined;
    if (child.pid !== undefined) this.record(`[local-shop] ${this.name} runs as pid ${child.pid}`);
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        liveChildren.delete(child);
        killGroup(guard?.pid);
        this.lastExit = { code, signal };
        if (this.child === child) this.child = undefined;
        this.record(`[local-shop] ${this.name} (pid ${child.pid}) exited with ${signal ?? `code ${code}`}`);
        resolve();
      });
    });
    child.once('error', (err) => this.record(`[local-shop] ${this.name}: ${err.message}`));
    this.pipeLines(child.stdout!);
    this.pipeLines(child.stderr!);

    const outcome = await waitForReady(this.adminUrl, { timeoutMs: this.setup.readyTimeoutMs, began, gone: () => this.child !== child });
    if (outcome.ready) {
      this.startupMs = outcome.ms;
      return;
    }
    if (outcome.exited) {
      const exit = this.lastExit as LocalService['lastExit'];
      throw new ServiceStartError(this.name, `exited with ${exit?.signal ?? `code ${exit?.code}`} before it was ready`, this.logs());
    }
    const error = new ServiceStartError(
      this.name,
      `not ready after ${this.setup.readyTimeoutMs} ms (last answer of ${this.adminUrl}/health/ready: ${outcome.lastAnswer})`,
      this.logs(),
    );
    await this.kill('SIGKILL').catch(() => undefined);
    throw error;
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
export async function freePorts(count: number): Promise<number[]> {
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
