import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, inject, it } from 'vitest';
import { smoke } from '../../cli/smoke.js';
import { SERVICE_NAMES } from '../../local/dev/index.js';
import { repoRoot } from '../../local/dev/paths.js';
import { createDatabase } from '../../infra/postgres.js';
import { request } from '../apps/support.js';

// `make dev` as a user runs it: through make (the Makefile's recipe), stopped by a signal to
// make alone, to make's process group (a closed terminal), or to the launcher. Each run must
// leave no process and no port, and keep the logs. The services run on databases of the test
// PostgreSQL (fast starts); Kafka is the launcher's default: a broker of its own (Java is here).

const { url: postgresUrl } = inject('postgres');
const run = randomUUID().replaceAll('-', '').slice(0, 10);

/** Every descendant of `pid` (children first found through /proc/<pid>/task/<pid>/children). */
function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return children.flatMap((c) => [c, ...descendants(c)]);
}

/** Alive and not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function portFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

interface Started {
  readonly make: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly edge: string;
  readonly runDir: string;
  readonly ports: number[];
  readonly pids: number[];
  readonly launcher: number;
}

async function makeDev(env: Record<string, string>): Promise<Started> {
  const databases = Object.fromEntries(
    await Promise.all(
      SERVICE_NAMES.map(async (name) => [
        `DATABASE_URL_${name.toUpperCase()}`,
        await createDatabase(postgresUrl, `dev_${name}_${run}_${randomUUID().slice(0, 4)}`),
      ]),
    ),
  );
  // -o: never rebuild node_modules from here (package.json may be newer than the install stamp).
  const make = spawn('make', ['--no-print-directory', '-o', 'node_modules/.package-lock.json', 'dev'], {
    cwd: repoRoot,
    env: { PATH: process.env['PATH']!, HOME: process.env['HOME']!, EDGE_PORT: '0', LOG_LEVEL: 'warn', ...databases, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, as a terminal's foreground job has.
    detached: true,
  });
  let output = '';
  make.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  make.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    make.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const deadline = Date.now() + 150_000;
  while (!output.includes('Ctrl-C stops the shop.') && make.exitCode === null && Date.now() < deadline) await sleep(200);
  expect(output).toContain('Ctrl-C stops the shop.');
  const edge = /^ {2}edge +(http:\/\/127\.0\.0\.1:\d+) /m.exec(output)![1]!;
  const runDir = /^ {2}logs +(\S+)\/<service>\.log/m.exec(output)![1]!;
  const ports = [...output.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
  const launcher = descendants(make.pid!)[0]!;
  return { make, output: () => output, exited, edge, runDir, ports: [...new Set(ports)], pids: [make.pid!, ...descendants(make.pid!)], launcher };
}

async function expectNothingLeft(started: Started): Promise<void> {
  const result = await Promise.race([started.exited, sleep(40_000).then(() => 'make still running' as const)]);
  expect(result, started.output()).not.toBe('make still running');
  const deadline = Date.now() + 15_000;
  while (started.pids.some(alive) && Date.now() < deadline) await sleep(200);
  expect(started.pids.filter(alive), started.output()).toEqual([]);
  for (const port of started.ports) expect(await portFree(port), `port ${port}`).toBe(true);
  // The logs survive, the bulk (bundles, PGlite data) does not.
  expect(started.output()).toContain(`stopped; logs in ${started.runDir}`);
  for (const name of SERVICE_NAMES) expect(existsSync(join(started.runDir, `${name}.log`)), name).toBe(true);
  expect(readdirSync(started.runDir).filter((f) => !f.endsWith('.log'))).toEqual([]);
}

describe('make dev', () => {
  it('runs the whole shop with a Kafka broker of its own: register, log in, order, the notification arrives; SIGINT to make alone stops everything', async () => {
    const started = await makeDev({});
    try {
      expect(started.output()).toMatch(/^ {2}kafka +127\.0\.0\.1:\d+ \(a broker of this run: Apache Kafka [\d.]+ on \S+\)$/m);
      const { edge } = started;
      const email = `dev-${run}@example.org`;
      expect((await request(edge, 'POST', '/users', { json: { email, password: 'correct horse', name: 'Dev' } })).status).toBe(201);
      const token = (await request(edge, 'POST', '/sessions', { json: { email, password: 'correct horse' } })).body.accessToken as string;
      const auth = { authorization: `Bearer ${token}` };
      const placed = await request(edge, 'POST', '/orders', { json: { items: [{ productId: 'hand-grinder', quantity: 1 }] }, headers: auth });
      expect(placed.body.status).toBe('CONFIRMED');
      let notifications: { orderId: string; type: string }[] = [];
      const deadline = Date.now() + 30_000;
      while (!notifications.some((n) => n.type === 'OrderConfirmed') && Date.now() < deadline) {
        notifications = (await request(edge, 'GET', '/notifications', { headers: auth })).body.notifications;
        await sleep(250);
      }
      expect(notifications.map((n) => `${n.orderId} ${n.type}`)).toContain(`${placed.body.id} OrderConfirmed`);

      process.kill(started.make.pid!, 'SIGINT');
      await expectNothingLeft(started);
      expect(started.output()).toContain('SIGINT (to make): stopping the shop');
      expect(existsSync(join(started.runDir, 'kafka.log'))).toBe(true);
    } finally {
      for (const pid of started.pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  }, 240_000);

  it('stops everything when the terminal closes (SIGHUP to the process group of make and the launcher)', async () => {
    const started = await makeDev({ KAFKA_BROKERS: 'off' });
    try {
      process.kill(-started.make.pid!, 'SIGHUP');
      await expectNothingLeft(started);
    } finally {
      for (const pid of started.pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  }, 200_000);

  it('stops everything on SIGTERM to make (passed on) and to the launcher', async () => {
    for (const target of ['make', 'launcher'] as const) {
      const started = await makeDev({ KAFKA_BROKERS: 'off' });
      try {
        process.kill(target === 'make' ? started.make.pid! : started.launcher, 'SIGTERM');
        await expectNothingLeft(started);
        // make passes SIGTERM on and blocks it itself: the launcher may see either first.
        expect(started.output(), target).toMatch(/SIGTERM( \(to make\))?: stopping the shop/);
      } finally {
        for (const pid of started.pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
      }
    }
  }, 300_000);

  it('without Kafka, says why in the banner and `make smoke` fails the notification check at once with the reason', async () => {
    const started = await makeDev({ KAFKA_BROKERS: 'off' });
    try {
      expect(started.output()).toMatch(
        /^ {2}kafka +off — KAFKA_BROKERS=off: events wait in the order outbox and notifications do not arrive until the shop runs with Kafka$/m,
      );
      const began = Date.now();
      const results = await smoke({ baseUrl: started.edge, settleTimeoutMs: 60_000, pollMs: 250 });
      expect(results.map((r) => `${r.name} ${r.outcome}`)).toEqual([
        'register pass',
        'log in pass',
        'list products pass',
        'place an order pass',
        'order confirmed pass',
        'notification fail',
      ]);
      expect(results[5]!.detail).toBe('notifications wait: the local shop runs without Kafka (KAFKA_BROKERS=off); its events stay in the order outbox');
      expect(Date.now() - began).toBeLessThan(20_000);
      process.kill(started.launcher, 'SIGINT');
      await expectNothingLeft(started);
    } finally {
      for (const pid of started.pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  }, 200_000);
});
