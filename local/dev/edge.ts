/**
 * The local edge: a stand-in for the Istio ingress gateway of mesh/edge-gateway.ts, in the
 * launcher's own process. What it answers itself (401, 403, 404, 503, 504) is in the shop's
 * JSON error shape, `{"error":{"code","message","requestId"}}`, with Envoy's reason as the
 * message; what the Istio gateway answers instead is written down in local/dev/README.md.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { edgeAuth, services, type ServiceName } from '../../charts/platform.js';
import { JwtRejected, peekHeader, verifyEdgeJwt, type EdgeJwks } from './edge-jwt.js';

export interface LocalEdgeOptions {
  /** Public base URL of each service. */
  readonly upstreams: Readonly<Record<ServiceName, string>>;
  /**
   * Port on 127.0.0.1 (0: any free port).
   * @default 0
   */
  readonly port?: number;
  /**
   * What `GET /.meshkit/local` answers (JSON): the launcher's own facts a client may need,
   * such as whether Kafka runs (`make smoke` reads it to say why notifications wait).
   * The Istio gateway has no such path. @default - 404 like any other path
   */
  readonly status?: () => unknown;
}

/** The path where the local edge answers `status` itself. */
export const localStatusPath = '/.meshkit/local';

export interface LocalEdge {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  stop(): Promise<void>;
}

/** The stable codes of the edge's own answers. */
export const edgeErrorCodes = {
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  500: 'EDGE_ERROR',
  503: 'UPSTREAM_UNAVAILABLE',
  504: 'UPSTREAM_TIMEOUT',
} as const;

