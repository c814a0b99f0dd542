/**
 * What every long-running test server of the harness needs (etcd, kube-apiserver, the
 * Kafka JVM, the postmaster): free loopback ports, throwaway run directories, a spawn
 * that logs to a file, readiness polling that fails with the end of that log, and the
 * guarantee that no server and no run directory outlives the test run, however it ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, fstatSync, mkdtempSync, openSync, readdirSync, readSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { ComponentError } from './component-error.js';

/** Distinct free loopback ports, held together while choosing so that they differ. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** One free loopback port. */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port!;
}

// Everything this process started or made, removed synchronously on exit: a run that
// forgets stop() (or throws past it) leaves no server and no run directory behind.
const live = new Set<ChildProcess>();
const runDirs = new Set<string>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
  for (const dir of runDirs) rmSync(dir, { recursive: true, force: true });
});

/** True while a process with this id exists (EPERM: it does, it just is not ours). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the `<prefix><pid>-…` entries of `root` whose process is gone: what a test
 * run killed with SIGKILL left behind (its exit hook never ran).
 */
export function cleanStaleRunDirs(root: string, prefix: string): void {
  if (!existsSync(root)) return;
  for (const name of readdirSync(root)) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1]);
    if (!pid || pid === process.pid || isAlive(pid)) continue;
    rmSync(join(root, name), { recursive: true, force: true });
  }
}

export interface RunDirOptions {
  /** Permissions of the directory, set exactly (not masked by the umask). @default 0o700 */
  readonly mode?: number;
}

/**
 * A fresh `<root>/<prefix><pid>-XXXXXX` directory, made after `cleanStaleRunDirs(root, prefix)`.
 * It is removed when this process exits; `removeRunDir` removes it earlier.
 */
export function createRunDir(root: string, prefix: string, options: RunDirOptions = {}): string {
  cleanStaleRunDirs(root, prefix);
  const dir = mkdtempSync(join(root, `${prefix}${process.pid}-`));
  if (options.mode !== undefined) chmodSync(dir, options.mode);
  runDirs.add(dir);
  return dir;
}

/** Removes a directory from `createRunDir` now. */
export function removeRunDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  runDirs.delete(dir);
}

/** The last `count` lines of a log file (read from its last 256 KiB), for error messages. */
export function tailFile(file: string, count = 40): string {
  if (!existsSync(file)) return '(no log written)';
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const buffer = Buffer.alloc(Math.min(size, 256 * 1024));
    readSync(fd, buffer, 0, buffer.length, size - buffer.length);
    const text = buffer.toString('utf8').trimEnd();
    return text ? text.split('\n').slice(-count).join('\n') : '(log is empty)';
  } finally {
    closeSync(fd);
  }
}

export interface PollOptions {
  /** Give up after this many milliseconds. */
  readonly timeoutMs: number;
  /** Pause between two probes. @default 250 */
  readonly intervalMs?: number;
  /** Asked before each probe; a reason it returns ends the wait at once (say, the server exited). @default - never */
  readonly abortIf?: () => string | undefined;
}

/**
 * Polls `probe` until it resolves true. A probe that throws counts as "not yet"; the
 * last thrown message is quoted when time runs out. Rejects with
 * `<abort reason> before <what>` or `not <what> after <n> s`.
 */
