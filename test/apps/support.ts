import { expect } from 'vitest';
import { startService, type RunningService, type ServiceDefinition } from '../../apps/kit/index.js';

/** Env of an in-process test instance: ports picked by the OS, PGlite in memory, quiet logs, no drain delay. */
export function testEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PORT: '0', ADMIN_PORT: '0', PGLITE_DATA_DIR: 'memory://', LOG_LEVEL: 'silent', SHUTDOWN_DELAY_MS: '0', ...extra };
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
