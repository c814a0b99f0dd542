/**
 * Where the kit's extra CPU per request goes: GET /products/{id} served by variant-server.ts
 * (from source, names intact) under `node --cpu-prof`, each arm at the same open-loop rate so
 * the per-request costs compare (at different rates a server batches differently per turn).
 * Prints the server's CPU per request (/proc) and the profile's self time per request by owner
 * (package, our file, Node module) and by function, the kit arm against bare.
 *
 * With --cpu-only, no profiler: only the server's CPU per request (/proc), the bench's judge.
 * With --syscalls, `strace -c` counts the server's system calls during the measured window instead
 * (no profiler then: strace slows every call it sees).
 *
 * Usage: tsx bench/servers/profile-read.ts [--rate 800] [--seconds 10] [--store postgres|memory] [--variants bare,kit] [--top 40]  [--cpu-only | --syscalls]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startPostgres } from '../../infra/postgres.js';
import { startChild } from '../lib/child.js';
import { cpuSeconds } from '../lib/cpu.js';
import { openLoop } from '../lib/http-load.js';
import { selfTimePer } from '../lib/profile.js';
import { repoRoot } from '../lib/results.js';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '800' },
    seconds: { type: 'string', default: '10' },
    store: { type: 'string', default: 'postgres' },
    variants: { type: 'string', default: 'bare,kit' },
    top: { type: 'string', default: '40' },
    syscalls: { type: 'boolean', default: false },
    'cpu-only': { type: 'boolean', default: false },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const top = Number(values.top);
const variants = values.variants.split(',');

const serverCpuUs = (before: Record<string, number>, after: Record<string, number>, requests: number) =>
  Math.round(((after['server']! - before['server']!) * 1e6) / Math.max(1, requests));

const postgres = values.store === 'postgres' ? await startPostgres() : undefined;
const results: Record<string, ReturnType<typeof selfTimePer> & { serverCpuUs: number; rps: number }> = {};
try {
  for (const variant of variants) {
    const dir = mkdtempSync(join(tmpdir(), 'meshkit-profile-read-'));
    const server = await startChild(
      join(repoRoot, 'bench', 'servers', 'variant-server.ts'),
      {
        PATH: process.env['PATH'],
        ROUTE: 'read',
        STORE: values.store,
        VARIANT: variant,
        ...(postgres ? { DATABASE_URL: await postgres.createDatabase(`profile_read_${variant.replaceAll('-', '_')}`) } : {}),
      },
      60_000,
      [...(values.syscalls || values['cpu-only'] ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`]), '--import', 'tsx'],
    );
    try {
      const target = { baseUrl: server.url, next: () => ({ method: 'GET', path: '/products/espresso-beans' }) };
      await openLoop(target, { rate, warmupMs: 0, durationMs: 3000, maxSockets: 16 });
      const straceFile = join(dir, 'strace.txt');
      const strace = values.syscalls ? spawn('strace', ['-c', '-f', '-o', straceFile, '-p', String(server.pid)], { stdio: 'ignore' }) : undefined;
      const before = cpuSeconds({ server: () => [server.pid] });
      const run = await openLoop(target, { rate, warmupMs: 0, durationMs: seconds * 1000, maxSockets: 16 });
      const after = cpuSeconds({ server: () => [server.pid] });
      if (strace) {
        strace.kill('SIGINT');
        await once(strace, 'exit');
        process.stdout.write(`${variant}: system calls during ${run.completed} requests\n${readFileSync(straceFile, 'utf8')}\n`);
      }
      if (run.failed > 0) throw new Error(`${variant}: ${run.failed} requests failed (${JSON.stringify(run.statuses)})`);
      await server.stop();
      if (values['cpu-only'])
        process.stdout.write(`${variant}: ${run.rps} req/s, server CPU ${serverCpuUs(before, after, run.completed)} µs/request (/proc)\n`);
      if (strace || values['cpu-only']) continue;
      // The profile spans warm-up and measurement: per request over everything the server answered.
      const answered = Math.round(((3 + seconds) * rate * run.completed) / Math.max(1, run.sent));
      results[variant] = {
        ...selfTimePer(dir, answered),
        serverCpuUs: serverCpuUs(before, after, run.completed),
        rps: run.rps,
      };
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
} finally {
  await postgres?.stop();
}

/** The keys of the largest entries of every arm, each with its value per arm, sorted by how much more the last arm spends than the first. */
const rows = (pick: (r: (typeof results)[string]) => Record<string, number>): Array<{ key: string; values: number[] }> => {
  const keys = new Set(variants.flatMap((v) => Object.keys(pick(results[v]!)).slice(0, top)));
  const table = [...keys].map((key) => ({ key, values: variants.map((v) => pick(results[v]!)[key] ?? 0) }));
  const extra = (row: { values: number[] }) => row.values[row.values.length - 1]! - row.values[0]!;
  return table.sort((a, b) => extra(b) - extra(a));
};
const print = (row: { key: string; values: number[] }) => process.stdout.write(`${row.values.map((v) => String(v).padStart(7)).join(' ')}  ${row.key}\n`);
if (values.syscalls || values['cpu-only']) process.exit(0);
process.stdout.write(`${values.store}, ${rate} req/s open loop, ${seconds} s measured\n`);
for (const v of variants) {
  const r = results[v]!;
  process.stdout.write(`${v}: ${r.rps} req/s, server CPU ${r.serverCpuUs} µs/request (/proc), profile busy ${r.busyUs} µs/request\n`);
}
process.stdout.write(`\nself µs/request by owner (${variants.join(' | ')}), sorted by the difference:\n`);
for (const row of rows((r) => r.byOwner)) print(row);
process.stdout.write(`\nself µs/request by function:\n`);
for (const row of rows((r) => r.byFunction).slice(0, top)) print(row);
