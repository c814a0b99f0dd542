/**
 * Event pipeline: outbox -> Kafka -> notification on the real broker and the
 * real PostgreSQL of test/harness, with the shop's own processes (order's
 * outbox relay, notification's consumer). Events enter order's outbox through
 * the kit (recordEvents, one INSERT per transaction of events), at stepped
 * rates; end-to-end lag is notification's row time minus the outbox row time
 * (both PostgreSQL's clock: one server). Then a burst shows the capacity of
 * each stage.
 *
 * Usage: tsx bench/pipeline.ts [--rates 500,2000,5000,6000] [--seconds 15] [--burst 20000]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createLogger, openDatabase, recordEvents, type Database } from '../apps/kit/index.js';
import { sampleRss } from './lib/child.js';
import { cpuMsPer, cpuSeconds, processTree } from './lib/cpu.js';
import { LatencyHistogram } from '../load/histogram.js';
import { startBenchShop, startInfra } from './lib/infra.js';
import { loadNow } from './lib/machine.js';
import { log, runScript, runSection } from './lib/results.js';

const S = 'pipeline';
const TOPIC = 'orders.events';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes one transaction of `count` OrderConfirmed events (the kit's recordEvents: one INSERT for them all); returns their ids. */
async function writeEvents(db: Database, count: number): Promise<string[]> {
  const events = Array.from({ length: count }, () => {
    const orderId = randomUUID();
    return {
      topic: TOPIC,
      key: orderId,
      type: 'OrderConfirmed',
      source: 'order',
      data: { orderId, userId: '00000000-0000-4000-8000-000000000001', status: 'CONFIRMED', totalCents: 990, currency: 'EUR', reason: null },
    };
  });
  const envelopes = await db.transaction((tx) => recordEvents(tx, events));
  return envelopes.map((e) => e.eventId);
}

/** Offers `rate` events/s for `seconds`: every 10 ms the events now due, in transactions of at most 200, at most 4 in flight. */
async function offer(db: Database, rate: number, seconds: number): Promise<{ ids: string[]; writtenPerSecond: number }> {
  const ids: string[] = [];
  const began = performance.now();
  const end = began + seconds * 1000;
  let scheduled = 0;
  let inFlight = 0;
  let failure: unknown;
  for (let tick = 0; tick < seconds * 1000; tick += 1) {
    const now = performance.now();
    if (now >= end || failure) break;
    const due = Math.floor(((now - began) / 1000) * rate) - scheduled;
    if (due > 0 && inFlight < 4) {
      const count = Math.min(due, 200);
      scheduled += count;
      inFlight += 1;
      writeEvents(db, count).then(
        (written) => {
          ids.push(...written);
          inFlight -= 1;
        },
        (err: unknown) => {
          failure = err;
          inFlight -= 1;
        },
      );
    }
    await sleep(due > 0 && inFlight < 4 ? 0 : 10);
  }
  for (let i = 0; i < 3000 && inFlight > 0; i += 1) await sleep(10);
  if (failure) throw failure;
  return { ids, writtenPerSecond: Math.round(ids.length / ((performance.now() - began) / 1000)) };
}

interface Timings {
  /** outbox.created_at, sent_at and notifications.created_at in ms since the epoch (PostgreSQL's clock). */
  readonly created: number;
  readonly sent: number | undefined;
  readonly notified: number | undefined;
}

async function timings(order: pg.Pool, notification: pg.Pool, ids: readonly string[]): Promise<Map<string, Timings>> {
  const out = new Map<string, Timings>();
  for (let i = 0; i < ids.length; i += 10_000) {
    const chunk = ids.slice(i, i + 10_000);
    const outbox = await order.query<{ event_id: string; created: number; sent: number | null }>(
      'SELECT event_id, extract(epoch FROM created_at) * 1000 AS created, extract(epoch FROM sent_at) * 1000 AS sent FROM outbox WHERE event_id = ANY($1::uuid[])',
      [chunk],
    );
    const notified = await notification.query<{ event_id: string; notified: number }>(
      'SELECT event_id, extract(epoch FROM created_at) * 1000 AS notified FROM notifications WHERE event_id = ANY($1::uuid[])',
      [chunk],
    );
    const byId = new Map(notified.rows.map((r) => [r.event_id, Number(r.notified)]));
    for (const r of outbox.rows)
      out.set(r.event_id, { created: Number(r.created), sent: r.sent === null ? undefined : Number(r.sent), notified: byId.get(r.event_id) });
  }
  return out;
}