export async function pollUntil(what: string, probe: () => Promise<boolean>, options: PollOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let last = '';
  for (;;) {
    const aborted = options.abortIf?.();
    if (aborted) throw new Error(`${aborted} before ${what}`);
    try {
      if (await probe()) return;
      last = '';
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() >= deadline) throw new Error(`not ${what} after ${options.timeoutMs / 1000} s${last ? ` (last probe: ${last})` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 250));
  }
}

export interface ManagedProcessOptions {
  /** Names the process in errors: the component of its ComponentErrors. */
  readonly name: string;
  /** File that receives stdout and stderr; appended to, so a restarted server continues it. */
  readonly logFile: string;
  /** What to tell the user when the process cannot start or never gets ready. */
  readonly fix: string;
  /** Working directory. @default - this process's */
  readonly cwd?: string;
  /** Environment. @default - this process's */
  readonly env?: NodeJS.ProcessEnv;
  /** Run as this user id (needs root), for servers that refuse to run as root. @default - this process's */
  readonly uid?: number;
  /** Run as this group id (needs root). @default - this process's */
  readonly gid?: number;
  /** The signal that asks for a clean shutdown (PostgreSQL: SIGINT, its fast shutdown). @default 'SIGTERM' */
  readonly stopSignal?: 'SIGTERM' | 'SIGINT';
  /** Milliseconds from `stopSignal` to SIGKILL, in `stop()` and in the watchdog. @default 30000 */
  readonly graceMs?: number;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** How the process ended (`exit code 1`, `killed by SIGKILL`), or undefined while it runs. */
  readonly exited: string | undefined;
  /** The last `count` lines of its log. */
  logs(count?: number): string;
  /** A ComponentError naming this process, with `problem`, the end of its log and `fix`. */
  failure(problem: string, fix?: string): ComponentError;
  /**
   * `pollUntil` that also gives up as soon as the process exits, failing with the end of
   * the log. The process is left as it is: the caller decides whether to stop it.
   */
  waitUntil(what: string, probe: () => Promise<boolean>, options: PollOptions & { readonly fix?: string }): Promise<void>;
  /** `stopSignal`, then SIGKILL after `graceMs`; resolves once the process is gone. Safe to call again. */
  stop(): Promise<void>;
}

/** Kills a detached watchdog and the `sleep` it may be in: it leads its own process group. */
function killGroup(pgid: number | undefined): void {
  if (!pgid) return;
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // already gone: it noticed its process end first
  }
}

/**
 * A detached shell that outlives us only to stop `pid` once we are gone: SIGKILL of
 * the test runner skips 'exit' hooks. It ignores the terminal's signals so Ctrl-C
 * cannot leave the server orphaned, asks it to stop as `stop()` would, and ends by
 * itself when the server does.
 */
function watchdog(pid: number, signal: 'TERM' | 'INT', graceSeconds: number): ChildProcess {
  const script =
    `trap '' INT TERM HUP; while kill -0 ${process.pid} 2>/dev/null && kill -0 ${pid} 2>/dev/null; do sleep 1; done; ` +
    `if kill -0 ${pid} 2>/dev/null; then kill -${signal} ${pid}; i=0; ` +
    `while kill -0 ${pid} 2>/dev/null && [ $i -lt ${graceSeconds} ]; do sleep 1; i=$((i+1)); done; kill -KILL ${pid} 2>/dev/null; fi`;
  const child = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' });
  child.unref();
  return child;
}

/**
 * Starts a server process with stdout and stderr appended to `logFile`, watched so
 * that it dies with this process even when this process is SIGKILLed. Resolves once
 * the process has been spawned; rejects with a ComponentError when it cannot be.
 */
export async function spawnManaged(command: string, args: readonly string[], options: ManagedProcessOptions): Promise<ManagedProcess> {
  const { name, logFile } = options;
  const stopSignal = options.stopSignal ?? 'SIGTERM';
  const graceMs = options.graceMs ?? 30_000;
  const log = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    // Its own process group: a terminal's Ctrl-C (SIGINT to the whole foreground group) reaches
    // only the runner, which stops its processes in order, not every server at once.
    child = spawn(command, args, { cwd: options.cwd, env: options.env, uid: options.uid, gid: options.gid, stdio: ['ignore', log, log], detached: true });
  } finally {
    closeSync(log);
  }
  let exited: string | undefined;
  const gone = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited ??= signal ? `killed by ${signal}` : `exit code ${code}`;
      live.delete(child);
      resolve();
    }),
  );
  // Spawn failures and failed kill()s arrive here; without a listener they would crash the runner.
  child.on('error', (error) => (exited ??= error.message));
  const spawned = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', resolve);
  });
  if (spawned || child.pid === undefined) {
    throw new ComponentError(name, `could not start ${command}: ${spawned?.message ?? 'no process id'}`, options.fix);
  }
  const pid = child.pid;
  // Unref'd: a run that forgets stop() still exits, and the exit hook kills the process.
  child.unref();
  live.add(child);
  const guard = watchdog(pid, stopSignal === 'SIGINT' ? 'INT' : 'TERM', Math.ceil(graceMs / 1000));

  const logs = (count = 40) => tailFile(logFile, count);
  const failure = (problem: string, fix = options.fix) => new ComponentError(name, `${problem}\n--- last lines of ${logFile} ---\n${logs()}`, fix);
  return {
    name,
    pid,
    logFile,
    get exited() {
      return exited;
    },
    logs,
    failure,
    async waitUntil(what, probe, poll) {
      try {
        await pollUntil(what, probe, { ...poll, abortIf: () => (exited === undefined ? poll.abortIf?.() : `exited (${exited})`) });
      } catch (error) {
        throw failure(error instanceof Error ? error.message : String(error), poll.fix);
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(stopSignal);
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await gone;
        clearTimeout(timer);
      }
      killGroup(guard.pid);
    },
  };
}
