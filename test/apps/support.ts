import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { podEnv } from '../../charts/pod-env.js';
import { callGraph, serviceSpec, services, type ServiceName } from '../../charts/platform.js';
import { startService, type RunningService, type ServiceDefinition } from '../../apps/kit/index.js';

/** Env of an in-process test instance: ports picked by the OS, PGlite in memory, quiet logs, no drain delay. */
export function testEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PORT: '0', ADMIN_PORT: '0', HOST: '127.0.0.1', PGLITE_DATA_DIR: 'memory://', LOG_LEVEL: 'silent', SHUTDOWN_DELAY_MS: '0', ...extra };
}

/** The ServiceDefinition apps/<name>/app.ts exports, found by its name (so a new service needs no line where all are started). */
export async function definitionOf(name: string): Promise<ServiceDefinition<never>> {
  const module = (await import(`../../apps/${name}/app.ts`)) as Record<string, unknown>;
  const found = Object.values(module).find((v) => typeof v === 'object' && v !== null && (v as { name?: unknown }).name === name && 'create' in v);
  if (!found) throw new Error(`apps/${name}/app.ts exports no ServiceDefinition named '${name}'`);
  return found as ServiceDefinition<never>;
}

/** The model's services in start waves: each wave calls only services of earlier waves, so its callees' URLs are known when it starts. */
export function startWaves(): ServiceName[][] {
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

/**
 * Starts every service of the model in this process (testEnv), callees first, each wired as the
 * charts wire its pod (charts/pod-env.ts: callee URLs, HTTP client timeout, JWT, and Kafka when
 * `kafkaBrokers` is given), then `envFor`'s own env on top. `running` gets each service as it
 * starts, so a failed start leaves the started ones there to stop.
 */
export async function startEveryService(
  running: Map<ServiceName, RunningService>,
  envFor: (service: ServiceName) => Promise<Record<string, string>>,
  kafkaBrokers?: readonly string[],
): Promise<void> {
  const start = async (name: ServiceName) => {
    const wiring = podEnv(name, { urlOf: (to) => running.get(to)!.url, kafkaBrokers: kafkaBrokers?.join(',') });
    const service = await startService(await definitionOf(name), testEnv({ ...Object.fromEntries(wiring), ...(await envFor(name)) }));
    running.set(name, service);
  };
  for (const wave of startWaves()) await Promise.all(wave.map(start));
}

export function startForTest<S>(definition: ServiceDefinition<S>, extra: Record<string, string> = {}): Promise<RunningService> {
  return startService(definition, testEnv(extra));
}

export interface HttpResult {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  // Tests read into answers freely; the schema is what the assertions check.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly body: any;
}

export interface RequestOptions {
  readonly json?: unknown;
  /** A raw body sent as is (with content-type application/json unless given). */
  readonly raw?: string;
  readonly headers?: Record<string, string>;
}

export async function request(baseUrl: string, method: string, path: string, options: RequestOptions = {}): Promise<HttpResult> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | undefined;
  if (options.json !== undefined || options.raw !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = options.raw ?? JSON.stringify(options.json);
  }
  const response = await fetch(`${baseUrl}${path}`, { method, headers, body });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: response.status, headers: response.headers, text, body: parsed };
}

/** Asserts the one error shape: status, stable code, a message and the request id echoed in the header. */
export function expectError(result: HttpResult, status: number, code: string): void {
  expect({ status: result.status, code: result.body?.error?.code }).toEqual({ status, code });
  expect(result.body.error.message).toEqual(expect.any(String));
  expect(result.body.error.requestId).toBe(result.headers.get('x-request-id'));
  expect(result.headers.get('content-type')).toMatch(/^application\/json/);
}

/** A body just over the 16 kB limit. */
export const oversized = (field = 'padding') => JSON.stringify({ [field]: 'x'.repeat(17 * 1024) });

const JUNK_BODIES = ['{', '[]', '"text"', '42', 'null', '{"unexpected":true}', '{"items":"many","amountCents":"1"}', '\u0000\u0001', oversized()];

/**
 * Sends junk to every route the platform declares for `service`: malformed and
 * mistyped bodies, oversized ones, junk and unknown path ids, junk query strings.
 * Writes must answer 4xx with the error shape; reads may succeed (junk query
 * parameters they do not take are ignored) but never answer 5xx.
 */
export async function expectNo5xxForJunk(baseUrl: string, service: ServiceName, headers: Record<string, string> = {}): Promise<number> {
  let sent = 0;
  for (const route of serviceSpec(service).routes) {
    for (const path of [route.path.replace(/\{\w+\}/g, 'junk%20id'), route.path.replace(/\{\w+\}/g, () => randomUUID())]) {
      for (const method of route.methods) {
        const read = method === 'GET' || method === 'HEAD';
        const attempts: RequestOptions[] = read ? [{ headers }] : JUNK_BODIES.map((raw) => ({ raw, headers: { ...headers, 'idempotency-key': randomUUID() } }));
        for (const options of attempts) {
          const target = read ? `${path}?limit=abc&offset=-1` : path;
          const res = await request(baseUrl, method, target, options);
          const label = `${method} ${target} ${options.raw?.slice(0, 20) ?? ''}`;
          sent += 1;
          expect(res.status, label).toBeLessThan(500);
          if (!read) expect(res.status, label).toBeGreaterThanOrEqual(400);
          if (res.status >= 400 && method !== 'HEAD') expectError(res, res.status, res.body?.error?.code);
        }
      }
    }
  }
  return sent;
}
