import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** A server process the benchmark started: its port, its pid, the bytes it logged. */
export interface ChildServer {
  readonly pid: number;
  readonly url: string;
  /** Bytes written to stdout (the JSON log) so far. */
  readonly stdoutBytes: () => number;
  stop(): Promise<void>;
}

/**
 * Starts `node <file>` and waits (bounded) for it to report `{ port }` over IPC
 * or to log pino's `service ready` line with the port. stdout is a pipe the
 * parent drains, as a container runtime would read it.
 */
export async function startChild(file: string, env: NodeJS.ProcessEnv, timeoutMs = 60_000, nodeArgs: readonly string[] = []): Promise<ChildServer> {
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, file], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let bytes = 0;
  let stderr = '';
  let buffered = '';
  let found = false;
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} did not report its port within ${timeoutMs} ms:\n${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.on('message', (m: { port?: number }) => {
      if (typeof m?.port === 'number') {
        clearTimeout(timer);
        resolve(m.port);
      }
    });
    child.stdout!.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (found || buffered.length > 1_000_000) return;
      buffered += chunk.toString();
      const ready = /"port":(\d+)[^\n]*"message":"service ready"/.exec(buffered);
      if (ready) {
        found = true;
        buffered = '';
        clearTimeout(timer);
        resolve(Number(ready[1]));
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-10_000)));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited (${signal ?? code}) before reporting its port:\n${stderr.slice(-2000)}`));
    });
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    pid: child.pid!,
    url: `http://127.0.0.1:${port}`,
    stdoutBytes: () => bytes,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Resident set size of a process in MiB, from /proc (NaN when it is gone). */
export function rssMiB(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Math.round((Number(match[1]) / 1024) * 10) / 10 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Samples the RSS of some processes every `everyMs` until stopped; returns peak and mean per name. */
export function sampleRss(pids: Readonly<Record<string, number>>, everyMs = 500): () => Record<string, { peakMiB: number; meanMiB: number; samples: number }> {
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(pids).map((k) => [k, []]));
  const timer = setInterval(() => {
    for (const [name, pid] of Object.entries(pids)) {
      const v = rssMiB(pid);
      if (!Number.isNaN(v)) samples[name]!.push(v);
    }
  }, everyMs);
  return () => {
    clearInterval(timer);
    return Object.fromEntries(
      Object.entries(samples).map(([name, list]) => [
        name,
        {
          peakMiB: list.length ? Math.max(...list) : Number.NaN,
          meanMiB: list.length ? Math.round((list.reduce((a, b) => a + b, 0) / list.length) * 10) / 10 : Number.NaN,
          samples: list.length,
        },
      ]),
    );
  };
}
