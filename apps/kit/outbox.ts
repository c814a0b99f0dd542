import { randomUUID } from 'node:crypto';
import { Gauge, Counter, type Registry } from 'prom-client';
import { Backoff, pause } from './backoff.js';
import { propagationHeaders } from './context.js';
import type { Database, Migration, Queryable } from './database.js';
import type { EventPublisher, OutgoingMessage } from './kafka.js';
import type { Logger } from './logger.js';

/** Versioned envelope of every event on Kafka. Consumers dedupe by `eventId`. */
export interface EventEnvelope<T = unknown> {
  readonly eventId: string;
  readonly type: string;
  readonly version: number;
  readonly occurredAt: string;
  /** Service that wrote the event. */
  readonly source: string;
  readonly data: T;
}

/** The outbox table and the relay's lease; include in a service's migrations. */
export const outboxMigration: Migration = {
  id: '0100_outbox',
  sql: `
    CREATE TABLE IF NOT EXISTS outbox (
      seq bigserial PRIMARY KEY,
      event_id uuid NOT NULL UNIQUE,
      topic text NOT NULL,
      message_key text NOT NULL,
      event_type text NOT NULL,
      payload jsonb NOT NULL,
      headers jsonb NOT NULL DEFAULT '{}',
      created_at timestamptz NOT NULL DEFAULT now(),
      sent_at timestamptz
    );
    CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
    CREATE TABLE IF NOT EXISTS outbox_lease (
      id int PRIMARY KEY CHECK (id = 1),
      holder text NOT NULL,
      expires_at timestamptz NOT NULL
    );
  `,
};

export interface NewEvent<T> {
  readonly topic: string;
  /** Kafka message key: events with the same key keep their order (one partition). */
  readonly key: string;
  readonly type: string;
  readonly data: T;
  readonly source: string;
  /** @default 1 */
  readonly version?: number;
}

/**
 * Writes an event into the outbox inside the caller's transaction, so it exists
 * exactly when the state change it describes does. The trace headers of the
 * current request travel with it onto Kafka.
 */
export async function recordEvent<T>(tx: Queryable, event: NewEvent<T>): Promise<EventEnvelope<T>> {
  const { envelope, params } = outboxEntry(event);
  await tx.query(INSERT_EVENT, params);
  return envelope;
}

/**
 * Writes several events into the outbox inside the caller's transaction, in one statement, in the
 * order given (their seq, so their order on Kafka, follows it). For a transaction that records more
 * than one event: one INSERT of n rows cost the client 14 µs of CPU per event and
 * PostgreSQL 25, against 57 and 57 for n single-row INSERTs (200 events per transaction, CPU of the
 * two processes, 2026-12-02).
 */
export async function recordEvents<T>(tx: Queryable, events: ReadonlyArray<NewEvent<T>>): Promise<Array<EventEnvelope<T>>> {
  if (events.length === 0) return [];
  const entries = events.map((event) => outboxEntry(event));
  await tx.query(
    INSERT_EVENTS,
    entries[0]!.params.map((_, column) => entries.map((entry) => entry.params[column])),
  );
  return entries.map((entry) => entry.envelope);
}

/** The outbox columns an event fills, in the order of `outboxEntry(...).params`. */
export const OUTBOX_COLUMNS = 'event_id, topic, message_key, event_type, payload, headers';

/** recordEvent's statement: one per state change, the hottest write of the outbox. */
const INSERT_EVENT = `INSERT INTO outbox (${OUTBOX_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)`;

/**
 * recordEvents' statement: one text whatever the number of events (one prepared statement), a column
 * per array. ORDER BY the array position: the seq defaults are drawn in that order.
 */
const INSERT_EVENTS = `INSERT INTO outbox (${OUTBOX_COLUMNS})
  SELECT event_id, topic, message_key, event_type, payload, headers
  FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[])
    WITH ORDINALITY AS e(event_id, topic, message_key, event_type, payload, headers, position)
  ORDER BY position`;

