import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { smoke } from '../../cli/smoke.js';
import { startService, type RunningService } from '../../apps/kit/index.js';
import { podEnv } from '../../charts/pod-env.js';
import { callGraph, services, type ServiceName } from '../../charts/platform.js';
import { envNames } from '../../contract/index.js';
import { ensureTopics, startLocalEdge, type LocalEdge } from '../../local/dev/index.js';
import { createDatabase } from '../../infra/postgres.js';
import { definitionOf, testEnv } from '../apps/support.js';

// `make smoke`'s client against every service of the model, real (real PostgreSQL, real Kafka), wired as
// the charts wire the pods (charts/pod-env.ts), behind the local edge (local/dev/shop.ts): the model's
// public routes only, JWTs verified against the user service's JWKS and passed on as x-user-id, as the
// Istio ingress gateway does.
const { url: postgresUrl } = inject('postgres');
const { brokers } = inject('kafka');
const run = randomUUID().replaceAll('-', '').slice(0, 12);
const running = new Map<ServiceName, RunningService>();
let edge: LocalEdge | undefined;

/** The services in waves: each wave's services call only services of earlier waves, so their URLs are known when it starts. */
function startWaves(): ServiceName[][] {
  const waves: ServiceName[][] = [];
  const placed = new Set<ServiceName>();
  let left = services.map((s) => s.name);
  while (left.length > 0) {
    const wave = left.filter((name) => callGraph.every((e) => e.from !== name || placed.has(e.to)));
    if (wave.length === 0) throw new Error(`the call graph has a cycle among ${left.join(', ')}: no start order`);
    waves.push(wave);
    for (const name of wave) placed.add(name);
    left = left.filter((name) => !placed.has(name));
  }
  return waves;
}

async function start(name: ServiceName): Promise<RunningService> {
  const databaseUrl = await createDatabase(postgresUrl, `${name}_smoke_${run}`);
  const env = Object.fromEntries(podEnv(name, { urlOf: (to) => running.get(to)!.url, kafkaBrokers: brokers.join(',') }));
  // A consumer group of this run's own, so nothing another test left in the broker's groups is involved.
  if (env[envNames.kafkaGroupId]) env[envNames.kafkaGroupId] = `${name}-smoke-${run}`;
  const service = await startService(await definitionOf(name), testEnv({ [envNames.databaseUrl]: databaseUrl, ...env }));
  running.set(name, service);
  return service;
}

beforeAll(async () => {
  await ensureTopics(brokers);
  for (const wave of startWaves()) await Promise.all(wave.map(start));
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
