import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { read, write } from '../../contract/route.js';
import {
  ConfigError,
  contextFromHeaders,
  defineRoute,
  EventProcessor,
  loadConfig,
  migrate,
  OutboxRelay,
  outboxMigration,
  processedEventsMigration,
  propagationHeaders,
  recordEvent,
  recordEvents,
  runWithContext,
  ServiceClient,
  startService,
  TRACE_HEADERS,
  type Database,
  type DeadLetter,
  type EventPublisher,
  type OutgoingMessage,
  type Queryable,
  type RunningService,
  type ServiceDefinition,
} from '../../apps/kit/index.js';
import { orderService } from '../../apps/order/app.js';
import { expectError, request, startForTest, testEnv } from './support.js';

const silent = pino({ level: 'silent' });

/** A tiny service exercising the kit: a route that echoes the trace headers it would forward, and the outbox. */
const probe: ServiceDefinition = {
  name: 'probe',
  migrations: [outboxMigration, processedEventsMigration],
  create: ({ db }) => ({
    routes: [
      defineRoute<undefined, Record<string, unknown>, { id: string }>(read('/things/{id}'), {
        handle: async ({ params }) => ({ body: { id: params.id, forwarded: propagationHeaders() } }),
      }),
      defineRoute<{ n: number }>(write('POST', '/events'), {
        body: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } },
        handle: async ({ body }) => {
          await db.transaction((tx) =>
            recordEvent(tx, { topic: body.n % 2 === 0 ? 'even' : 'odd', key: 'k', type: 'Counted', source: 'probe', data: { n: body.n } }),
          );
          return { status: 202 };
        },
      }),
      defineRoute(read('/boom'), { handle: async () => Promise.reject(new Error('secret internals')) }),
    ],
  }),
};

let service: RunningService;
beforeAll(async () => {
  service = await startForTest(probe, { SERVICE_NAME: 'probe' });
}, 60_000);
afterAll(() => service?.stop());

