/**
 * Where an order's CPU goes, on the bench shop (local/dev, bundles, the real PostgreSQL and Kafka):
 * one open-loop run of the saga, then per order placed, above what the idle shop burns over
 * the same time:
 * - CPU by process (as `npm run bench:services` measures it), PostgreSQL split by the database
 *   its backends serve (pg_stat_activity), so the relay's and the consumer's statements show
 *   under order, payment and notification;
 * - transactions and rows per database (pg_stat_database): every autocommit statement is a
 *   transaction, so these count round trips that write or read.
 *
 * Usage: tsx bench/servers/saga-cost.ts [--rate 100] [--seconds 15] [--env KEY=VALUE ...] [--without-kafka]
 * --env sets an environment variable of every service (a knob to compare, e.g. LOG_LEVEL=warn).
 * --without-kafka runs the shop with no broker: events are still written to the outbox but wait
 * there (no relay, no consumer), which prices the delivery of events against a run with it.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { aboveIdle, cpuMsPer, cpuSeconds, idleCpuMs } from '../lib/cpu.js';
import { openLoop } from '../lib/http-load.js';
import { backendsByService, databaseStats } from '../lib/order-cost.js';
import { startBenchShop, startInfra } from '../lib/infra.js';
import { loadNow } from '../lib/machine.js';
import { prepareSagaLoad } from '../lib/saga.js';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '15' },
    env: { type: 'string', multiple: true, default: [] },
    'without-kafka': { type: 'boolean', default: false },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const env = Object.fromEntries(
  values.env.map((pair) => {
    const at = pair.indexOf('=');
    if (at < 1) throw new Error(`--env ${pair}: write KEY=VALUE`);
    return [pair.slice(0, at), pair.slice(at + 1)];
  }),
);
const S = 'saga-cost';
const tag = 'cost';

type TableStats = Record<string, Record<string, number>>;

/** Scans and row changes per table of every shop database (pg_stat_user_tables), keyed `service.table`. */
async function tableStats(urls: Readonly<Record<string, string>>): Promise<TableStats> {
  const out: TableStats = {};
  for (const [service, url] of Object.entries(urls)) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query<Record<string, string>>(
      `SELECT relname, seq_scan, seq_tup_read, idx_scan, idx_tup_fetch, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_dead_tup FROM pg_stat_user_tables`,
    );
    // Each index on its own line: which one the statements walk (idx_tup_read: entries read, dead ones included).
    const indexes = await client.query<Record<string, string>>(
      `SELECT relname || '/' || indexrelname AS relname, 0 AS seq_scan, 0 AS seq_tup_read, idx_scan, idx_tup_read AS idx_tup_fetch, 0 AS n_tup_ins, 0 AS n_tup_upd, 0 AS n_tup_hot_upd, 0 AS n_dead_tup FROM pg_stat_user_indexes`,
    );
    await client.end();
    for (const r of [...rows, ...indexes.rows])
      out[`${service}.${r['relname']}`] = Object.fromEntries(
        Object.entries(r)
          .filter(([k]) => k !== 'relname')
          .map(([k, v]) => [k, Number(v)]),
      );
  }
  return out;
}

const infra = await startInfra(S, { kafka: !values['without-kafka'] });
try {
  const bench = await startBenchShop(infra, tag, env);
  try {
    const saga = await prepareSagaLoad(bench, infra);
    const admin = new pg.Client({ connectionString: infra.postgres.url });
    await admin.connect();
    // Warm up (JIT, pools: every backend exists before it is attributed), at half the rate and then the rate, as bench:services warms its 100/s run with 25/s and 50/s.
    await openLoop(saga.target(bench.shop.urls.order), { rate: rate / 2, warmupMs: 0, durationMs: 10_000, maxSockets: 256 });
    await openLoop(saga.target(bench.shop.urls.order), { rate, warmupMs: 0, durationMs: 3000, maxSockets: 256 });
    const { postgres: _whole, ...perProcess } = saga.cpuGroups;
    const groups = { ...perProcess, ...(await backendsByService(admin, new URL(infra.postgres.url).port, tag)) };

    const idleCpuMsPerSecond = await idleCpuMs(groups);

    const load1 = loadNow();
    const dbBefore = await databaseStats(admin, tag);
    // Statistics reach pg_stat_* when a backend reports them (at most every 0.5 s, and when idle): let the warm-up's settle first.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const tablesBefore = await tableStats(bench.databaseUrls);
    const before = cpuSeconds(groups);
    const began = performance.now();
    const result = await openLoop(saga.target(bench.shop.urls.order), { rate, warmupMs: 0, durationMs: seconds * 1000, maxSockets: 256 });
    const wallSeconds = (performance.now() - began) / 1000;
    const cpu = cpuMsPer(before, cpuSeconds(groups), result.totalSent);
    const cpuAboveIdle = aboveIdle(cpu, idleCpuMsPerSecond, wallSeconds, result.totalSent);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const dbAfter = await databaseStats(admin, tag);
    const tablesAfter = await tableStats(bench.databaseUrls);
    await admin.end();

    const orders = result.totalSent;
    console.log(
      `${orders} orders at ${rate}/s offered (${result.rps}/s), p50 ${result.latency.p50Ms} ms, p99 ${result.latency.p99Ms} ms, failed ${result.failed}; load ${load1.load1}; env ${JSON.stringify(env)}`,
    );
    console.log('\nCPU ms per order (all / above idle):');
    for (const [name, ms] of Object.entries(cpu).sort(([, a], [, b]) => b - a)) {
      console.log(`  ${name.padEnd(24)} ${ms.toFixed(2).padStart(7)} ${(cpuAboveIdle[name] ?? 0).toFixed(2).padStart(7)}`);
    }
    console.log('\nper order, by database (pg_stat_database deltas):');
    const columns = Object.keys(Object.values(dbAfter)[0] ?? {});
    console.log(`  ${'database'.padEnd(14)} ${columns.map((c) => c.padStart(13)).join(' ')}`);
    for (const [service, stats] of Object.entries(dbAfter)) {
      const cells = columns.map((c) => (((stats[c] ?? 0) - (dbBefore[service]?.[c] ?? 0)) / orders).toFixed(2).padStart(13));
      console.log(`  ${service.padEnd(14)} ${cells.join(' ')}`);
    }
    console.log(
      '\nper order, by table and index (pg_stat_user_tables and _indexes deltas; for an index idx_tup_fetch is the entries read; n_dead_tup as it is at the end):',
    );
    const tableColumns = Object.keys(Object.values(tablesAfter)[0] ?? {});
    console.log(`  ${'table'.padEnd(30)} ${tableColumns.map((c) => c.padStart(13)).join(' ')}`);
    for (const [table, stats] of Object.entries(tablesAfter)) {
      const cells = tableColumns.map((c) =>
        (c === 'n_dead_tup' ? String(stats[c]) : (((stats[c] ?? 0) - (tablesBefore[table]?.[c] ?? 0)) / orders).toFixed(2)).padStart(13),
      );
      console.log(`  ${table.padEnd(30)} ${cells.join(' ')}`);
    }
  } finally {
    await bench.shop.stop();
  }
} finally {
  await infra.stop();
}
