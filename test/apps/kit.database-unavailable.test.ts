import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpApp, databaseError, DatabaseUnavailableError, defineRoute, openDatabase, type Database } from '../../apps/kit/index.js';
import { read, write } from '../../contract/route.js';
import { request } from './support.js';

const silent = pino({ level: 'silent' });

// A PostgreSQL that accepts connections and never answers: what an overloaded server (or a pool
// whose connections are all busy) looks like to pg. Issue 17: under overload POST /orders answered
// 500 INTERNAL from pg-pool's connect timeout; the kit must answer 503 for it.
let silentPostgres: Server;
const sockets = new Set<Socket>();
let db: Database;
let api: HttpServer;
let apiUrl: string;

beforeAll(async () => {
  silentPostgres = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  silentPostgres.listen(0, '127.0.0.1');
  await once(silentPostgres, 'listening');
  const { port } = silentPostgres.address() as AddressInfo;
  db = await openDatabase({ url: `postgres://meshkit@127.0.0.1:${port}/shop`, pgliteDataDir: '', logger: silent, poolSize: 1, connectTimeoutMs: 200 });
  const app = createHttpApp({
    logger: silent,
    routes: [
      defineRoute<undefined, Record<string, unknown>, { id: string }>(read('/things/{id}'), {
        handle: async ({ params }) => ({ body: await db.query('SELECT $1::text AS id', [params.id]) }),
      }),
      defineRoute(write('POST', '/things'), { handle: async () => ({ status: 201, body: await db.transaction((tx) => tx.query("SELECT 'x' AS id")) }) }),
    ],
  });
  api = createHttpServer(app).listen(0, '127.0.0.1');
  await once(api, 'listening');
  apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => api?.close(resolve));
  for (const socket of sockets) socket.destroy();
  await db?.close().catch(() => undefined);
  await new Promise((resolve) => silentPostgres?.close(resolve));
});

describe('a database that does not answer in time', () => {
  it('fails queries with DatabaseUnavailableError: the connect timeout and the wait for a busy pool', async () => {
    // Pool of one: the first query waits for its connection, the second for the first's.
    const [connecting, queued] = await Promise.allSettled([db.query('SELECT 1'), db.query('SELECT 2')]);
    for (const outcome of [connecting, queued]) {
      expect(outcome.status).toBe('rejected');
      const reason = (outcome as PromiseRejectedResult).reason as DatabaseUnavailableError;
      expect(reason).toBeInstanceOf(DatabaseUnavailableError);
      expect(reason).toMatchObject({ status: 503, code: 'DATABASE_UNAVAILABLE' });
    }
    expect(((connecting as PromiseRejectedResult).reason as Error).message).toMatch(/Connection terminated due to connection timeout|timeout exceeded/);
  });

  it('answers 503 DATABASE_UNAVAILABLE JSON, not 500, for a read and for a transaction', async () => {
    const read = await request(apiUrl, 'GET', '/things/a');
    expect(read.status).toBe(503);
    expect(read.body).toMatchObject({ error: { code: 'DATABASE_UNAVAILABLE' } });
    const write = await request(apiUrl, 'POST', '/things');
    expect(write.status).toBe(503);
    expect(write.body).toMatchObject({ error: { code: 'DATABASE_UNAVAILABLE' } });
  });
});

describe('databaseError', () => {
  const pgError = (code: string) => Object.assign(new Error(`sqlstate ${code}`), { code });

  it('maps load and reachability failures to 503: statement timeout, too many connections, shutdown, a refused socket', () => {
    for (const code of ['57014', '53300', '57P01', '08006', 'ECONNREFUSED']) expect(databaseError(pgError(code))).toBeInstanceOf(DatabaseUnavailableError);
  });

  it("leaves the request's own failures to the caller: constraint violations, syntax errors", () => {
    for (const code of ['23505', '23514', '42601', '22P02']) {
      const err = pgError(code);
      expect(databaseError(err)).toBe(err);
    }
  });
});