describe('config', () => {
  it('fails fast naming every problem at once', () => {
    let error: unknown;
    try {
      loadConfig(orderService, { PORT: 'eighty', ADMIN_PORT: '9090', USER_URL: 'ftp://x', SERVICE_NAME: 'user', LOG_LEVEL: 'loud' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const fragment of ['PORT', 'USER_URL', 'PRODUCT_URL is required', 'PAYMENT_URL is required', 'SERVICE_NAME', 'LOG_LEVEL'])
      expect(problems).toContain(fragment);
  });

  it('reads the platform env: ports, database, Kafka lists', () => {
    const { config } = loadConfig(probe, {
      PORT: '8080',
      ADMIN_PORT: '9090',
      DATABASE_URL: 'postgres://u:p@db:5432/probe',
      KAFKA_BROKERS: 'a:9092, b:9092',
      KAFKA_PRODUCE_TOPICS: 'orders.events',
      KAFKA_CONSUME_TOPICS: 'x,y',
    });
    expect(config).toMatchObject({ port: 8080, adminPort: 9090, databaseUrl: 'postgres://u:p@db:5432/probe' });
    expect(config.kafka).toEqual({
      brokers: ['a:9092', 'b:9092'],
      clientId: 'probe',
      groupId: 'probe',
      produceTopics: ['orders.events'],
      consumeTopics: ['x', 'y'],
    });
    expect(loadConfig(probe, {}).config.kafka).toBeUndefined();
  });

  it('refuses the admin port on the public port and a non-postgres DATABASE_URL, without echoing the password', () => {
    expect(() => loadConfig(probe, { PORT: '8080', ADMIN_PORT: '8080' })).toThrow(/ADMIN_PORT/);
    expect(() => loadConfig(probe, { DATABASE_URL: 'mysql://root:hunter2@db/x' })).toThrow(/DATABASE_URL/);
    expect(() => loadConfig(probe, { DATABASE_URL: 'mysql://root:hunter2@db/x' })).not.toThrow(/hunter2/);
  });
});

describe('trace context', () => {
  it('keeps the Istio trace headers, drops others and makes up a request id when none came', () => {
    const ctx = contextFromHeaders({
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      'x-b3-sampled': '1',
      cookie: 'secret',
      authorization: 'Bearer x',
    });
    expect(Object.keys(ctx.propagation).sort()).toEqual(['traceparent', 'x-b3-sampled', 'x-request-id']);
    expect(ctx.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(ctx.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(contextFromHeaders({ 'x-b3-traceid': '463ac35c9f6413ad' }).traceId).toBe('463ac35c9f6413ad');
    expect(contextFromHeaders({ 'x-request-id': 'bad\nvalue' }).requestId).not.toContain('\n');
    expect(TRACE_HEADERS).toEqual(expect.arrayContaining(['x-request-id', 'traceparent', 'tracestate', 'b3', 'x-b3-traceid', 'x-ot-span-context']));
  });

  it('carries the incoming headers through async work to every outgoing call', async () => {
    const headers = { 'x-request-id': 'r-1', tracestate: 'vendor=1', 'x-ot-span-context': 'ctx' };
    const res = await request(service.url, 'GET', '/things/7', { headers });
    expect(res.body).toEqual({ id: '7', forwarded: headers });
    // And the HTTP client puts them on the wire.
    const client = new ServiceClient('probe', service.url, 1000);
    const echoed = await runWithContext(contextFromHeaders({ 'x-request-id': 'r-2', 'x-b3-traceid': '463ac35c9f6413ad' }), () =>
      client.call<{ forwarded: unknown }>('GET', '/things/8'),
    );
    expect(echoed.body.forwarded).toEqual({ 'x-request-id': 'r-2', 'x-b3-traceid': '463ac35c9f6413ad' });
  });

  it('gives up on a callee after the client timeout with 504 UPSTREAM_TIMEOUT, and on a dead one with 503', async () => {
    service.chaos.set({ failRate: 0, latencyMs: 500 });
    try {
      await expect(new ServiceClient('probe', service.url, 100).call('GET', '/things/1')).rejects.toMatchObject({ status: 504, code: 'UPSTREAM_TIMEOUT' });
    } finally {
      service.chaos.reset();
    }
    await expect(new ServiceClient('nowhere', 'http://127.0.0.1:1', 500).call('GET', '/')).rejects.toMatchObject({ status: 503, code: 'UPSTREAM_UNAVAILABLE' });
  });
});

describe('errors', () => {
  it('hides unexpected errors behind 500 INTERNAL without leaking the message', async () => {
    const res = await request(service.url, 'GET', '/boom');
    expectError(res, 500, 'INTERNAL');
    expect(res.text).not.toContain('secret internals');
  });
});

describe('admin port', () => {
  it('serves liveness, readiness with a database check, and Prometheus metrics by route template', async () => {
    expect((await request(service.adminUrl, 'GET', '/health/live')).status).toBe(200);
    expect((await request(service.adminUrl, 'GET', '/health/ready')).body).toEqual({ status: 'ready', checks: { database: 'ok' } });
    await request(service.url, 'GET', '/things/abc');
    await request(service.url, 'GET', '/things/def');
    await request(service.url, 'GET', '/nowhere/at/all');
    const metrics = await request(service.adminUrl, 'GET', '/metrics');
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(metrics.text).toMatch(/http_requests_total\{method="GET",route="\/things\/\{id\}",status="200",service="probe"\} [2-9]/);
    expect(metrics.text).toMatch(/http_request_duration_seconds_bucket\{[^}]*method="GET",route="\/things\/\{id\}",status="200"/);
    expect(metrics.text).toContain('route="unmatched",status="404"');
    expect(metrics.text).not.toContain('/things/abc');
    // The admin port is not part of the public API.
    expectError(await request(service.url, 'GET', '/metrics'), 404, 'NOT_FOUND');
  });

  it('turns a fraction of public requests into 503 CHAOS_INJECTED and adds latency, at run time', async () => {
    const set = await request(service.adminUrl, 'POST', '/admin/chaos', { json: { failRate: 1 } });
    expect(set.body).toEqual({ failRate: 1, latencyMs: 0 });
    expectError(await request(service.url, 'GET', '/things/1'), 503, 'CHAOS_INJECTED');
    expect((await request(service.adminUrl, 'GET', '/health/live')).status).toBe(200);
    await request(service.adminUrl, 'POST', '/admin/chaos', { json: { failRate: 0, latencyMs: 150 } });
    const started = Date.now();
    expect((await request(service.url, 'GET', '/things/1')).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect((await request(service.adminUrl, 'DELETE', '/admin/chaos')).body).toEqual({ failRate: 0, latencyMs: 0 });
    expectError(await request(service.adminUrl, 'POST', '/admin/chaos', { json: { failRate: 2 } }), 400, 'VALIDATION_FAILED');
    expectError(await request(service.adminUrl, 'POST', '/admin/chaos', { raw: '{' }), 400, 'INVALID_JSON');
  });

  it('fails readiness as soon as a stop begins, then drains in-flight requests and closes', async () => {
    const other = await startService(probe, testEnv({ SHUTDOWN_DELAY_MS: '1000' }));
    other.chaos.set({ failRate: 0, latencyMs: 400 });
    const inFlight = request(other.url, 'GET', '/things/slow');
    await new Promise((r) => setTimeout(r, 50));
    const stopping = other.stop();
    const ready = await request(other.adminUrl, 'GET', '/health/ready');
    expectError(ready, 503, 'NOT_READY');
    expect((await inFlight).status).toBe(200);
    await stopping;
    await expect(fetch(`${other.url}/things/1`)).rejects.toThrow();
  });
});

describe('migrations', () => {
  it('apply once: a second run applies nothing', async () => {
    expect(await migrate(service.db, [outboxMigration, processedEventsMigration], silent)).toEqual([]);
    const applied = await service.db.query<{ id: string }>('SELECT id FROM schema_migrations ORDER BY id');
    expect(applied.map((r) => r.id)).toEqual(['0100_outbox', '0101_processed_events']);
  });

  it('refuse an unsorted list', async () => {
    await expect(migrate(service.db, [processedEventsMigration, outboxMigration], silent)).rejects.toThrow(/sorted/);
  });
});

describe('outbox relay', () => {
  class FakePublisher implements EventPublisher {
    sent: Array<{ topic: string; messages: readonly OutgoingMessage[] }> = [];
    failing = false;
    async connect() {}
    async disconnect() {}
    async publish(topic: string, messages: readonly OutgoingMessage[]) {
      if (this.failing) throw new Error('broker down');
      this.sent.push({ topic, messages });
    }
  }

  it('publishes events in write order with their ids and trace headers, marks them sent, keeps them on failure', async () => {
    await service.db.exec('DELETE FROM outbox; DELETE FROM outbox_lease');
    for (const n of [1, 3, 2]) await request(service.url, 'POST', '/events', { json: { n }, headers: { 'x-request-id': `req-${n}` } });
    const publisher = new FakePublisher();
    const relay = new OutboxRelay({ db: service.db, publisher, logger: silent, holder: 'test-a' });

    publisher.failing = true;
    await expect(relay.relayOnce()).rejects.toThrow('broker down');
    expect((await service.db.query('SELECT 1 FROM outbox WHERE sent_at IS NULL')).length).toBe(3);

    publisher.failing = false;
    expect(await relay.relayOnce()).toBe(3);
    expect(publisher.sent.map((s) => [s.topic, s.messages.map((m) => JSON.parse(m.value).data.n)])).toEqual([
      ['odd', [1, 3]],
      ['even', [2]],
    ]);
    const first = publisher.sent[0]!.messages[0]!;
    expect(first.key).toBe('k');
    expect(first.headers).toMatchObject({ 'x-request-id': 'req-1', 'event-type': 'Counted', 'event-id': JSON.parse(first.value).eventId });
    expect(await relay.relayOnce()).toBe(0);
    expect((await service.db.query('SELECT 1 FROM outbox WHERE sent_at IS NULL')).length).toBe(0);
  });

  it('marks a trickle of events sent once acknowledged, before it waits for more (delivered events never look unsent for the wait)', async () => {
    await service.db.exec('DELETE FROM outbox; DELETE FROM outbox_lease');
    await request(service.url, 'POST', '/events', { json: { n: 1 } });
    // The relay's statements in the order it sends them.
    const db = service.db;
    const statements: string[] = [];
    const logged = (tx: Queryable): Queryable => ({
      query: <T>(sql: string, params?: readonly unknown[]) => {
        statements.push(sql.trim());
        return tx.query<T>(sql, params);
      },
      exec: (sql: string) => tx.exec(sql),
    });
    const watched: Database = {
      kind: db.kind,
      query: <T>(sql: string, params?: readonly unknown[]) => logged(db).query<T>(sql, params),
      exec: (sql: string) => db.exec(sql),
      transaction: <T>(fn: (tx: Queryable) => Promise<T>) => db.transaction((tx) => fn(logged(tx))),
      ping: () => db.ping(),
      close: async () => undefined,
    };
    const isRead = (sql: string) => sql.startsWith('SELECT seq, event_id');
    const isMark = (sql: string) => sql.startsWith('UPDATE outbox SET sent_at');
    const publisher = new FakePublisher();
    const relay = new OutboxRelay({ db: watched, publisher, logger: silent, holder: 'test-trickle' });
    relay.start();
    try {
      // The read after the one that found the event: the relay has waited for more by then.
      await vi.waitFor(() => expect(statements.filter(isRead).length).toBeGreaterThanOrEqual(2), { timeout: 5_000 });
    } finally {
      await relay.stop();
    }
    expect(publisher.sent.flatMap((s) => s.messages.map((m) => JSON.parse(m.value).data.n))).toEqual([1]);
    const reads = statements.flatMap((sql, i) => (isRead(sql) ? [i] : []));
    const mark = statements.findIndex(isMark);
    expect(mark).toBeGreaterThan(reads[0]!);
    expect(mark).toBeLessThan(reads[1]!);
  });

  it('records several events in one statement, in the order given, each relayed with its own id and the trace headers', async () => {
    await service.db.exec('DELETE FROM outbox; DELETE FROM outbox_lease');
    const events = [5, 1, 4, 2, 3].map((n) => ({ topic: n === 4 ? 'even' : 'odd', key: `k${n % 2}`, type: 'Counted', source: 'probe', data: { n } }));
    const envelopes = await runWithContext(contextFromHeaders({ 'x-request-id': 'req-many' }), () => service.db.transaction((tx) => recordEvents(tx, events)));
    expect(envelopes.map((e) => e.data.n)).toEqual([5, 1, 4, 2, 3]);
    expect(new Set(envelopes.map((e) => e.eventId)).size).toBe(5);
    expect(await service.db.transaction((tx) => recordEvents(tx, []))).toEqual([]);

    const publisher = new FakePublisher();
    const relay = new OutboxRelay({ db: service.db, publisher, logger: silent, holder: 'test-many' });
    expect(await relay.relayOnce()).toBe(5);
    expect(publisher.sent.map((s) => [s.topic, s.messages.map((m) => JSON.parse(m.value).data.n)])).toEqual([
      ['odd', [5, 1]],
      ['even', [4]],
      ['odd', [2, 3]],
    ]);
    const sent = publisher.sent.flatMap((s) => s.messages);
    expect(sent.map((m) => JSON.parse(m.value))).toEqual(envelopes);
    expect(sent.map((m) => m.key)).toEqual(['k1', 'k1', 'k0', 'k0', 'k1']);
    for (const [i, m] of sent.entries()) expect(m.headers).toEqual({ 'x-request-id': 'req-many', 'event-id': envelopes[i]!.eventId, 'event-type': 'Counted' });
  });

  it('deletes sent rows once their retention has passed, never unsent ones, and keeps them within it', async () => {
    await service.db.exec('DELETE FROM outbox; DELETE FROM outbox_lease');
    const write = (n: number) => request(service.url, 'POST', '/events', { json: { n } });
    for (const n of [1, 2, 3]) await write(n);
    const seqs = async () =>
      await service.db.query<{ n: number; sent: boolean }>("SELECT (payload->'data'->>'n')::int AS n, sent_at IS NOT NULL AS sent FROM outbox ORDER BY seq");

    const keeping = new OutboxRelay({ db: service.db, publisher: new FakePublisher(), logger: silent, holder: 'test-keep', batchSize: 2 });
    expect(await keeping.relayOnce()).toBe(2);
    expect(await keeping.pruneOnce()).toBe(0);
    expect(await seqs()).toEqual([
      { n: 1, sent: true },
      { n: 2, sent: true },
      { n: 3, sent: false },
    ]);
    await service.db.exec('DELETE FROM outbox_lease');

    const pruning = new OutboxRelay({ db: service.db, publisher: new FakePublisher(), logger: silent, holder: 'test-prune', batchSize: 1, sentRetentionMs: 0 });
    // Nothing marked by this relay yet: it knows no sent rows to delete.
    expect(await pruning.pruneOnce()).toBe(0);
    await write(4);
    // Marks row 3 (rows 1 and 2 were another relay's, sent before it: lower seqs, pruned with it).
    expect(await pruning.relayOnce()).toBe(1);
    // Row 2 as a row committed late would be: unsent below sent ones.
    await service.db.exec("UPDATE outbox SET sent_at = NULL WHERE payload->'data'->>'n' = '2'");
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await pruning.pruneOnce()).toBe(2);
    expect(await seqs()).toEqual([
      { n: 2, sent: false },
      { n: 4, sent: false },
    ]);
    expect(await pruning.pruneOnce()).toBe(0);
    await service.db.exec('DELETE FROM outbox');
  });

  it('lets one relay at a time hold the outbox so events of a key stay in order', async () => {
    await service.db.exec('DELETE FROM outbox_lease');
    await request(service.url, 'POST', '/events', { json: { n: 10 } });
    const a = new FakePublisher();
    const b = new FakePublisher();
    const relayA = new OutboxRelay({ db: service.db, publisher: a, logger: silent, holder: 'a' });
    const relayB = new OutboxRelay({ db: service.db, publisher: b, logger: silent, holder: 'b' });
    expect(await relayA.relayOnce()).toBe(1);
    await request(service.url, 'POST', '/events', { json: { n: 12 } });
    expect(await relayB.relayOnce()).toBe(0);
    expect(await relayA.relayOnce()).toBe(1);
    expect(b.sent).toEqual([]);
  });
});

describe('event processor', () => {
  const event = () => JSON.stringify({ eventId: randomUUID(), type: 'T', version: 1, occurredAt: new Date().toISOString(), source: 's', data: {} });
  const schema = { type: 'object' };
  let offset = 0;
  const msg = (value: string) => ({ topic: 't', partition: 0, offset: String(offset++), key: null, value: Buffer.from(value) });

  it('retries a failing handler a few times, then dead-letters it so the partition moves on', async () => {
    const letters: DeadLetter[] = [];
    const processor = new EventProcessor({
      db: service.db,
      logger: silent,
      schema,
      maxAttempts: 3,
      handle: async () => Promise.reject(new Error('bug')),
      deadLetter: async (l) => void letters.push(l),
    });
    const m = msg(event());
    await expect(processor.process(m)).rejects.toThrow('bug');
    await expect(processor.process(m)).rejects.toThrow('bug');
    expect(await processor.process(m)).toBe('dead-lettered');
    expect(letters).toEqual([expect.objectContaining({ reason: 'HANDLER_FAILED', error: 'bug' })]);
    // The failed attempts left no processed id behind: the transaction rolled back.
    const id = JSON.parse(m.value.toString()).eventId;
    expect(await service.db.query('SELECT 1 FROM processed_events WHERE event_id = $1', [id])).toEqual([]);
  });

  it('keeps throwing, without dead-lettering, while the database is down', async () => {
    const letters: DeadLetter[] = [];
    const down = {
      ...service.db,
      transaction: () => Promise.reject(new Error('connection refused')),
      ping: () => Promise.reject(new Error('connection refused')),
    };
    const processor = new EventProcessor({
      db: down,
      logger: silent,
      schema,
      maxAttempts: 1,
      handle: async () => undefined,
      deadLetter: async (l) => void letters.push(l),
    });
    const m = msg(event());
    for (let i = 0; i < 3; i++) await expect(processor.process(m)).rejects.toThrow('connection refused');
    expect(letters).toEqual([]);
  });
});
