import { propagationHeaders } from './context.js';
import { AppError } from './errors.js';

/** A call to another service that gave no HTTP answer (timeout, refused, reset). */
export class UpstreamError extends AppError {
  constructor(
    readonly service: string,
    readonly timedOut: boolean,
    cause: unknown,
  ) {
    super(
      timedOut ? 504 : 503,
      timedOut ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_UNAVAILABLE',
      timedOut ? `${service} did not answer in time` : `${service} could not be reached`,
    );
    this.cause = cause;
  }
}

export interface ServiceResponse<T = unknown> {
  readonly status: number;
  /** Parsed JSON, or the text when the answer is not JSON. */
  readonly body: T;
}

export interface CallOptions {
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * Plain HTTP to another service in the mesh: one attempt with a short client
 * timeout, trace headers of the current request attached. No retries and no
 * circuit breaker here: the sidecar retries, times out and ejects per route
 * class, and a second layer of retries would multiply the load in an outage.
 */
export class ServiceClient {
  constructor(
    readonly service: string,
    private readonly baseUrl: string,
    private readonly timeoutMs: number,
  ) {}

  async call<T = unknown>(method: string, path: string, options: CallOptions = {}): Promise<ServiceResponse<T>> {
    const headers: Record<string, string> = { accept: 'application/json', ...propagationHeaders(), ...options.headers };
    let payload: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(options.body);
    }
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, { method, headers, body: payload, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw new UpstreamError(this.service, (err as Error).name === 'TimeoutError', err);
    }
    let text: string;
    try {
      text = await response.text();
    } catch (err) {
      throw new UpstreamError(this.service, (err as Error).name === 'TimeoutError', err);
    }
    const isJson = (response.headers.get('content-type') ?? '').includes('json');
    let body: unknown = text;
    if (isJson && text.length > 0) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    return { status: response.status, body: body as T };
  }
}
