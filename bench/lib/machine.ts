import { execFileSync } from 'node:child_process';
import { cpus, loadavg, release, totalmem, type } from 'node:os';

/** What the figures were measured on. */
export interface Machine {
  readonly cores: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
}

/** The load averages (1, 5, 15 min) and the `uptime` line at one moment. */
export interface LoadSample {
  readonly at: string;
  readonly load1: number;
  readonly load5: number;
  readonly load15: number;
  readonly uptime: string;
}

export function machine(): Machine {
  const list = cpus();
  return {
    cores: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os: `${type()} ${release()}`,
    node: process.version,
  };
}

export function loadNow(): LoadSample {
  const [load1 = 0, load5 = 0, load15 = 0] = loadavg();
  let uptime = '';
  try {
    uptime = execFileSync('uptime', { encoding: 'utf8', timeout: 2000 }).trim();
  } catch {
    uptime = '(uptime not available)';
  }
  const round = (n: number) => Math.round(n * 100) / 100;
  return { at: new Date().toISOString(), load1: round(load1), load5: round(load5), load15: round(load15), uptime };
}

/** "1.23 / 2.34 / 3.45" */
export const formatLoad = (l: LoadSample) => `${l.load1.toFixed(2)} / ${l.load5.toFixed(2)} / ${l.load15.toFixed(2)}`;

/**
 * Waits, bounded by `maxWaitMs`, until the 1-minute load average drops below
 * `threshold`; returns whether it did. Polls every `pollMs`.
 */
export async function waitForQuiet(threshold: number, maxWaitMs: number, pollMs = 15_000, log: (line: string) => void = () => undefined): Promise<boolean> {
  const deadline = Date.now() + maxWaitMs;
  for (let i = 0; i < 10_000; i += 1) {
    const load = loadNow();
    if (load.load1 < threshold) return true;
    if (Date.now() >= deadline) return false;
    log(`load ${formatLoad(load)} is above ${threshold}; waiting (at most ${Math.round((deadline - Date.now()) / 1000)} s more)`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, Math.max(0, deadline - Date.now()))));
  }
  return false;
}
