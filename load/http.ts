import { Agent, request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { AllowedTarget } from './targets.js';

/** One request as a load target prepares it. */
export interface PreparedRequest {
  readonly method: string;
  /** Path and query, starting with `/`. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Sent as JSON. */
  readonly body?: unknown;
  /**
   * Sent as it is, instead of `body` (content-type still defaults to JSON): a benchmark
   * serializes its body once, and the client's CPU counts against the server on a shared machine.
   */
  readonly rawBody?: string;
  /**
   * Host header (the virtual host the gateway routes by, e.g. a fault-injection host);
   * the connection still goes to the checked base URL.
   * @default - the base URL's host
   */
  readonly host?: string;
}

/** What came back (or did not). `status` is 0 when no HTTP answer arrived (`error` says why). */
export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** Parsed JSON when the answer was JSON, else the text; undefined when sent with `discardBody`. */
  readonly body: unknown;
  /** Milliseconds from sending to the end of the answer (or the failure). */
  readonly latencyMs: number;
  /** `timeout`, or the socket error code (`ECONNREFUSED`, `ECONNRESET`...). */
  readonly error?: string;
}

export interface SendOptions {
  /** Budget of the whole request; the socket is dropped when it runs out. */
  readonly timeoutMs: number;
  /** The run's agent (loadAgent): keep-alive, bounded sockets. */
  readonly agent: Agent;
  /**
   * Drain the answer's body unread (`body` stays undefined): a benchmark judges by status
   * and must not spend CPU on buffering and parsing what the server sent.
   * @default false
   */
  readonly discardBody?: boolean;
}

const maxBodyBytes = 256 * 1024;

/**
 * An agent with keep-alive and at most `maxSockets` connections: the concurrency cap of a load run.
 * No agent-wide socket timeout (send's own timer bounds each request; a socket timeout costs a timer reset per request).
 */
export function loadAgent(maxSockets: number): Agent {
  return new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
}

/**
 * An answer whose body was drained unread. Node builds res.headers on first read (several
 * microseconds a request): only a caller that looks at them pays for it. A class, not an object
 * literal with a getter, which V8 creates far more slowly.
 */
class DrainedAnswer implements Answer {
  readonly status: number;
  readonly body = undefined;
  constructor(
    private readonly response: IncomingMessage,
    readonly latencyMs: number,
  ) {
    this.status = response.statusCode ?? 0;
  }

  get headers(): IncomingHttpHeaders {
    return this.response.headers;
  }
}

/** Parsed JSON when the content type says JSON, else the text (also when the JSON is truncated or broken). */
function decode(chunks: readonly Buffer[], contentType: string | undefined): unknown {
  const text = Buffer.concat(chunks).toString('utf8');
  if (!/json/.test(contentType ?? '') || text.length === 0) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Sends one request over node:http (not fetch: fetch forbids setting the Host header) and
 * reads the answer. Never rejects: timeouts and socket errors come back as status 0.
 */
export function send(target: AllowedTarget, prepared: PreparedRequest, options: SendOptions): Promise<Answer> {
  const started = performance.now();
  const payload = prepared.rawBody ?? (prepared.body === undefined ? undefined : JSON.stringify(prepared.body));
  // A client that reads the answer asks for JSON; one that drains it unread asks for nothing (the benchmarks send only what they measure).
  const headers: Record<string, string> = options.discardBody ? { ...prepared.headers } : { accept: 'application/json', ...prepared.headers };
  headers.host = prepared.host ?? target.url.host;
  if (payload !== undefined) {
    headers['content-type'] ??= 'application/json';
    headers['content-length'] = String(Buffer.byteLength(payload));
  }
  return new Promise<Answer>((resolve) => {
    let settled = false;
    const finish = (answer: Answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(answer);
    };
    const elapsed = () => performance.now() - started;
    const failed = (error: NodeJS.ErrnoException) => finish({ status: 0, headers: {}, body: '', latencyMs: elapsed(), error: error.code ?? error.message });
    const req = request({ host: target.connectHost, port: target.port, method: prepared.method, path: prepared.path, headers, agent: options.agent }, (res) => {
      res.on('error', failed);
      if (options.discardBody) {
        res.on('end', () => finish(new DrainedAnswer(res, elapsed())));
        res.resume();
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= maxBodyBytes) chunks.push(chunk);
      });
      res.on('end', () =>
        finish({ status: res.statusCode ?? 0, headers: res.headers, body: decode(chunks, res.headers['content-type']), latencyMs: elapsed() }),
      );
    });
    const timer = setTimeout(() => {
      finish({ status: 0, headers: {}, body: '', latencyMs: elapsed(), error: 'timeout' });
      req.destroy();
    }, options.timeoutMs);
    req.on('error', failed);
    req.end(payload);
  });
}
