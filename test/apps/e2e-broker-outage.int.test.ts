import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ServiceName } from '../../charts/platform.js';
import { startLocalShop, type LocalShop } from '../../local/dev/index.js';
import { startKafkaBroker, type KafkaBroker } from '../../infra/kafka-broker.js';
import { createDatabase } from '../../infra/postgres.js';
import { request, type HttpResult } from './support.js';

// The whole shop as processes on the real PostgreSQL and a Kafka broker of this file's own,
// which it stops and starts again while orders keep coming through the local edge.

const { url: postgresUrl } = inject('postgres');
const run = randomUUID().replaceAll('-', '').slice(0, 10);
const databases = new Map<ServiceName, string>();
let broker: KafkaBroker;
let shop: LocalShop;

beforeAll(async () => {
  broker = await startKafkaBroker();
  shop = await startLocalShop({
    databaseUrlFor: async (service) => {
      const url = await createDatabase(postgresUrl, `outage_${service}_${run}`);
      databases.set(service, url);
      return url;
    },
    kafkaBrokers: broker.brokers,
  });
}, 180_000);

afterAll(async () => {
  await shop?.stop();
  await broker?.stop();
});

interface Session {
  readonly id: string;
  readonly token: string;
}

function api(method: string, path: string, session?: Session, json?: unknown): Promise<HttpResult> {
  return request(shop.edgeUrl!, method, path, {
    headers: session ? { authorization: `Bearer ${session.token}` } : {},
    ...(json === undefined ? {} : { json }),
  });
}

async function signUp(label: string): Promise<Session> {
  const email = `${label}-${randomUUID().slice(0, 8)}@example.org`;
  const registered = await api('POST', '/users', undefined, { email, password: 'correct horse', name: label });
  const login = await api('POST', '/sessions', undefined, { email, password: 'correct horse' });
  expect([registered.status, login.status]).toEqual([201, 201]);
  return { id: registered.body.id as string, token: login.body.accessToken as string };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not ${what} after ${timeoutMs} ms`);
    await sleep(250);
  }
}

async function query<T>(service: ServiceName, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: databases.get(service)!, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

const unsentOrderEvents = async () => (await query<{ n: number }>('order', 'SELECT count(*)::int AS n FROM outbox WHERE sent_at IS NULL'))[0]!.n;

type Note = { type: string; orderId: string };
async function inbox(session: Session): Promise<Note[]> {
  const res = await api('GET', '/notifications?limit=100', session);
  expect(res.status).toBe(200);
  return (res.body.notifications as Note[]).map((n) => ({ type: n.type, orderId: n.orderId }));
}
const sorted = (notes: Note[]) => [...notes].sort((a, b) => `${a.orderId}${a.type}`.localeCompare(`${b.orderId}${b.type}`));

describe('a Kafka broker outage in the middle of a run', () => {
  it('delays order events and loses none: after the broker returns each order has exactly its two notifications', async () => {
    const buyers = await Promise.all(['ann', 'ben', 'cat'].map(signUp));
    const placed: Array<{ buyer: Session; id: string }> = [];
    const failures: string[] = [];
    let duringOutage = 0;
    let placing = true;
    // A steady stream of orders across the whole outage (bounded: at most 90, three buyers' inboxes of 100).
    const stream = (async () => {
      for (let i = 0; placing && i < 90; i++) {
        const buyer = buyers[i % buyers.length]!;
        const res = await api('POST', '/orders', buyer, { items: [{ productId: 'espresso-beans', quantity: 1 }] });
        if (res.body?.status === 'CONFIRMED') placed.push({ buyer, id: res.body.id as string });
        else failures.push(`${res.status} ${res.text.slice(0, 200)}`);
        await sleep(150);
      }
    })();
    const delivered = async () => (await Promise.all(buyers.map(inbox))).flat().length;

    try {
      // Before the outage: orders confirm and their events arrive.
      await until('a few orders notified before the outage', async () => placed.length >= 3 && (await delivered()) >= 6, 45_000);

      await broker.stop();
      const atStop = placed.length;
      await sleep(6000);
      // During the outage: the saga is synchronous HTTP, so orders still confirm; their events wait in the outbox.
      duringOutage = placed.length - atStop;
      expect(duringOutage).toBeGreaterThanOrEqual(3);
      expect(await unsentOrderEvents()).toBeGreaterThan(0);

      await broker.start();
      await sleep(2000);
    } finally {
      placing = false;
      await stream;
    }
    expect(failures).toEqual([]);
    expect(placed.length).toBeGreaterThanOrEqual(10);

    const expected = new Map(buyers.map((b) => [b.id, [] as Note[]]));
    for (const { buyer, id } of placed) {
      expected.get(buyer.id)!.push({ type: 'OrderConfirmed', orderId: id }, { type: 'OrderCreated', orderId: id });
    }
    await until('the outbox drained', async () => (await unsentOrderEvents()) === 0, 120_000);
    await until('every notification delivered', async () => (await delivered()) >= placed.length * 2, 120_000);
    for (const buyer of buyers) expect(sorted(await inbox(buyer))).toEqual(sorted(expected.get(buyer.id)!));

    // What reached the topic: every event of the outbox at least once (a relay retry may publish one twice).
    const outbox = await query<{ event_id: string }>('order', 'SELECT event_id FROM outbox');
    const copies = new Map<string, number>();
    const reader = new Kafka({ clientId: `outage-reader-${run}`, brokers: broker.brokers, logLevel: logLevel.NOTHING }).consumer({ groupId: `reader-${run}` });
    await reader.connect();
    try {
      await reader.subscribe({ topic: 'orders.events', fromBeginning: true });
      await reader.run({
        eachMessage: async ({ message }) => {
          const id = (JSON.parse(message.value!.toString()) as { eventId: string }).eventId;
          copies.set(id, (copies.get(id) ?? 0) + 1);
        },
      });
      await until('every outbox event read back from the topic', async () => outbox.every((e) => copies.has(e.event_id)), 60_000);
    } finally {
      await reader.disconnect();
    }
    const twice = [...copies.values()].filter((n) => n > 1).length;
    const processed = (await query<{ n: number }>('notification', 'SELECT count(*)::int AS n FROM processed_events'))[0]!.n;
    console.log(
      `broker outage: ${placed.length} orders (${duringOutage} in the first 6 s of the outage), ${outbox.length} order events, ` +
        `${twice} published more than once, ${processed} processed once by notification`,
    );
    expect(processed).toBe(outbox.length);
    // And still exactly those notifications once notification's group has consumed every copy.
    const admin = new Kafka({ clientId: `outage-admin-${run}`, brokers: broker.brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      await until(
        "notification's group at the end of orders.events",
        async () => {
          const ends = await admin.fetchTopicOffsets('orders.events');
          const [committed] = await admin.fetchOffsets({ groupId: 'notification', topics: ['orders.events'] });
          return ends.every((end) => {
            const at = Number(committed?.partitions.find((p) => p.partition === end.partition)?.offset ?? -1);
            return at >= Number(end.high) || (at < 0 && end.high === end.low);
          });
        },
        60_000,
      );
    } finally {
      await admin.disconnect();
    }
    for (const buyer of buyers) expect(sorted(await inbox(buyer))).toEqual(sorted(expected.get(buyer.id)!));
  }, 300_000);
});
