import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { smoke } from '../../cli/smoke.js';
import type { RunningService } from '../../apps/kit/index.js';
import type { ServiceName } from '../../charts/platform.js';
import { envNames, topics } from '../../contract/index.js';
import { ensureTopics, startLocalEdge, type LocalEdge } from '../../local/dev/index.js';
import { createDatabase } from '../../infra/postgres.js';
import { startEveryService } from '../apps/support.js';

// `make smoke`'s client against every service of the model, real (real PostgreSQL, real Kafka), wired as
// the charts wire the pods (charts/pod-env.ts), behind the local edge (local/dev/shop.ts): the model's
// public routes only, JWTs verified against the user service's JWKS and passed on as x-user-id, as the
// Istio ingress gateway does.
const { url: postgresUrl } = inject('postgres');
const { brokers } = inject('kafka');
const run = randomUUID().replaceAll('-', '').slice(0, 12);
const running = new Map<ServiceName, RunningService>();
let edge: LocalEdge | undefined;

/** A service's own database and, for a consumer, a consumer group of this run's own (nothing another test left in the broker's groups is involved). */
async function envFor(name: ServiceName): Promise<Record<string, string>> {
  const databaseUrl = await createDatabase(postgresUrl, `${name}_smoke_${run}`);
  const consumer = topics.some((t) => t.consumers.includes(name));
  return { [envNames.databaseUrl]: databaseUrl, ...(consumer ? { [envNames.kafkaGroupId]: `${name}-smoke-${run}` } : {}) };
}

beforeAll(async () => {
  await ensureTopics(brokers);
  await startEveryService(running, envFor, brokers);
  edge = await startLocalEdge({ upstreams: Object.fromEntries([...running].map(([name, s]) => [name, s.url])) as Record<ServiceName, string> });
});

afterAll(async () => {
  await edge?.stop();
  await Promise.allSettled([...running.values()].map((s) => s.stop()));
});

describe('make smoke against the real services', () => {
  it('passes every check: register, log in, products, order, CONFIRMED, notification', async () => {
    const results = await smoke({ baseUrl: edge!.url, settleTimeoutMs: 45_000, pollMs: 250 });
    expect(results.filter((r) => r.outcome !== 'pass')).toEqual([]);
    expect(results.map((r) => r.name)).toEqual(['register', 'log in', 'list products', 'place an order', 'order confirmed', 'notification']);
    expect(results[4]!.detail).toMatch(/^order [0-9a-f-]{36} CONFIRMED$/);
  });
});
