import type { IncomingHttpHeaders } from 'node:http';
import type { SchemaObject } from './validation.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RouteInput<B, Q, P> {
  readonly body: B;
  readonly query: Q;
  readonly params: P;
  readonly headers: IncomingHttpHeaders;
}

/** What a handler answers; the kit writes `body` as JSON, `text` as is, or 204 when neither is given. */
export interface Reply {
  readonly status?: number;
  readonly body?: unknown;
  /** A non-JSON body (e.g. Prometheus exposition); set its content-type in `headers`. */
  readonly text?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * One operation of a service's HTTP API. Schemas are checked at the edge, before
 * the handler runs, so domain code receives typed, valid input.
 */
export interface RouteSpec<B = unknown, Q = unknown, P = unknown> {
  readonly method: Method;
  /** Path template with `{param}` segments, exactly as declared in charts/platform.ts. */
  readonly path: string;
  /** JSON schema of the body. Writes always parse JSON (16 kB limit); only this decides what is valid. */
  readonly body?: SchemaObject;
  /**
   * Whether an absent body counts as `{}` (writes whose body is optional).
   * @default false - a route with a body schema requires a body
   */
  readonly bodyOptional?: boolean;
  readonly query?: SchemaObject;
  readonly params?: SchemaObject;
  handle(input: RouteInput<B, Q, P>): Promise<Reply>;
}

// Routes of different input types live in one list; each was checked against its own types by defineRoute.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyRoute = RouteSpec<any, any, any>;

/** Identity helper that lets TypeScript check a handler against the input types it declares. */
export function defineRoute<B = undefined, Q = Record<string, unknown>, P = Record<string, string>>(spec: RouteSpec<B, Q, P>): RouteSpec<B, Q, P> {
  return spec;
}

/** Express path syntax for a `{param}` template. */
export function expressPath(template: string): string {
  return template.replace(/\{(\w+)\}/g, ':$1');
}

/** Anchored, case-insensitive matcher of a template (trailing slash tolerated, as Express does). */
export function templateMatcher(template: string): RegExp {
  const source = template
    .split(/(\{\w+\})/)
    .map((part) => (part.startsWith('{') ? '[^/]+' : part.replace(/[.*+?^$()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}/?$`, 'i');
}