interface EdgeRoute {
  readonly service: ServiceName;
  readonly methods: readonly string[];
  readonly path: RegExp;
  readonly timeoutMs: number;
  readonly requireJwt: boolean;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** The routes the edge exposes: the model's publicRoutes, with each route's mesh timeout and whether it needs a JWT. */
function edgeRoutes(): EdgeRoute[] {
  return services.flatMap((spec) =>
    spec.publicRoutes.map((route) => ({
      service: spec.name,
      methods: route.methods,
      path: new RegExp(route.pathRegex),
      timeoutMs: route.timeout.toMilliseconds(),
      requireJwt: spec.jwtRoutes.includes(route),
    })),
  );
}

/**
 * A local stand-in for the Istio ingress gateway, with the semantics of mesh/edge-gateway.ts:
 * - only the model's public routes are routed (anything else: 404, as the VirtualService);
 * - a bearer token present on any request must verify as RequestAuthentication verifies it
 *   (local/dev/edge-jwt.ts: EdDSA against the user service's JWKS, issuer, audience, expiry)
 *   or the request gets 401;
 * - a jwtRoute without a token gets 403, as the DENY AuthorizationPolicy (`notRequestPrincipals`);
 * - a client's own x-user-id is always dropped; a verified token's `sub` is sent as x-user-id and
 *   the token itself is not forwarded (Istio's `forwardOriginalToken: false`);
 * - each route's mesh timeout applies (504), an unreachable service is a 503, an x-request-id is
 *   added when missing.
 * It is not Envoy: no retries, no outlier detection, no connection pools, no mTLS.
 */
export async function startLocalEdge(options: LocalEdgeOptions): Promise<LocalEdge> {
  const routes = edgeRoutes();
  const agent = new Agent({ keepAlive: true, timeout: 30_000 });
  const jwksUrl = `${options.upstreams[edgeAuth.jwks.service]}${edgeAuth.jwksPath}`;
  let keys: { set: EdgeJwks; fetchedAt: number } | undefined;

  const loadKeys = async (refresh: boolean): Promise<EdgeJwks> => {
    // As Envoy: cache the set, fetch again at most once a second when a token names an unknown key.
    if (keys && (!refresh || Date.now() - keys.fetchedAt < 1000) && Date.now() - keys.fetchedAt < 300_000) return keys.set;
    const res = await fetch(jwksUrl, { signal: AbortSignal.timeout(2000) });
    if (res.status !== 200) throw new JwtRejected(`Jwks remote fetch is failed (${jwksUrl} answered ${res.status})`);
    keys = { set: (await res.json()) as EdgeJwks, fetchedAt: Date.now() };
    return keys.set;
  };

  const verify = async (token: string) => {
    const kid = peekHeader(token)?.kid;
    let set = await loadKeys(false).catch((err: unknown) => {
      throw err instanceof JwtRejected ? err : new JwtRejected(`Jwks remote fetch is failed (${err instanceof Error ? err.message : String(err)})`);
    });
    if (kid !== undefined && !set.keys.some((k) => k.kid === kid)) set = await loadKeys(true);
    return verifyEdgeJwt(token, set, { issuer: edgeAuth.issuer, audiences: edgeAuth.audiences });
  };

  const reply = (res: ServerResponse, status: keyof typeof edgeErrorCodes, message: string, requestId: string, extra: Record<string, string> = {}) => {
    if (res.headersSent) return void res.destroy();
    const text = JSON.stringify({ error: { code: edgeErrorCodes[status], message, requestId } });
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      server: 'meshkit-local-edge',
      'x-request-id': requestId,
      ...extra,
    });
    res.end(text);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://edge.local');
    const method = req.method ?? 'GET';
    if (options.status && method === 'GET' && url.pathname === localStatusPath) {
      const text = JSON.stringify(options.status());
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), server: 'meshkit-local-edge' });
      return void res.end(text);
    }
    let userId: string | undefined;
    // As Envoy's jwt_authn: a token is an `Authorization: Bearer` header; any other scheme is no token.
    const token = /^Bearer\s+(.*)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim();
    if (token !== undefined) {
      try {
        userId = (await verify(token)).sub;
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        return reply(res, 401, reason, requestId, {
          'www-authenticate': `Bearer realm="http://${req.headers.host ?? 'localhost'}${url.pathname}", error="invalid_token"`,
        });
      }
    }
    const route = routes.find((r) => r.methods.includes(method) && r.path.test(url.pathname));
    if (route?.requireJwt && userId === undefined) return reply(res, 403, 'RBAC: access denied', requestId);
    if (!route) return reply(res, 404, `no public route for ${method} ${url.pathname}`, requestId);

    const headers: IncomingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (HOP_BY_HOP.has(name) || name === edgeAuth.userIdHeader || name === 'host' || (name === 'authorization' && token !== undefined)) continue;
      headers[name] = value;
    }
    if (userId !== undefined) headers[edgeAuth.userIdHeader] = userId;
    headers['x-request-id'] = requestId;
    headers['x-forwarded-for'] = [req.headers['x-forwarded-for'], req.socket.remoteAddress].filter(Boolean).join(', ');
    headers['x-forwarded-proto'] = 'http';

    const upstream = new URL(`${url.pathname}${url.search}`, options.upstreams[route.service]);
    const proxied = httpRequest(upstream, { method, headers, agent });
    const timer = setTimeout(() => {
      proxied.destroy(new Error('route timeout'));
      reply(res, 504, 'upstream request timeout', requestId);
    }, route.timeoutMs);
    proxied.on('response', (answer) => {
      const out: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
      res.writeHead(answer.statusCode ?? 502, out);
      answer.pipe(res);
      answer.on('end', () => clearTimeout(timer));
      answer.on('error', () => res.destroy());
    });
    proxied.on('error', (err) => {
      clearTimeout(timer);
      if (err.message === 'route timeout') return;
      reply(
        res,
        503,
        `upstream connect error or disconnect/reset before headers. reset reason: ${(err as NodeJS.ErrnoException).code ?? err.message}`,
        requestId,
      );
    });
    res.on('close', () => {
      clearTimeout(timer);
      if (!res.writableFinished) proxied.destroy();
    });
    req.pipe(proxied);
  };

  const server: Server = createServer((req, res) => {
    const header = req.headers['x-request-id'];
    const requestId = typeof header === 'string' && header.length > 0 ? header : randomUUID();
    handle(req, res, requestId).catch((err: unknown) => reply(res, 500, `local edge: ${err instanceof Error ? err.message : String(err)}`, requestId));
  });
  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  let stopping: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      (stopping ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
        agent.destroy();
      })()),
  };
}