async function countNotified(notification: pg.Pool, ids: readonly string[]): Promise<number> {
  let n = 0;
  for (let i = 0; i < ids.length; i += 10_000) {
    const { rows } = await notification.query<{ n: number }>('SELECT count(*)::int AS n FROM notifications WHERE event_id = ANY($1::uuid[])', [
      ids.slice(i, i + 10_000),
    ]);
    n += rows[0]?.n ?? 0;
  }
  return n;
}

/** The ids among `ids` that have no notification yet. */
async function notNotified(notification: pg.Pool, ids: readonly string[]): Promise<string[]> {
  const missing: string[] = [];
  for (let i = 0; i < ids.length; i += 10_000) {
    const chunk = ids.slice(i, i + 10_000);
    const { rows } = await notification.query<{ event_id: string }>('SELECT event_id FROM notifications WHERE event_id = ANY($1::uuid[])', [chunk]);
    const seen = new Set(rows.map((r) => r.event_id));
    for (const id of chunk) if (!seen.has(id)) missing.push(id);
  }
  return missing;
}

/**
 * Waits (bounded) until every id has its notification; returns the milliseconds it took. Each poll
 * looks up only the ids still missing, so the measurement's own queries stay small beside the
 * pipeline's work that the CPU figures count.
 */
async function drain(notification: pg.Pool, ids: readonly string[], timeoutMs: number): Promise<{ ms: number; complete: boolean }> {
  const began = performance.now();
  let missing = ids;
  for (let i = 0; i < 100_000; i += 1) {
    missing = await notNotified(notification, missing);
    if (missing.length === 0) return { ms: Math.round(performance.now() - began), complete: true };
    if (performance.now() - began > timeoutMs) return { ms: Math.round(performance.now() - began), complete: false };
    await sleep(100);
  }
  return { ms: Math.round(performance.now() - began), complete: false };
}

/** With MESHKIT_PG_STAT_STATEMENTS=1 (infra/postgres.ts loads the extension): where PostgreSQL's time went since the last reset, per event. */
const statementStats = process.env['MESHKIT_PG_STAT_STATEMENTS'] === '1';
async function resetStatementStats(admin: pg.Pool): Promise<void> {
  if (!statementStats) return;
  await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  await admin.query('SELECT pg_stat_statements_reset(), pg_stat_reset_shared($1)', ['wal']);
}
async function logStatementStats(admin: pg.Pool, events: number): Promise<void> {
  if (!statementStats || events === 0) return;
  const { rows } = await admin.query<{ query: string; calls: string; rows: string; exec_ms: number; plan_ms: number }>(
    `SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 110) AS query, calls, rows, total_exec_time AS exec_ms, total_plan_time AS plan_ms
     FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT 12`,
  );
  for (const r of rows)
    log(
      S,
      `  pg ${(((r.exec_ms + r.plan_ms) / events) * 1000).toFixed(1)} µs/event (plan ${((r.plan_ms / events) * 1000).toFixed(1)}), ${(Number(r.calls) / events).toFixed(3)} calls/event, ${r.rows} rows: ${r.query}`,
    );
  const [wal] = (await admin.query<{ wal_records: string; wal_bytes: string; wal_fpi: string }>('SELECT wal_records, wal_bytes, wal_fpi FROM pg_stat_wal'))
    .rows;
  if (wal)
    log(
      S,
      `  WAL per event: ${(Number(wal.wal_records) / events).toFixed(1)} records, ${Math.round(Number(wal.wal_bytes) / events)} bytes, ${(Number(wal.wal_fpi) / events).toFixed(2)} full pages`,
    );
}