/**
 * The six parameters `$first`..`$first+5`, typed for the outbox columns: for writing the event in
 * the same statement as the state change it describes (`INSERT INTO outbox (OUTBOX_COLUMNS)
 * SELECT ${outboxValues(n)} FROM changed`), one round trip instead of a transaction of several.
 */
export const outboxValues = (first: number): string => [`uuid`, `text`, `text`, `text`, `jsonb`, `jsonb`].map((type, i) => `$${first + i}::${type}`).join(', ');

/**
 * What `recordEvent` inserts, without inserting it: the envelope and the row's parameters
 * (OUTBOX_COLUMNS order), with the trace headers of the current request.
 */
export function outboxEntry<T>(event: NewEvent<T>): { envelope: EventEnvelope<T>; params: [string, string, string, string, string, string] } {
  const envelope: EventEnvelope<T> = {
    eventId: randomUUID(),
    type: event.type,
    version: event.version ?? 1,
    occurredAt: new Date().toISOString(),
    source: event.source,
    data: event.data,
  };
  const { 'x-request-id': requestId, ...trace } = propagationHeaders();
  const headers = { ...trace, ...(requestId ? { 'x-request-id': requestId } : {}), 'event-id': envelope.eventId, 'event-type': envelope.type };
  return { envelope, params: [envelope.eventId, event.topic, event.key, event.type, JSON.stringify(envelope), JSON.stringify(headers)] };
}

export interface OutboxRelayOptions {
  readonly db: Database;
  readonly publisher: EventPublisher;
  readonly logger: Logger;
  readonly registry?: Registry;
  /** Identity in the lease table (pod name). */
  readonly holder: string;
  /** Most events read, published and marked sent per cycle. @default 1000 */
  readonly batchSize?: number;
  /**
   * Longest wait before polling again once the outbox was found empty (a busy outbox is read again
   * at once; right after traffic the relay polls sooner, doubling its wait up to this). @default 200
   */
  readonly pollIntervalMs?: number;
  /** How long one relay owns the outbox without renewing. @default 15000 */
  readonly leaseMs?: number;
  /**
   * How long a sent row stays in the outbox (to look up what left, and when) before the relay that
   * sent it deletes it. @default 600000 (10 minutes)
   */
  readonly sentRetentionMs?: number;
}

interface OutboxRow {
  seq: string | number;
  event_id: string;
  topic: string;
  message_key: string;
  payload: unknown;
  headers: Record<string, string>;
}

/**
 * Publishes outbox rows to Kafka in order and marks them sent. One replica at a
 * time holds a lease on the outbox so events of one key leave in the order they
 * were written; others stand by. Delivery is at least once (a crash between
 * publish and mark re-sends), which consumers absorb by event id. When Kafka is
 * down the relay backs off and the rows wait. Sent rows are deleted once they
 * are `sentRetentionMs` old, so the table holds the unsent ones and a window.
 */
export class OutboxRelay {
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly leaseMs: number;
  private readonly sentRetentionMs: number;
  /**
   * Where the sent rows end, over time: the highest seq marked, one entry per PRUNE_INTERVAL_MS
   * (the time of its first mark), oldest first. Bounds the prune's scan to rows sent long enough
   * ago; rows this relay did not see sent (another holder's, an earlier process's) have lower seqs
   * and go with them.
   */
  private readonly marked: Array<{ at: number; seq: bigint }> = [];
  /** The highest seq below which every row sent before the retention may be deleted. */
  private pruneBound: bigint | undefined;
  /** When this relay last took or renewed the lease (performance.now(), taken before asking); undefined while it does not hold it. */
  private leaseRenewedAt: number | undefined;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private connected = false;
  private readonly published: Counter | undefined;

