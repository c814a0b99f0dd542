import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * Headers each service copies from the request it serves to every call it makes,
 * so the sidecars' spans join into one trace (the sidecar cannot do this for the
 * app). Taken from Istio's distributed-tracing overview and FAQ: the Envoy request
 * id, W3C trace context, B3 multi- and single-header, OpenTracing/Lightstep,
 * Google Cloud trace and gRPC binary context, and Datadog.
 */
export const TRACE_HEADERS = [
  'x-request-id',
  'traceparent',
  'tracestate',
  'b3',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
  'x-ot-span-context',
  'x-cloud-trace-context',
  'grpc-trace-bin',
  'x-datadog-trace-id',
  'x-datadog-parent-id',
  'x-datadog-sampling-priority',
] as const;

export interface RequestContext {
  readonly requestId: string;
  /** Trace id from traceparent or B3, for log correlation; undefined when the caller sent none. */
  readonly traceId: string | undefined;
  /** The trace headers to forward, with x-request-id always set. */
  readonly propagation: Readonly<Record<string, string>>;
}

const storage = new AsyncLocalStorage<RequestContext>();

// Ids come from outside: accept only short, printable values so they cannot break log lines or headers.
const SAFE_HEADER_VALUE = /^[\x21-\x7e][\x20-\x7e]{0,511}$/;

export function contextFromHeaders(headers: IncomingHttpHeaders): RequestContext {
  const propagation: Record<string, string> = {};
  for (const name of TRACE_HEADERS) {
    const value = headers[name];
    if (typeof value === 'string' && SAFE_HEADER_VALUE.test(value)) propagation[name] = value;
  }
  const requestId = propagation['x-request-id'] && propagation['x-request-id'].length <= 128 ? propagation['x-request-id'] : randomUUID();
  propagation['x-request-id'] = requestId;
  return { requestId, traceId: traceIdOf(propagation), propagation };
}

function traceIdOf(h: Record<string, string>): string | undefined {
  const w3c = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(h['traceparent'] ?? '');
  if (w3c) return w3c[1];
  const b3 = h['x-b3-traceid'] ?? h['b3']?.split('-')[0];
  return b3 && /^[0-9a-f]{16,32}$/.test(b3) ? b3 : undefined;
}

/**
 * Whether requests run in their async context. The context is what carries the request id into
 * handler logs and the trace headers onto outgoing calls and events, so it is always on in a
 * service. What it costs: on Node 20 an AsyncLocalStorage in use runs an async_hooks init hook
 * on every promise and async resource the process creates (pg's, Express's, the handler's):
 * 2-3% of the server's CPU on a read (bench:services, the arm kit-no-async-context, 2026-12-02);
 * Node's AsyncContextFrame (--experimental-async-context-frame on Node 22, the default from
 * Node 24) carries it without hooks.
 */
let asyncContext = true;

/** Serves without the async context: only for the benchmark arm that measures what it costs. */
export function disableAsyncContextForBenchmark(): void {
  asyncContext = false;
}

/** Calls `fn(...args)` in the context: with arguments, `fn` can be defined once rather than as a closure per request. */
export function runWithContext<A extends unknown[], T>(context: RequestContext, fn: (...args: A) => T, ...args: A): T {
  return asyncContext ? storage.run(context, fn, ...args) : fn(...args);
}

export function currentContext(): RequestContext | undefined {
  return storage.getStore();
}

/** Headers to put on an outgoing call made while serving the current request (empty outside one). */
export function propagationHeaders(): Record<string, string> {
  return { ...(storage.getStore()?.propagation ?? {}) };
}
