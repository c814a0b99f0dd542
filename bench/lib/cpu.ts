import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

function hz(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2000 }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

interface Stat {
  readonly pid: number;
  readonly ppid: number;
  /** utime + stime + cutime + cstime, in clock ticks: its own time and that of the children it has reaped. */
  readonly ticks: number;
}

function stat(pid: number): Stat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces: fields after it start past the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { pid, ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]) };
  } catch {
    return undefined;
  }
}

function allPids(): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** Processes whose command line contains `needle`, plus all their descendants (PostgreSQL backends). */
export function processTree(needle: string): number[] {
  const stats = allPids()
    .map(stat)
    .filter((s): s is Stat => s !== undefined);
  const roots = stats.filter((s) => cmdline(s.pid).includes(needle)).map((s) => s.pid);
  const tree = new Set(roots);
  for (let changed = true, round = 0; changed && round < 10; round += 1) {
    changed = false;
    for (const s of stats) {
      if (tree.has(s.ppid) && !tree.has(s.pid)) {
        tree.add(s.pid);
        changed = true;
      }
    }
  }
  return [...tree];
}

/**
 * CPU seconds (user + system) used so far by each group of processes; groups are re-resolved on each call.
 * A process that exited and was reaped (a PostgreSQL backend whose pool connection closed) stays counted
 * through its parent's cutime/cstime, so the sum over the live tree only grows.
 */
export function cpuSeconds(groups: Readonly<Record<string, () => readonly number[]>>): Record<string, number> {
  return Object.fromEntries(Object.entries(groups).map(([name, pids]) => [name, pids().reduce((sum, pid) => sum + (stat(pid)?.ticks ?? 0), 0) / hz()]));
}

/** CPU milliseconds each group used per unit of work (request, order, event) between two `cpuSeconds` snapshots. */
export function cpuMsPer(before: Record<string, number>, after: Record<string, number>, units: number): Record<string, number> {
  const out: Record<string, number> = {};
  let total = 0;
  for (const name of Object.keys(after)) {
    const ms = ((after[name]! - (before[name] ?? 0)) * 1000) / Math.max(1, units);
    out[name] = Math.round(ms * 10_000) / 10_000;
    total += ms;
  }
  out['total'] = Math.round(total * 10_000) / 10_000;
  return out;
}

/** CPU milliseconds per second each group burns while nothing is asked of it, over `ms` of waiting. */
export async function idleCpuMs(groups: Readonly<Record<string, () => readonly number[]>>, ms = 5000): Promise<Record<string, number>> {
  const before = cpuSeconds(groups);
  const began = performance.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  return cpuMsPer(before, cpuSeconds(groups), (performance.now() - began) / 1000);
}

/** CPU per unit less what the groups would have burnt idle over the run's wall time: what the units themselves cost. */
export function aboveIdle(
  perUnit: Readonly<Record<string, number>>,
  idlePerSecond: Readonly<Record<string, number>>,
  wallSeconds: number,
  units: number,
): Record<string, number> {
  return Object.fromEntries(
    Object.entries(perUnit).map(([k, v]) => [k, Math.round((v - ((idlePerSecond[k] ?? 0) * wallSeconds) / Math.max(1, units)) * 100) / 100]),
  );
}