  constructor(private readonly options: OutboxRelayOptions) {
    this.batchSize = options.batchSize ?? 1000;
    this.pollIntervalMs = options.pollIntervalMs ?? 200;
    this.leaseMs = options.leaseMs ?? 15_000;
    this.sentRetentionMs = options.sentRetentionMs ?? 600_000;
    if (options.registry) {
      this.published = new Counter({ name: 'outbox_events_published_total', help: 'Outbox events published to Kafka', registers: [options.registry] });
      const db = options.db;
      new Gauge({
        name: 'outbox_unsent_events',
        help: 'Outbox events not yet published',
        registers: [options.registry],
        async collect() {
          const [row] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox WHERE sent_at IS NULL').catch(() => [{ n: -1 }]);
          this.set(row?.n ?? -1);
        },
      });
    }
  }

  start(): void {
    this.loop ??= Promise.all([this.run(), this.pruneWhileRunning()]).then(() => undefined);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    if (this.connected) await this.options.publisher.disconnect().catch(() => undefined);
    await this.options.db.query('DELETE FROM outbox_lease WHERE holder = $1', [this.options.holder]).catch(() => undefined);
  }

  /**
   * One cycle: take or renew the lease, publish one batch, mark it sent (one UPDATE for the
   * batch, after every send of it succeeded; a failure part way leaves the whole batch unsent,
   * and what was already published goes again, which consumers absorb by event id). Returns
   * rows published.
   */
  async relayOnce(): Promise<number> {
    if (!(await this.holdLease())) return 0;
    const rows = await this.readUnsent([]);
    if (rows.length === 0) return 0;
    await this.publishInOrder(rows);
    await this.markSent(rows);
    return rows.length;
  }

  /**
   * The run loop's cycles, pipelined: while one batch is on its way to Kafka the next is read, and
   * a batch is marked sent while the one after it is on its way, so a cycle lasts about as long
   * as its send instead of read + send + mark. A trickle's batch is marked before the relay waits
   * for more events. Still one send at a time, each started only after
   * the previous one was acknowledged, so the order of the outbox is kept; a batch is marked only
   * after its own acknowledgement. Returns the rows relayed, with nothing in flight, once the outbox
   * is empty, the lease is someone else's or `signal` aborted; throws on any failure, after the send
   * in flight settled.
   */
  private async relayWhileBusy(signal: AbortSignal): Promise<number> {
    let relayed = 0;
    let inFlight: { rows: OutboxRow[]; sent: Promise<void> } | undefined;
    const send = (rows: OutboxRow[]) => {
      const sent = this.publishInOrder(rows);
      // Awaited below; this keeps a failure meanwhile from counting as an unhandled rejection.
      sent.catch(() => undefined);
      return { rows, sent };
    };
    try {
      for (;;) {
        // Stopping or no longer the holder: read nothing more, finish (and mark) what is in flight.
        const reading = !signal.aborted && (await this.holdLease());
        // The rows in flight are still unsent in the table: the next read skips them.
        const next = reading ? await this.readUnsent(inFlight?.rows ?? []) : [];
        const acknowledged = inFlight;
        if (acknowledged) await acknowledged.sent;
        inFlight = next.length > 0 ? send(next) : undefined;
        if (acknowledged) {
          await this.markSent(acknowledged.rows);
          relayed += acknowledged.rows.length;
        }
        if (!inFlight) return relayed;
        // A trickle (a shop's pace): let the next events gather rather than read, send and mark
        // each as it comes; every cycle is round trips to PostgreSQL and Kafka. Under load the
        // batches pass a tenth of batchSize within the wait and the relay reads at once again.
        // The batch is marked before the wait, not after the next read: its events are delivered
        // by then, and must not look unsent for the length of the wait.
        if (next.length < this.batchSize / 10) {
          await inFlight.sent;
          await this.markSent(inFlight.rows);
          relayed += inFlight.rows.length;
          inFlight = undefined;
          await pause(TRICKLE_LINGER_MS, signal);
        }
      }
    } finally {
      await inFlight?.sent.catch(() => undefined);
    }
  }

