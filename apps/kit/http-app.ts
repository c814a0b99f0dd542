import { randomUUID } from 'node:crypto';
import { createServer, STATUS_CODES, type RequestListener, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import express, { type ErrorRequestHandler, type Express, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { ChaosSwitch } from './chaos.js';
import { contextFromHeaders, runWithContext, type RequestContext } from './context.js';
import { AppError, errorBody } from './errors.js';
import type { Logger } from './logger.js';
import type { HttpMetrics } from './metrics.js';
import { methodsOf } from '../../contract/route.js';
import { pathMatcher, type AnyRoute, type PathMatcher } from './routes.js';
import { compileValidator, ValidationError, type Violation } from './validation.js';

/** Largest JSON body any route accepts; larger ones get 413 before they are read. */
export const BODY_LIMIT = '16kb';

/**
 * How long a route waits for the rest of a body once it starts reading it; then 408
 * REQUEST_TIMEOUT and the connection is closed. A body is at most 16 kB: a client on a
 * 64 kbit/s link sends that in 2 s, and behind the mesh the sidecar forwards what it has at
 * once. Without it a body shorter than its content-length held a connection for Node's
 * default request timeout (300 s).
 */
export const BODY_READ_TIMEOUT_MS = 5_000;

/**
 * How long Node waits for a request's headers, from its first byte (idle keep-alive
 * connections are not counted: keepAliveTimeout governs those). Headers are at most 16 KiB
 * and arrive in one or two packets; 10 s leaves room for a slow link, not for a slowloris.
 */
export const HEADERS_TIMEOUT_MS = 10_000;

/**
 * Node's backstop for the whole request (headers and body, not the handler's work), for what
 * the body-read timeout does not see: a body on a route that does not read one. Longer than
 * HEADERS_TIMEOUT_MS + BODY_READ_TIMEOUT_MS so the route's own JSON 408 answers first.
 */
export const REQUEST_TIMEOUT_MS = 20_000;

/** How often Node checks those two deadlines (its default, 30 s, would let a stalled request live 30 s longer). */
export const CONNECTIONS_CHECK_INTERVAL_MS = 1_000;

export interface HttpAppOptions {
  readonly routes: readonly AnyRoute[];
  readonly logger: Logger;
  /** RED metrics; given for the public app only. */
  readonly metrics?: HttpMetrics;
  /** Fault switch applied to every matched route; given for the public app only. */
  readonly chaos?: ChaosSwitch;
  /** Whether each request is logged when it ends. */
  readonly accessLog?: boolean;
}

interface Locals {
  ctx: RequestContext;
  /** performance.now() when the request reached the app. */
  started: number;
  route?: string;
  errorCode?: string;
}

const locals = (res: Response): Locals => res.locals as Locals;

/**
 * Builds an Express app (no listen) around declared routes: request context and
 * trace headers, chaos, JSON parsing with a size limit, schema validation,
 * 404/405 for anything undeclared and one JSON error shape for every failure.
 */
export function createHttpApp(options: HttpAppOptions): Express {
  const { routes, logger } = options;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use(serveRoutes(options));

  const served = routes.map((route) => ({ route, matcher: pathMatcher(route.route.path) }));
  app.use((req, res) => {
    const allowed = served.filter((s) => s.matcher.regex.test(req.path)).map((s) => s.route.route);
    if (allowed.length === 0) throw new AppError(404, 'NOT_FOUND', `no route for ${req.method} ${req.path}`);
    locals(res).route = allowed[0]?.path;
    const methods = [...new Set(allowed.flatMap(methodsOf))];
    res.setHeader('allow', methods.join(', '));
    throw new AppError(405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${allowed[0]?.path}; use ${methods.join(', ')}`);
  });

  app.use(errorHandler(logger));
  return app;
}

/** A route's work after it matched: the body read (writes), then validation and the handler; `path` is the request's. */
type Stage = (req: Request, res: Response, next: NextFunction, path: string) => void;

/**
 * Every request's entry and the declared routes, as one Express middleware: the request's
 * context (trace headers in, x-request-id out) and the hook that counts and logs it when it
 * ends; then the method's routes tried in declaration order against the mesh's path regexes,
 * and the matched route's stages called in turn. A request no route matches falls through to
 * the 404/405 handler, its context and hook already in place. One Express layer on a served
 * request, where each layer costs the router a match and a call per request: the router's walk
 * was a tenth of the kit's CPU on a read (bench/servers/profile-read.ts).
 */
function serveRoutes(options: HttpAppOptions): RequestHandler {
  const { routes, logger, chaos } = options;
  const ended = onResponseClose(options);
  const jsonParser = express.json({ limit: BODY_LIMIT, strict: true }) as RequestHandler;
  const deadline = bodyDeadline(BODY_READ_TIMEOUT_MS, logger);
  const byMethod = new Map<string, { template: string; regex: RegExp; serve: Stage }[]>();
  for (const route of routes) {
    const matcher = pathMatcher(route.route.path);
    const handler = routeHandler(route, matcher);
    // Writes read their body first; the deadline answers 408 when it stalls (see bodyDeadline).
    const serve: Stage =
      route.route.method === 'GET'
        ? handler
        : (req, res, next, path) =>
            deadline(req, res, (err?: unknown) =>
              err ? next(err) : jsonParser(req, res, (err2?: unknown) => (err2 ? next(err2) : handler(req, res, next, path))),
            );
    const list = byMethod.get(route.route.method) ?? [];
    list.push({ template: route.route.path, regex: matcher.regex, serve });
    byMethod.set(route.route.method, list);
  }
  // HEAD is served by the GET route, as Express does (Node leaves the body out).
  const getRoutes = byMethod.get('GET');
  if (getRoutes) byMethod.set('HEAD', getRoutes);
  return (req, res, next) => {
    const ctx = contextFromHeaders(req.headers);
    const l = locals(res);
    l.ctx = ctx;
    l.started = performance.now();
    res.setHeader('x-request-id', ctx.requestId);
    res.on('close', ended);

    const path = req.path;
    const routes = byMethod.get(req.method);
    let matched: { template: string; serve: Stage } | undefined;
    if (routes) for (let i = 0; i < routes.length && !matched; i += 1) if (routes[i]!.regex.test(path)) matched = routes[i];
    if (!matched) {
      next();
      return;
    }
    // The route template for metrics and logs, then the chaos switch (its latency is spent before
    // the body arrives). Without a fault set this stays synchronous.
    l.route = matched.template;
    if (!chaos?.active) {
      matched.serve(req, res, next, path);
      return;
    }
    const serve = matched.serve;
    chaos.apply().then(() => serve(req, res, next, path), next);
  };
}

/**
 * The listener every response's 'close' calls (one function for all, no closure per request):
 * RED metrics and the access-log line. A client that hung up before the answer was sent is
 * counted as 499, as Envoy and nginx do.
 */
function onResponseClose({ metrics, logger, accessLog }: HttpAppOptions): (this: Response) => void {
  return function ended(this: Response) {
    const l = locals(this);
    const ms = performance.now() - l.started;
    const status = this.writableFinished ? this.statusCode : 499;
    const route = l.route ?? 'unmatched';
    const method = this.req.method;
    metrics?.observe(method, route, status, ms / 1000);
    if (accessLog === false) return;
    const line = { requestId: l.ctx.requestId, traceId: l.ctx.traceId, method, route, status, durationMs: Math.round(ms), code: l.errorCode };
    if (status >= 500) logger.warn(line, 'request failed');
    else logger.info(line, 'request');
  };
}

/** The `{param}` values of the request's path; a malformed percent-escape is the client's error, as in Express. */
function pathParams(matcher: PathMatcher, path: string): Record<string, string> {
  try {
    return matcher.params(path);
  } catch (err) {
    if (err instanceof URIError) throw new AppError(400, 'BAD_REQUEST', `malformed percent-escape in the path ${path}`);
    throw err;
  }
}

function routeHandler(route: AnyRoute, matcher: PathMatcher): Stage {
  const body = route.body ? compileValidator(route.body, 'body') : undefined;
  const query = route.query ? compileValidator(route.query, 'query') : undefined;
  const params = route.params ? compileValidator(route.params, 'params') : undefined;

  async function validateAndHandle(req: Request, res: Response, path: string): Promise<void> {
    const violations: Violation[] = [];
    let parsedBody: unknown = req.body;
    if (body) {
      if (parsedBody === undefined) {
        if (hasBody(req) && !req.is('application/json'))
          throw new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', 'send the body as JSON with content-type application/json');
        if (route.bodyOptional) parsedBody = {};
        else violations.push({ path: 'body', message: 'is required: send a JSON object with content-type application/json' });
      }
      if (parsedBody !== undefined) violations.push(...body(parsedBody));
    }
    // Express parses the query on every access of req.query; validate (and default) a copy.
    // Without a query string there is nothing to parse.
    const queryCopy: Record<string, unknown> = req.url.includes('?') ? { ...(req.query as Record<string, unknown>) } : {};
    const paramsCopy: Record<string, unknown> = pathParams(matcher, path);
    if (query) violations.push(...query(queryCopy));
    if (params) violations.push(...params(paramsCopy));
    if (violations.length > 0) throw new ValidationError(violations);
    const reply = await route.handle({ body: parsedBody, query: queryCopy, params: paramsCopy, headers: req.headers });
    if (reply.headers) res.set(reply.headers);
    if (reply.text !== undefined) res.status(reply.status ?? 200).send(reply.text);
    else if (reply.body === undefined) res.status(reply.status ?? 204).end();
    else sendJson(res, reply.status ?? 200, reply.body);
  }

  return (req, res, next, path) => {
    // The body arrived after its deadline had been answered (408): the request is over.
    if (res.headersSent) return;
    // Body parsing finished in a stream callback, outside the request's async context: enter it again.
    runWithContext(locals(res).ctx, validateAndHandle, req, res, path).catch(next);
  };
}

/**
 * Answers 408 REQUEST_TIMEOUT and closes the connection when the body has not fully arrived
 * `timeoutMs` after the route started to read it. The body parser has no deadline of its own,
 * and once it has failed it waits for the rest of the body before it answers, so the answer is
 * written here, and the route never runs (see routeHandler).
 */
function bodyDeadline(timeoutMs: number, logger: Logger): RequestHandler {
  return (req, res, next) => {
    if (req.complete) {
      next();
      return;
    }
    const timer = setTimeout(() => {
      if (req.complete || res.headersSent) return;
      const ctx = locals(res).ctx;
      locals(res).errorCode = 'REQUEST_TIMEOUT';
      logger.info({ requestId: ctx.requestId, timeoutMs }, 'request body did not arrive in time');
      res.setHeader('connection', 'close');
      sendJson(res, 408, errorBody('REQUEST_TIMEOUT', `the body did not arrive within ${timeoutMs} ms`, ctx.requestId));
    }, timeoutMs);
    const clear = () => clearTimeout(timer);
    req.once('end', clear);
    res.once('close', clear);
    next();
  };
}

/**
 * A JSON answer written through Node's response directly. Express's res.json takes the same
 * steps through res.send, plus a content-type lookup in mime-types, a freshness check and
 * ETag handling that the kit has no use for (ETags are off, nothing is cached by validators).
 */
function sendJson(res: Response, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(json));
  res.end(json);
}

function hasBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
}

/** Stable codes for the errors Express and its body parser raise on bad input. */
const PARSER_ERRORS: Record<string, { status: number; code: string; message: string }> = {
  'entity.parse.failed': { status: 400, code: 'INVALID_JSON', message: 'the body is not valid JSON' },
  'entity.too.large': { status: 413, code: 'PAYLOAD_TOO_LARGE', message: `the body is larger than ${BODY_LIMIT}` },
  'encoding.unsupported': { status: 415, code: 'UNSUPPORTED_ENCODING', message: 'unsupported content-encoding' },
  'charset.unsupported': { status: 415, code: 'UNSUPPORTED_CHARSET', message: 'unsupported charset; send UTF-8' },
  'request.aborted': { status: 400, code: 'REQUEST_ABORTED', message: 'the request was aborted before its body was read' },
  'request.size.invalid': { status: 400, code: 'INVALID_CONTENT_LENGTH', message: 'content-length does not match the body' },
};

interface Classified {
  status: number;
  code: string;
  message: string;
  details?: unknown;
}

export function classifyError(err: unknown): Classified {
  if (err instanceof AppError) return { status: err.status, code: err.code, message: err.message, details: err.details };
  const e = err as { type?: unknown; status?: unknown; statusCode?: unknown; expose?: unknown; message?: unknown };
  if (typeof e?.type === 'string' && PARSER_ERRORS[e.type]) return { ...PARSER_ERRORS[e.type]! };
  const status = typeof e?.status === 'number' ? e.status : typeof e?.statusCode === 'number' ? e.statusCode : 500;
  // Other client errors raised by Express itself (e.g. a malformed %-escape in the path).
  if (status >= 400 && status < 500)
    return { status, code: status === 400 ? 'BAD_REQUEST' : `HTTP_${status}`, message: e.expose && typeof e.message === 'string' ? e.message : 'bad request' };
  return { status: 500, code: 'INTERNAL', message: 'internal error' };
}

/** Node's own parser errors, answered in the one error shape (Node's default is a bare status line). */
const CLIENT_ERRORS: Record<string, { status: number; code: string; message: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, code: 'HEADERS_TOO_LARGE', message: 'the request headers are larger than 16 KiB' },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: { status: 413, code: 'PAYLOAD_TOO_LARGE', message: 'the chunk extensions are too large' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, code: 'REQUEST_TIMEOUT', message: 'the request did not arrive in time' },
};

/**
 * A Node HTTP server for an app: request deadlines that close stalled connections in seconds,
 * and parser errors (a malformed request line, content-length or chunk, both transfer-encoding
 * and content-length, oversized headers, a deadline missed before the app saw the request)
 * answered as JSON where the connection allows an answer, as Node's default `clientError`
 * handling does with an empty body.
 */
export function createHttpServer(app: RequestListener, logger: Logger): Server {
  const server = createServer(
    { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: CONNECTIONS_CHECK_INTERVAL_MS },
    app,
  );
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // Mirrors Node's own handler: answer only when nothing of a response was written yet.
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const { status, code, message } = CLIENT_ERRORS[err.code ?? ''] ?? {
      status: 400,
      code: 'BAD_REQUEST',
      message: `malformed HTTP request (${err.code ?? 'parse error'})`,
    };
    const requestId = randomUUID();
    const body = JSON.stringify(errorBody(code, message, requestId));
    logger.info({ requestId, code, cause: err.code }, 'malformed request');
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\n\r\n${body}`,
      () => socket.destroy(),
    );
  });
  return server;
}

function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const { status, code, message, details } = classifyError(err);
    const ctx = locals(res).ctx;
    locals(res).errorCode = code;
    if (status >= 500 && code === 'INTERNAL') logger.error({ err, requestId: ctx.requestId, traceId: ctx.traceId }, 'unhandled error');
    sendJson(res, status, errorBody(code, message, ctx.requestId, details));
  };
}
