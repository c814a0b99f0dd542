import express, { type ErrorRequestHandler, type Express, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { ChaosSwitch } from './chaos.js';
import { contextFromHeaders, runWithContext, type RequestContext } from './context.js';
import { AppError, errorBody } from './errors.js';
import type { Logger } from './logger.js';
import type { HttpMetrics } from './metrics.js';
import { expressPath, templateMatcher, type AnyRoute } from './routes.js';
import { compileValidator, ValidationError, type Violation } from './validation.js';

/** Largest JSON body any route accepts; larger ones get 413 before they are read. */
export const BODY_LIMIT = '16kb';

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
  const { routes, logger, metrics, chaos } = options;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((req, res, next) => {
    const ctx = contextFromHeaders(req.headers);
    locals(res).ctx = ctx;
    res.setHeader('x-request-id', ctx.requestId);
    const started = process.hrtime.bigint();
    res.once('close', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      // A client that hung up before the answer was sent is counted as 499, as Envoy and nginx do.
      const status = res.writableFinished ? res.statusCode : 499;
      const route = locals(res).route ?? 'unmatched';
      metrics?.observe(req.method, route, status, seconds);
      if (options.accessLog !== false) {
        const line = {
          requestId: ctx.requestId,
          traceId: ctx.traceId,
          method: req.method,
          route,
          status,
          durationMs: Math.round(seconds * 1000),
          code: locals(res).errorCode,
        };
        if (status >= 500) logger.warn(line, 'request failed');
        else logger.info(line, 'request');
      }
    });
    next();
  });

  const jsonParser = express.json({ limit: BODY_LIMIT, strict: true });
  for (const route of routes) {
    // Before the body is read: the route template for metrics and logs, then the chaos switch
    // (its latency is spent before the body arrives). Without a fault set this stays synchronous.
    const enter: RequestHandler = (_req, res, next) => {
      locals(res).route = route.path;
      if (!chaos?.active) {
        next();
        return;
      }
      chaos.apply().then(() => next(), next);
    };
    const stages: RequestHandler[] = [enter];
    if (route.method !== 'GET') stages.push(jsonParser);
    stages.push(routeHandler(route));
    const path = expressPath(route.path);
    switch (route.method) {
      case 'GET':
        app.get(path, ...stages);
        break;
      case 'POST':
        app.post(path, ...stages);
        break;
      case 'PUT':
        app.put(path, ...stages);
        break;
      case 'PATCH':
        app.patch(path, ...stages);
        break;
      case 'DELETE':
        app.delete(path, ...stages);
        break;
    }
  }

  const matchers = routes.map((r) => ({ route: r, regex: templateMatcher(r.path) }));
  app.use((req, res) => {
    const allowed = matchers.filter((m) => m.regex.test(req.path)).map((m) => m.route);
    if (allowed.length === 0) throw new AppError(404, 'NOT_FOUND', `no route for ${req.method} ${req.path}`);
    locals(res).route = allowed[0]?.path;
    const methods = [...new Set(allowed.flatMap((r) => (r.method === 'GET' ? ['GET', 'HEAD'] : [r.method])))];
    res.setHeader('allow', methods.join(', '));
    throw new AppError(405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${allowed[0]?.path}; use ${methods.join(', ')}`);
  });

  app.use(errorHandler(logger));
  return app;
}

function routeHandler(route: AnyRoute): RequestHandler {
  const body = route.body ? compileValidator(route.body, 'body') : undefined;
  const query = route.query ? compileValidator(route.query, 'query') : undefined;
  const params = route.params ? compileValidator(route.params, 'params') : undefined;
  return (req: Request, res: Response, next: NextFunction) => {
    const ctx = locals(res).ctx;
    // Body parsing finished in a stream callback, outside the request's async context: enter it again.
    runWithContext(ctx, async () => {
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
      // Express builds query and params per access; validate (and default) copies.
      const queryCopy: Record<string, unknown> = { ...(req.query as Record<string, unknown>) };
      const paramsCopy: Record<string, unknown> = { ...req.params };
      if (query) violations.push(...query(queryCopy));
      if (params) violations.push(...params(paramsCopy));
      if (violations.length > 0) throw new ValidationError(violations);
      const reply = await route.handle({ body: parsedBody, query: queryCopy, params: paramsCopy, headers: req.headers });
      if (reply.headers) res.set(reply.headers);
      if (reply.text !== undefined) res.status(reply.status ?? 200).send(reply.text);
      else if (reply.body === undefined) res.status(reply.status ?? 204).end();
      else res.status(reply.status ?? 200).json(reply.body);
    }).catch(next);
  };
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
    res.status(status).json(errorBody(code, message, ctx.requestId, details));
  };
}