  /**
   * Unsent rows in outbox order, up to a batch, without `exclude` (rows in flight). The payload
   * comes as text: it goes onto Kafka as it is, without a parse and a stringify here.
   */
  private readUnsent(exclude: readonly OutboxRow[]): Promise<OutboxRow[]> {
    // Walk the partial index in seq order and stop at the batch. With a stale estimate of the
    // unsent rows PostgreSQL plans a bitmap scan instead, which reads every unsent row and every
    // index entry that earlier marks left dead (a bitmap scan never prunes them) on each read:
    // measured at 5,000 events/s, 100 ms per read of 1000 rows with 10,000 waiting, vs. a few ms.
    return this.withIndexScans((tx) =>
      tx.query<OutboxRow>(
        `SELECT seq, event_id, topic, message_key, payload::text AS payload, headers FROM outbox
         WHERE sent_at IS NULL AND seq <> ALL($2::bigint[]) ORDER BY seq LIMIT $1`,
        [this.batchSize, exclude.map((r) => String(r.seq))],
      ),
    );
  }

  /**
   * Runs `fn` in a transaction whose statements may use neither a bitmap nor a sequential scan of
   * the outbox, which keeps every sent row: a generic plan made while the table was small (these
   * statements are prepared) scanned it all on each mark, 1,580 rows per mark after 30 s at 100
   * orders/s and growing (payment's relay, bench/servers/saga-cost.ts, 2026-12-02).
   */
  private withIndexScans<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.options.db.transaction(async (tx) => {
      await tx.query("SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_seqscan', 'off', true)");
      return fn(tx);
    });
  }

  /** Consecutive rows of one topic go in one send; the order across the batch is kept. */
  private async publishInOrder(rows: readonly OutboxRow[]): Promise<void> {
    let start = 0;
    while (start < rows.length) {
      const topic = rows[start]!.topic;
      let end = start;
      while (end < rows.length && rows[end]!.topic === topic) end += 1;
      await this.options.publisher.publish(topic, rows.slice(start, end).map(toMessage));
      start = end;
    }
  }

  private async markSent(rows: readonly OutboxRow[]): Promise<void> {
    await this.withIndexScans((tx) => tx.query('UPDATE outbox SET sent_at = now() WHERE seq = ANY($1::bigint[])', [rows.map((r) => String(r.seq))]));
    this.published?.inc(rows.length);
    // Rows come in seq order: the last is the highest.
    const seq = BigInt(rows[rows.length - 1]!.seq);
    const now = Date.now();
    const latest = this.marked[this.marked.length - 1];
    if (latest && now - latest.at < PRUNE_INTERVAL_MS) latest.seq = seq > latest.seq ? seq : latest.seq;
    else this.marked.push({ at: now, seq });
  }

  /**
   * Deletes rows sent more than the retention ago, up to PRUNE_LIMIT, in seq order from the
   * oldest; returns how many. Only seqs this relay saw marked that long ago are scanned (the
   * primary key, from its start), so a prune reads the rows it deletes and the few unsent or
   * recently sent ones among them, not the whole retention window.
   */
  async pruneOnce(): Promise<number> {
    const cutoff = Date.now() - this.sentRetentionMs;
    while (this.marked.length > 0 && this.marked[0]!.at <= cutoff) this.pruneBound = this.marked.shift()!.seq;
    if (this.pruneBound === undefined) return 0;
    const bound = String(this.pruneBound);
    const [row] = await this.withIndexScans((tx) =>
      tx.query<{ n: number }>(
        // By ctid (a TID scan), not by seq (a second walk of the primary key): 2.5 vs 4.9 µs of
        // PostgreSQL's CPU per row deleted, 5,000 at a time out of 200,000 (2026-12-02).
        `WITH pruned AS (
           DELETE FROM outbox WHERE ctid = ANY(ARRAY(
             SELECT ctid FROM outbox WHERE seq <= $1::bigint AND sent_at < now() - $2::int * interval '1 millisecond' ORDER BY seq LIMIT $3))
           RETURNING 1)
         SELECT count(*)::int AS n FROM pruned`,
        [bound, this.sentRetentionMs, PRUNE_LIMIT],
      ),
    );
    return row?.n ?? 0;
  }

  /** pruneOnce every PRUNE_INTERVAL_MS, at once again while it finds a full chunk; a failure waits for the next interval. */
  private async pruneWhileRunning(): Promise<void> {
    const signal = this.abort.signal;
    while (await pause(PRUNE_INTERVAL_MS, signal)) {
      try {
        let pruned = PRUNE_LIMIT;
        while (!signal.aborted && pruned === PRUNE_LIMIT) pruned = await this.pruneOnce();
      } catch (err) {
        this.options.logger.warn({ err }, 'outbox prune failed; sent rows stay until the next one');
      }
    }
  }

  private async holdLease(): Promise<boolean> {
    // Renewed within a third of the lease: still ours for two thirds of it, so skip the write
    // (it was one per cycle, a transaction each time the relay read).
    if (this.leaseRenewedAt !== undefined && performance.now() - this.leaseRenewedAt < this.leaseMs / 3) return true;
    const asked = performance.now();
    const rows = await this.options.db.query(
      `INSERT INTO outbox_lease (id, holder, expires_at) VALUES (1, $1, now() + $2::int * interval '1 millisecond')
       ON CONFLICT (id) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
       WHERE outbox_lease.holder = EXCLUDED.holder OR outbox_lease.expires_at < now()
       RETURNING holder`,
      [this.options.holder, this.leaseMs],
    );
    this.leaseRenewedAt = rows.length === 1 ? asked : undefined;
    return rows.length === 1;
  }

  private async run(): Promise<void> {
    const { logger, publisher } = this.options;
    const backoff = new Backoff();
    const signal = this.abort.signal;
    let emptyPolls = 0;
    while (!signal.aborted) {
      try {
        if (!this.connected) {
          await publisher.connect();
          this.connected = true;
          logger.info('outbox relay connected to Kafka');
        }
        const relayed = await this.relayWhileBusy(signal);
        backoff.reset();
        // Events that arrived while a batch was out go at once; only an empty outbox waits. Right
        // after traffic the next events are likely close behind (a waiting event's lag is the
        // wait): poll again soon, doubling the wait up to pollIntervalMs while the outbox stays empty.
        emptyPolls = relayed > 0 ? 0 : emptyPolls + 1;
        if (!(await pause(Math.min(this.pollIntervalMs, FIRST_IDLE_POLL_MS * 2 ** emptyPolls), signal))) break;
      } catch (err) {
        const delay = backoff.next();
        logger.warn({ err, retryInMs: delay }, 'outbox relay failed; events stay in the outbox');
        if (this.connected) {
          this.connected = false;
          await publisher.disconnect().catch(() => undefined);
        }
        if (!(await pause(delay, signal))) break;
      }
    }
  }
}

/** The relay's first wait after traffic stopped; it doubles per empty poll up to pollIntervalMs. */
const FIRST_IDLE_POLL_MS = 25;

/**
 * How long the relay lets a trickle of events gather before reading again (what it adds to their
 * lag at most). Each cycle costs the same whatever it carries: a read and a mark in PostgreSQL, a
 * produce the broker acknowledges, and downstream a fetch and a transaction in every consumer. At
 * a shop's pace (100 orders/s) cycling every 25 ms instead of 100 ms cost 2 ms more CPU per order
 * across the machine (bench/servers/saga-cost.ts, interleaved, 2026-12-03: 16.0 and 16.7 against
 * 14.0 and 14.8 ms above idle): the broker's and the consumer's share halved.
 */
const TRICKLE_LINGER_MS = 100;

/** How often the relay deletes sent rows past their retention, and the most one DELETE takes. */
const PRUNE_INTERVAL_MS = 1000;
const PRUNE_LIMIT = 5000;

function toMessage(row: OutboxRow): OutgoingMessage {
  return { key: row.message_key, value: typeof row.payload === 'string' ? row.payload : JSON.stringify(row.payload), headers: row.headers };
}
