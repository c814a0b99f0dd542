import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
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

/** Idle keep-alive connections are closed after this; below the 65 s a kit server keeps them, so a request never races the server's close. */
const IDLE_SOCKET_MS = 30_000;

/**
 * Plain HTTP to another service in the mesh: one attempt with a short client
 * timeout, trace headers of the current request attached. No retries and no
 * circuit breaker here: the sidecar retries, times out and ejects per route
 * class, and a second layer of retries would multiply the load in an outage.
 *
 * Connections are kept alive and reused, through a Node `http.Agent` of the client's
 * own (node:http rather than fetch: the saga's calls spent most of the order
 * service's CPU in fetch's streams and Headers, not on the wire).
 */
export class ServiceClient {
  private readonly agent: HttpAgent;
  private readonly send: typeof httpRequest;
  private readonly host: string;
  private readonly port: string;
  private readonly basePath: string;

  constructor(
    readonly service: string,
    private readonly baseUrl: string,
    private readonly timeoutMs: number,
  ) {
    const url = new URL(baseUrl);
    const secure = url.protocol === 'https:';
    this.agent = new (secure ? HttpsAgent : HttpAgent)({ keepAlive: true, scheduling: 'lifo', timeout: IDLE_SOCKET_MS });
    this.send = secure ? httpsRequest : httpRequest;
    this.host = url.hostname;
    this.port = url.port;
    this.basePath = url.pathname.replace(/\/$/, '');
  }

  /** Closes the idle kept-alive connections (in-flight calls finish). */
  close(): void {
    this.agent.destroy();
  }

  call<T = unknown>(method: string, path: string, options: CallOptions = {}): Promise<ServiceResponse<T>> {
    const headers: Record<string, string> = { accept: 'application/json', ...propagationHeaders(), ...options.headers };
    let payload: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(options.body);
    }
    // As fetch does: a write without a body says so, rather than being sent chunked.
    if (payload !== undefined || (method !== 'GET' && method !== 'HEAD'))
      headers['content-length'] = String(payload === undefined ? 0 : Buffer.byteLength(payload));
    return new Promise<ServiceResponse<T>>((resolve, reject) => {
      let timedOut = false;
      let settled = false;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(new UpstreamError(this.service, timedOut, err));
      };
      const req = this.send(
        { agent: this.agent, host: this.host, port: this.port, method, path: `${this.basePath}${path}`, headers },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', fail);
          res.on('close', () => {
            if (!res.complete) fail(new Error(`${this.service}: the answer was cut off`));
          });
          res.on('end', () => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            const text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
            const isJson = (res.headers['content-type'] ?? '').includes('json');
            let body: unknown = text;
            if (isJson && text.length > 0) {
              try {
                body = JSON.parse(text);
              } catch {
                body = text;
              }
            }
            resolve({ status: res.statusCode ?? 0, body: body as T });
          });
        },
      );
      const timer = setTimeout(() => {
        timedOut = true;
        const err = new Error(`${this.service} did not answer within ${this.timeoutMs} ms`);
        err.name = 'TimeoutError';
        fail(err);
        req.destroy(err);
      }, this.timeoutMs);
      req.on('error', fail);
      req.end(payload);
    });
  }
}
