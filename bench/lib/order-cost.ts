/**
 * CPU per order of a set of processes serving POST /orders, measured as bench/servers/saga-cost.ts
 * measures the shop (same warm-up, idle baseline, open loop and PostgreSQL split by database), so a
 * floor (bench/saga-floor.ts) and the shop compare figure for figure.
 */
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { aboveIdle, cpuMsPer, cpuSeconds, idleCpuMs, processTree } from './cpu.js';
import { openLoop, type LoadResult, type LoadTarget } from './http-load.js';
import { loadNow, type LoadSample } from './machine.js';

type Groups = Record<string, () => number[]>;

/** pg_stat_database counters of the databases bench_<tag>_<service>, keyed by service. */
export async function databaseStats(admin: pg.Client, tag: string): Promise<Record<string, Record<string, number>>> {
  const { rows } = await admin.query<Record<string, string>>(
    `SELECT datname, xact_commit, xact_rollback, tup_returned, tup_fetched, tup_inserted, tup_updated, tup_deleted
       FROM pg_stat_database WHERE starts_with(datname, $1)`,
    [`bench_${tag}_`],
  );
  return Object.fromEntries(
    rows.map((r) => [
      r['datname']!.slice(`bench_${tag}_`.length),
      Object.fromEntries(
        Object.entries(r)
          .filter(([k]) => k !== 'datname')
          .map(([k, v]) => [k, Number(v)]),
      ),
    ]),
  );
}

/** PostgreSQL backends as `postgres:<service>` by the database they serve; the postmaster, its helpers and other backends as `postgres:server`. */
export async function backendsByService(admin: pg.Client, postgresPort: string, tag: string): Promise<Groups> {
  const { rows } = await admin.query<{ pid: number; datname: string | null }>('SELECT pid, datname FROM pg_stat_activity');
  const byService = new Map<string, number[]>();
  for (const r of rows) {
    if (!r.datname?.startsWith(`bench_${tag}_`)) continue;
    const service = r.datname.slice(`bench_${tag}_`.length);
    byService.set(service, [...(byService.get(service) ?? []), r.pid]);
  }
  const assigned = new Set([...byService.values()].flat());
  return {
    ...Object.fromEntries([...byService].map(([service, pids]) => [`postgres:${service}`, () => pids])),
    'postgres:server': () => processTree(`port=${postgresPort}`).filter((pid) => !assigned.has(pid)),
  };
}

/** Context switches so far (voluntary + involuntary, all threads) by group: how often its processes were put to sleep and woken. */
function contextSwitches(groups: Groups): Record<string, number> {
  const ofPid = (pid: number) => {
    try {
      return readdirSync(`/proc/${pid}/task`).reduce((sum, tid) => {
        const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
        return (
          sum + Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0) + Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0)
        );
      }, 0);
    } catch {
      return 0;
    }
  };
  return Object.fromEntries(Object.entries(groups).map(([name, pids]) => [name, pids().reduce((sum, pid) => sum + ofPid(pid), 0)]));
}

export interface OrderCost {
  readonly result: LoadResult;
  /** Orders sent while the CPU counters ran. */
  readonly orders: number;
  /** CPU ms per order by group, all of it. */
  readonly cpuMs: Record<string, number>;
  /** The same less what the group burns idle over the run's wall time. */
  readonly aboveIdleMs: Record<string, number>;
  /** pg_stat_database deltas per order, by service. */
  readonly perDatabase: Record<string, Record<string, number>>;
  /** Context switches per order by group (threads of live processes only: an exited backend's are lost). */
  readonly switches: Record<string, number>;
  readonly load: LoadSample;
}

export interface OrderCostOptions {
  readonly target: LoadTarget;
  /** The processes to charge, PostgreSQL excluded (it is split by database here). */
  readonly groups: Groups;
  /** A connection to the server's maintenance database. */
  readonly admin: pg.Client;
  readonly postgresPort: string;
  /** The databases are bench_<tag>_<service>. */
  readonly tag: string;
  readonly rate: number;
  readonly seconds: number;
  /** Called as the measured run begins and once it ended (e.g. to profile exactly that window). */
  readonly window?: { begin(): void; end(): void };
}

export async function measureOrderCost({ target, groups, admin, postgresPort, tag, rate, seconds, window }: OrderCostOptions): Promise<OrderCost> {
  // Warm up (JIT, pools: every backend exists before it is attributed), at half the rate and then the rate.
  await openLoop(target, { rate: rate / 2, warmupMs: 0, durationMs: 10_000, maxSockets: 256 });
  await openLoop(target, { rate, warmupMs: 0, durationMs: 3000, maxSockets: 256 });
  const all = { ...groups, ...(await backendsByService(admin, postgresPort, tag)) };
  const idlePerSecond = await idleCpuMs(all);
  const load = loadNow();
  const dbBefore = await databaseStats(admin, tag);
  // Statistics reach pg_stat_* when a backend reports them (at most every 0.5 s, and when idle): let the warm-up's settle first.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const before = cpuSeconds(all);
  const switchesBefore = contextSwitches(all);
  window?.begin();
  const began = performance.now();
  const result = await openLoop(target, { rate, warmupMs: 0, durationMs: seconds * 1000, maxSockets: 256 });
  const wallSeconds = (performance.now() - began) / 1000;
  window?.end();
  const cpuMs = cpuMsPer(before, cpuSeconds(all), result.totalSent);
  const switchesAfter = contextSwitches(all);
  const switches = Object.fromEntries(Object.entries(switchesAfter).map(([k, v]) => [k, (v - (switchesBefore[k] ?? 0)) / result.totalSent]));
  switches['total'] = Object.values(switches).reduce((a, b) => a + b, 0);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const dbAfter = await databaseStats(admin, tag);
  const orders = result.totalSent;
  const perDatabase = Object.fromEntries(
    Object.entries(dbAfter).map(([service, stats]) => [
      service,
      Object.fromEntries(Object.entries(stats).map(([k, v]) => [k, Math.round(((v - (dbBefore[service]?.[k] ?? 0)) / orders) * 100) / 100])),
    ]),
  );
  return { result, orders, cpuMs, aboveIdleMs: aboveIdle(cpuMs, idlePerSecond, wallSeconds, orders), perDatabase, switches, load };
}
