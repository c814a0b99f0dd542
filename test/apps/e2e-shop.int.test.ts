import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { smoke } from '../../cli/smoke.js';
import type { ServiceName } from '../../charts/platform.js';
import { SERVICE_NAMES, startLocalShop, type LocalShop } from '../../local/dev/index.js';
import { createDatabase } from '../../infra/postgres.js';
import { request, type HttpResult } from './support.js';

// The whole shop as five processes (their bundles) on the real PostgreSQL (one database each)
// and the real Kafka broker, used only through the local edge, as a client would use the gateway.

const { url: postgresUrl } = inject('postgres');
const { brokers } = inject('kafka');
const run = randomUUID().replaceAll('-', '').slice(0, 10);
// A group of this run's own on the shared broker: its offsets start at the beginning of the topic.
const groupId = `notification-e2e-${run}`;
const ordersTopic = 'orders.events';
let shop: LocalShop;
let admin: Admin;
const firstStartMs = new Map<ServiceName, number>();

beforeAll(async () => {
  admin = new Kafka({ clientId: `e2e-shop-${run}`, brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  shop = await startLocalShop({
    databaseUrlFor: (service) => createDatabase(postgresUrl, `e2e_${service}_${run}`),
    kafkaBrokers: brokers,
    env: { notification: { KAFKA_GROUP_ID: groupId } },
  });
  for (const name of SERVICE_NAMES) firstStartMs.set(name, shop.service(name).startupMs);
}, 180_000);

afterAll(async () => {
  await shop?.stop();
  await admin?.disconnect();
});

interface Session {
  readonly id: string;
  readonly token: string;
}

function api(method: string, path: string, options: { session?: Session; json?: unknown; headers?: Record<string, string> } = {}): Promise<HttpResult> {
  const headers = { ...options.headers, ...(options.session ? { authorization: `Bearer ${options.session.token}` } : {}) };
  return request(shop.edgeUrl!, method, path, { headers, ...(options.json === undefined ? {} : { json: options.json }) });
}

async function signUp(label: string): Promise<Session> {
  const email = `${label}-${randomUUID().slice(0, 8)}@example.org`;
  const registered = await api('POST', '/users', { json: { email, password: 'correct horse', name: label } });
  expect(registered.status).toBe(201);
  const login = await api('POST', '/sessions', { json: { email, password: 'correct horse' } });
  expect(login.status).toBe(201);
  return { id: registered.body.id as string, token: login.body.accessToken as string };
}

async function eventually<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await probe();
  while (!done(value) && Date.now() < deadline) {
    await sleep(250);
    value = await probe();
  }
  return value;
}

type Note = { type: string; orderId: string };
async function notifications(session: Session): Promise<Note[]> {
  const res = await api('GET', '/notifications?limit=100', { session });
  expect(res.status).toBe(200);
  return (res.body.notifications as Note[]).map((n) => ({ type: n.type, orderId: n.orderId }));
}
const sorted = (notes: Note[]) => [...notes].sort((a, b) => `${a.orderId}${a.type}`.localeCompare(`${b.orderId}${b.type}`));

async function available(productId: string): Promise<number> {
  const res = await api('GET', `/products/${productId}`);
  expect(res.status).toBe(200);
  return res.body.available as number;
}

/** Whether this run's notification group has committed every message of the topic. */
async function caughtUp(): Promise<boolean> {
  const ends = await admin.fetchTopicOffsets(ordersTopic);
  const [committed] = await admin.fetchOffsets({ groupId, topics: [ordersTopic] });
  return ends.every((end) => {
    // -1: nothing committed, which is caught up only for a partition that never held a message.
    const at = Number(committed?.partitions.find((p) => p.partition === end.partition)?.offset ?? -1);
    return at >= Number(end.high) || (at < 0 && end.high === end.low);
  });
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not ${what} after ${timeoutMs} ms`);
    await sleep(250);
  }
}

/** The value of `events_consumed_total{outcome=...}` on notification's admin port (0 when not counted yet). */
async function consumed(outcome: string): Promise<number> {
  const text = (await request(shop.adminUrls.notification, 'GET', '/metrics')).text;
  const line = text.split('\n').find((l) => l.startsWith('events_consumed_total{') && l.includes(`outcome="${outcome}"`));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('the shop through the local edge, on the real PostgreSQL and Kafka', () => {
  const orderEvents = new Map<string, Note[]>();
  let alice: Session;

  it('registers, logs in, lists products and places an order that ends CONFIRMED and takes the stock', async () => {
    alice = await signUp('alice');
    const me = await api('GET', '/users/me', { session: alice });
    expect(me.status).toBe(200);
    expect(me.body.id).toBe(alice.id);

    const listed = await api('GET', '/products');
    expect(listed.status).toBe(200);
    const mug = (listed.body.products as Array<{ id: string; available: number; priceCents: number }>).find((p) => p.id === 'ceramic-mug')!;
    expect(mug.available).toBeGreaterThan(2);

    const placed = await api('POST', '/orders', { session: alice, json: { items: [{ productId: 'ceramic-mug', quantity: 2 }] } });
    expect(placed.status).toBe(201);
    expect(placed.body).toMatchObject({ status: 'CONFIRMED', userId: alice.id, totalCents: 2 * mug.priceCents, cancelReason: null });
    expect(await available('ceramic-mug')).toBe(mug.available - 2);
    expect((await api('GET', `/orders/${placed.body.id}`, { session: alice })).body.status).toBe('CONFIRMED');
    orderEvents.set(placed.body.id as string, [
      { type: 'OrderConfirmed', orderId: placed.body.id as string },
      { type: 'OrderCreated', orderId: placed.body.id as string },
    ]);
  });

  it('delivers OrderCreated and OrderConfirmed to notification exactly once: the inbox holds exactly those two', async () => {
    const expected = sorted([...orderEvents.values()].flat());
    const inbox = await eventually(
      () => notifications(alice),
      (n) => n.length >= expected.length,
    );
    expect(sorted(inbox)).toEqual(expected);
    // Everything on the topic has been consumed by now, so no late copy can still arrive.
    await until('notification caught up with orders.events', caughtUp);
    expect(sorted(await notifications(alice))).toEqual(expected);
  });

  it('applies nothing twice when every event is delivered again (consumer group reset to the earliest offsets)', async () => {
    const expected = sorted([...orderEvents.values()].flat());
    const notification = shop.service('notification');
    const pidBefore = notification.pid;
    await notification.stop();
    await until('the group empty', async () => (await admin.describeGroups([groupId])).groups[0]?.state === 'Empty', 30_000);
    await admin.resetOffsets({ groupId, topic: ordersTopic, earliest: true });
    const ends = await admin.fetchTopicOffsets(ordersTopic);
    const onTopic = ends.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);

    await notification.start();
    expect(notification.pid).not.toBe(pidBefore);
    await until('notification caught up again', caughtUp);
    // This process saw every message again: none was new, each was a known event id (or poison from other tests).
    console.log(
      `redelivery: ${onTopic} messages on ${ordersTopic}; this notification process counted ${await consumed('duplicate')} duplicates, ` +
        `${await consumed('dead-lettered')} dead-lettered, ${await consumed('processed')} processed`,
    );
    expect(await consumed('processed')).toBe(0);
    expect(await consumed('duplicate')).toBeGreaterThanOrEqual(expected.length);
    expect((await consumed('duplicate')) + (await consumed('dead-lettered'))).toBeGreaterThanOrEqual(onTopic);
    expect(sorted(await notifications(alice))).toEqual(expected);
  });

  it('cancels an order whose payment is declined and releases its stock', async () => {
    const bob = await signUp('bob');
    const before = await available('pour-over-kettle');
    const placed = await api('POST', '/orders', {
      session: bob,
      json: { items: [{ productId: 'pour-over-kettle', quantity: 2 }], paymentToken: 'tok_decline' },
    });
    expect(placed.status).toBe(201);
    expect(placed.body).toMatchObject({ status: 'CANCELLED', cancelReason: 'PAYMENT_DECLINED' });
    expect(await available('pour-over-kettle')).toBe(before);
    const id = placed.body.id as string;
    const expected = sorted([
      { type: 'OrderCancelled', orderId: id },
      { type: 'OrderCreated', orderId: id },
    ]);
    const inbox = await eventually(
      () => notifications(bob),
      (n) => n.length >= 2,
    );
    expect(sorted(inbox)).toEqual(expected);
    await until('notification caught up', caughtUp);
    expect(sorted(await notifications(bob))).toEqual(expected);
  });

  it('passes the bring-up smoke test (cli/smoke.ts) pointed at the local edge', async () => {
    const results = await smoke({ baseUrl: shop.edgeUrl!, settleTimeoutMs: 45_000, pollMs: 250 });
    expect(results.map((r) => `${r.name}: ${r.outcome} ${r.outcome === 'pass' ? '' : r.detail}`.trim())).toEqual([
      'register: pass',
      'log in: pass',
      'list products: pass',
      'place an order: pass',
      'order confirmed: pass',
      'notification: pass',
    ]);
  });

  it('confirms exactly one of several concurrent orders for the last unit', async () => {
    const buyers = await Promise.all(['carol', 'dave', 'erin', 'frank'].map(signUp));
    const left = await available('anniversary-roast');
    expect(left).toBeGreaterThanOrEqual(1);
    if (left > 1) {
      const firstBatch = await api('POST', '/orders', { session: buyers[0]!, json: { items: [{ productId: 'anniversary-roast', quantity: left - 1 }] } });
      expect(firstBatch.body.status).toBe('CONFIRMED');
    }
    expect(await available('anniversary-roast')).toBe(1);

    const attempts = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        api('POST', '/orders', { session: buyers[i % buyers.length]!, json: { items: [{ productId: 'anniversary-roast', quantity: 1 }] } }),
      ),
    );
    expect(attempts.map((a) => a.status)).toEqual(Array(8).fill(201));
    const outcomes = attempts.map((a) => `${a.body.status} ${a.body.cancelReason ?? ''}`.trim()).sort();
    expect(outcomes).toEqual([...Array(7).fill('CANCELLED INSUFFICIENT_STOCK'), 'CONFIRMED']);
    expect(await available('anniversary-roast')).toBe(0);
    // What each buyer reads back agrees with what the edge answered.
    for (const [i, attempt] of attempts.entries()) {
      const read = await api('GET', `/orders/${attempt.body.id}`, { session: buyers[i % buyers.length]! });
      expect(read.body.status).toBe(attempt.body.status);
    }
  });
});

describe('service handles, as chaos scenarios use them', () => {
  it("toggles a service's chaos switch on its admin URL: the edge then sees that service fail", async () => {
    const on = await request(shop.adminUrls.product, 'POST', '/admin/chaos', { json: { failRate: 1 } });
    expect(on.status).toBe(200);
    try {
      const failing = await api('GET', '/products');
      expect(failing.status).toBe(503);
      expect(failing.body.error.code).toBe('CHAOS_INJECTED');
    } finally {
      expect((await request(shop.adminUrls.product, 'DELETE', '/admin/chaos')).status).toBe(200);
    }
    expect((await api('GET', '/products')).status).toBe(200);
  });

  it('kills notification with SIGKILL, keeps taking orders, and on start delivers what it missed, once', async () => {
    const grace = await signUp('grace');
    const notification = shop.service('notification');
    const pid = notification.pid!;
    await notification.kill('SIGKILL');
    expect(notification.pid).toBeUndefined();
    expect(notification.lastExit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(() => process.kill(pid, 0)).toThrow();

    const placed = await api('POST', '/orders', { session: grace, json: { items: [{ productId: 'filter-beans', quantity: 1 }] } });
    expect(placed.body.status).toBe('CONFIRMED');
    expect((await api('GET', '/notifications', { session: grace })).status).toBe(503);

    await notification.start();
    const id = placed.body.id as string;
    const expected = sorted([
      { type: 'OrderConfirmed', orderId: id },
      { type: 'OrderCreated', orderId: id },
    ]);
    // The killed member stays in the group until its session times out (30 s): the new one waits for that.
    const inbox = await eventually(
      () => notifications(grace),
      (n) => n.length >= 2,
      90_000,
    );
    expect(sorted(inbox)).toEqual(expected);
    await until('notification caught up', caughtUp);
    expect(sorted(await notifications(grace))).toEqual(expected);
  }, 150_000);

  it('restarts each service on its ports (start-to-ready measured on the real PostgreSQL)', async () => {
    const rows: string[] = [];
    for (const name of SERVICE_NAMES) {
      const service = shop.service(name);
      const pid = service.pid;
      const url = service.url;
      await service.restart();
      expect(service.pid).toBeDefined();
      expect(service.pid).not.toBe(pid);
      expect(service.url).toBe(url);
      expect((await request(service.adminUrl, 'GET', '/health/ready')).status).toBe(200);
      rows.push(
        `${name.padEnd(13)} first start (all five at once) ${String(firstStartMs.get(name)).padStart(5)} ms   restart alone ${String(service.startupMs).padStart(5)} ms`,
      );
    }
    console.log(`start-to-ready on the real PostgreSQL (bundles, Kafka on):\n${rows.join('\n')}`);
    // The shop works as a whole after all five restarted.
    const henry = await signUp('henry');
    const placed = await api('POST', '/orders', { session: henry, json: { items: [{ productId: 'espresso-beans', quantity: 1 }] } });
    expect(placed.body.status).toBe('CONFIRMED');
  });
});