function lagSummary(all: Map<string, Timings>) {
  const endToEnd = new LatencyHistogram();
  const relay = new LatencyHistogram();
  for (const t of all.values()) {
    if (t.notified !== undefined) endToEnd.record(Math.max(0, t.notified - t.created));
    if (t.sent !== undefined) relay.record(Math.max(0, t.sent - t.created));
  }
  return { endToEndMs: endToEnd.summary(), outboxToSentMs: relay.summary() };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rates: { type: 'string', default: '500,2000,5000,6000' },
      seconds: { type: 'string', default: '15' },
      burst: { type: 'string', default: '20000' },
    },
  });
  const rates = values.rates.split(',').map(Number);
  const seconds = Math.min(120, Math.max(3, Number(values.seconds)));
  const burst = Math.min(200_000, Math.max(1000, Number(values.burst)));
  if (rates.some((r) => !(r > 0 && r <= 50_000))) throw new Error(`'--rates' (${values.rates}) must be events/s from 1 to 50000, comma-separated`);

  await runSection(S, `npm run bench:pipeline -- --rates ${rates.join(',')} --seconds ${seconds} --burst ${burst}`, async () => {
    const infra = await startInfra(S, { kafka: true });
    try {
      const { shop, databaseUrls } = await startBenchShop(infra, 'pipe');
      const order = new pg.Pool({ connectionString: databaseUrls.order, max: 2 });
      const notification = new pg.Pool({ connectionString: databaseUrls.notification, max: 2 });
      const admin = new pg.Pool({ connectionString: infra.postgres.url, max: 1 });
      const writer = await openDatabase({ url: databaseUrls.order, pgliteDataDir: 'memory://', logger: createLogger('bench', 'silent'), poolSize: 4 });
      try {
        const postgresPort = new URL(infra.postgres.url).port;
        const pids = { order: shop.service('order').pid ?? -1, notification: shop.service('notification').pid ?? -1 };
        const groups = {
          order: () => [pids.order],
          notification: () => [pids.notification],
          postgres: () => processTree(`port=${postgresPort}`),
          kafka: () => (infra.kafka ? processTree(infra.kafka.dataDir) : []),
          writer: () => [process.pid],
        };

        // The consumer joins its group after the service is ready: wait for a first event to arrive.
        const probe = await writeEvents(writer, 1);
        const joined = await drain(notification, probe, 90_000);
        if (!joined.complete)
          throw new Error('notification did not consume a probe event within 90 s: is the consumer running? (see its log in the local shop)');
        log(S, `consumer running: a first event arrived after ${joined.ms} ms`);

        const steps = [];
        for (const rate of rates) {
          const load = loadNow();
          const stopRss = sampleRss(pids);
          await resetStatementStats(admin);
          const before = cpuSeconds(groups);
          const { ids, writtenPerSecond } = await offer(writer, rate, seconds);
          const atEnd = await countNotified(notification, ids);
          const drained = await drain(notification, ids, 120_000);
          const cpuMsPerEvent = cpuMsPer(before, cpuSeconds(groups), ids.length);
          const rss = stopRss();
          await logStatementStats(admin, ids.length);
          const lag = lagSummary(await timings(order, notification, ids));
          const step = {
            offeredPerSecond: rate,
            writtenPerSecond,
            events: ids.length,
            seconds,
            deliveredDuringStepPerSecond: Math.round(atEnd / seconds),
            backlogAtEnd: ids.length - atEnd,
            drainAfterEndMs: drained.ms,
            complete: drained.complete,
            ...lag,
            cpuMsPerEvent,
            rss,
            load,
          };
          steps.push(step);
          log(
            S,
            `offered ${rate}/s (written ${writtenPerSecond}/s): delivered ${step.deliveredDuringStepPerSecond}/s during the step, backlog ${step.backlogAtEnd}, drained ${drained.ms} ms later; lag p50 ${lag.endToEndMs.p50Ms} ms p99 ${lag.endToEndMs.p99Ms} ms; CPU ${cpuMsPerEvent['total']} ms/event`,
          );
          if (!drained.complete) {
            log(S, 'the backlog did not drain within 120 s: not offering more');
            break;
          }
        }

        log(S, `burst: ${burst} events written as fast as possible`);
        const burstLoad = loadNow();
        const before = cpuSeconds(groups);
        const burstIds: string[] = [];
        const writeBegan = performance.now();
        for (let i = 0; i < burst; i += 500) burstIds.push(...(await writeEvents(writer, Math.min(500, burst - i))));
        const writeMs = performance.now() - writeBegan;
        const burstDrain = await drain(notification, burstIds, 300_000);
        const burstCpu = cpuMsPer(before, cpuSeconds(groups), burstIds.length);
        const t = [...(await timings(order, notification, burstIds)).values()];
        const max = (xs: number[]) => xs.reduce((a, b) => (b > a ? b : a), Number.NEGATIVE_INFINITY);
        const min = (xs: number[]) => xs.reduce((a, b) => (b < a ? b : a), Number.POSITIVE_INFINITY);
        const span = (xs: number[]) => (xs.length < 2 ? Number.NaN : (max(xs) - min(xs)) / 1000);
        const created = t.map((x) => x.created);
        const sent = t.flatMap((x) => (x.sent === undefined ? [] : [x.sent]));
        const notified = t.flatMap((x) => (x.notified === undefined ? [] : [x.notified]));
        const rate = (n: number, secs: number) => Math.round(n / secs);
        const burstResult = {
          events: burstIds.length,
          writtenPerSecond: rate(burstIds.length, writeMs / 1000),
          complete: burstDrain.complete,
          /** From the first outbox row to the last notification. */
          endToEndPerSecond: rate(notified.length, (max(notified) - min(created)) / 1000),
          /** Relay: from the first outbox row to the last one marked sent. */
          relayPerSecond: rate(sent.length, (max(sent) - min(created)) / 1000),
          /** Consumer: from its first notification of the burst to its last. */
          consumerPerSecond: rate(notified.length, span(notified)),
          cpuMsPerEvent: burstCpu,
          load: burstLoad,
        };
        log(
          S,
          `burst: end to end ${burstResult.endToEndPerSecond}/s, relay ${burstResult.relayPerSecond}/s, consumer ${burstResult.consumerPerSecond}/s; CPU ${burstCpu['total']} ms/event`,
        );
        return {
          notes: {
            source:
              "events enter order's outbox through the kit's recordEvents (one INSERT per transaction, a prepared statement), in transactions of up to 200 every 10 ms from the benchmark process",
            lag: 'notifications.created_at - outbox.created_at: both now() of their transactions on the same PostgreSQL server',
            relay:
              "order's OutboxRelay: batches of up to 1000 read by an ordered scan of the unsent-rows index (one UPDATE marks a batch sent, after its acks), idempotent producer, acks=all, one send in flight; pipelined: the next batch is read while one is on its way and a batch is marked while the next one is; an empty outbox is polled again after 25 ms, doubling to 200 ms while it stays empty",
            consumer:
              "notification's KafkaConsumerWorker: eachBatch, partitions consumed concurrently (up to 4), one transaction per batch of up to 500 messages of a partition (processed ids in one INSERT ... ON CONFLICT, the new events' notifications in one plain INSERT), offsets resolved after its commit",
            partitions: 'orders.events has the partitions of the platform model (charts/platform.ts)',
          },
          consumerJoinMs: joined.ms,
          steps,
          burst: burstResult,
        };
      } finally {
        await writer.close();
        await order.end();
        await notification.end();
        await admin.end();
        await shop.stop();
      }
    } finally {
      await infra.stop();
    }
  });
}

runScript(main);
