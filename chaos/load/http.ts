import { Agent, request, type IncomingHttpHeaders } from 'node:http';
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
  /** Parsed JSON when the answer was JSON, else the text. */
  readonly body: unknown;
  /** Milliseconds from sending to the end of the answer (or the failure). */
  readonly latencyMs: number;
  /** `timeout`, or the socket error code (`ECONNREFUSED`, `ECONNRESET`...). */
  readonly error?: string;
}

const maxBodyBytes = 256 * 1024;

/** An agent with keep-alive and at most `maxSockets` connections: the concurrency cap of a load run. */
export function loadAgent(maxSockets: number): Agent {
  return new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, timeout: 60_000 });
}

/**
 * Sends one request over node:http (not fetch: fetch forbids setting the Host header) and
 * reads the answer. Never rejects: timeouts and socket errors come back as status 0.
 */
export function send(target: AllowedTarget, prepared: PreparedRequest, options: { timeoutMs: number; agent: Agent }): Promise<Answer> {
  const started = performance.now();
  const payload = prepared.body === undefined ? undefined : JSON.stringify(prepared.body);
  const headers: Record<string, string> = { accept: 'application/json', ...prepared.headers };
  headers.host = prepared.host ?? target.url.host;
  if (payload !== undefined) {
    headers['content-type'] ??= 'application/json';
    headers['content-length'] = String(Buffer.byteLength(payload));
  }
  return new Promise<Answer>((resolve) => {
    let settled = false;
    const finish = (answer: Omit<Answer, 'latencyMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...answer, latencyMs: performance.now() - started });
    };
    const req = request({ host: target.connectHost, port: target.port, method: prepared.method, path: prepared.path, headers, agent: options.agent }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= maxBodyBytes) chunks.push(chunk);
      });
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        if (/json/.test(String(res.headers['content-type'] ?? '')) && text.length > 0) {
          try {
            body = JSON.parse(text);
          } catch {
            // truncated or not JSON after all: keep the text
          }
        }
        finish({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
      res.on('error', (error: NodeJS.ErrnoException) => finish({ status: 0, headers: {}, body: '', error: error.code ?? error.message }));
    });
    const timer = setTimeout(() => {
      finish({ status: 0, headers: {}, body: '', error: 'timeout' });
      req.destroy();
    }, options.timeoutMs);
    req.on('error', (error: NodeJS.ErrnoException) => finish({ status: 0, headers: {}, body: '', error: error.code ?? error.message }));
    req.end(payload);
  });
}
