import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { edgeAuth, services, type ServiceName } from '../../charts/platform.js';
import { SERVICE_NAMES, startLocalEdge, type LocalEdge } from '../../local/dev/index.js';
import { generateSigningKey, jwks, signAccessToken, type AccessTokenClaims, type SigningKey } from '../../apps/user/domain/tokens.js';
import { expectError, request } from '../apps/support.js';

// The local edge in front of a recording upstream that stands in for all five services and
// serves a JWKS of keys made here, so every token case (expired, foreign, wrong audience...) can be
// minted. The whole shop behind the edge is exercised in e2e-shop.int.test.ts.

interface Seen {
  readonly service: ServiceName;
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

const key = generateSigningKey();
const rotated = generateSigningKey();
const published: SigningKey[] = [key];
const seen: Seen[] = [];
const upstreams: Server[] = [];
let edge: LocalEdge;

async function upstream(service: ServiceName): Promise<string> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      // The edge's own JWKS fetches carry no x-forwarded-for; what it proxies does.
      if (req.headers['x-forwarded-for'] !== undefined) seen.push({ service, method: req.method!, url: req.url!, headers: req.headers, body });
      if (req.url === edgeAuth.jwksPath) {
        res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': service });
        return res.end(JSON.stringify(jwks(published)));
      }
      const answer = () => {
        res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': service });
        res.end(JSON.stringify({ service, url: req.url }));
      };
      if (req.url === '/products/slow-product') setTimeout(answer, 3000);
      else answer();
    });
  });
  upstreams.push(server);
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  const urls = Object.fromEntries(await Promise.all(SERVICE_NAMES.map(async (name) => [name, await upstream(name)] as const))) as Record<ServiceName, string>;
  edge = await startLocalEdge({ upstreams: urls });
});

afterAll(async () => {
  await edge?.stop();
  await Promise.all(upstreams.map((s) => new Promise((resolve) => s.close(resolve))));
});

const now = () => Math.floor(Date.now() / 1000);
function claims(overrides: Partial<AccessTokenClaims> = {}): AccessTokenClaims {
  return { iss: edgeAuth.issuer, aud: edgeAuth.audiences[0], sub: randomUUID(), iat: now(), exp: now() + 600, email: 'edge@example.org', ...overrides };
}
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** A concrete path for a route template. */
const concrete = (path: string) => path.replace(/\{\w+\}/g, () => randomUUID());

async function through(method: string, path: string, headers: Record<string, string> = {}, json?: unknown) {
  const before = seen.length;
  const res = await request(edge.url, method, path, { headers, ...(json === undefined ? {} : { json }) });
  return { res, reached: seen.slice(before) };
}

describe('the local edge routes like the ingress gateway', () => {
  it("routes exactly the model's public routes, each to its service, and answers 404 for every other route", async () => {
    const token = signAccessToken(key, claims());
    let exposed = 0;
    let hidden = 0;
    for (const spec of services) {
      for (const route of spec.routes) {
        const isPublic = spec.publicRoutes.includes(route);
        for (const method of route.methods) {
          const path = concrete(route.path);
          const { res, reached } = await through(method, path, bearer(token), method === 'POST' ? { probe: true } : undefined);
          const label = `${method} ${route.path} (${spec.name})`;
          if (isPublic) {
            exposed += 1;
            expect(res.status, label).toBe(200);
            expect(res.headers.get('x-upstream'), label).toBe(spec.name);
            expect(
              reached.map((r) => [r.service, r.method, r.url]),
              label,
            ).toEqual([[spec.name, method, path]]);
            if (method === 'POST') expect(JSON.parse(reached[0]!.body), label).toEqual({ probe: true });
          } else {
            hidden += 1;
            expect(res.status, label).toBe(404);
            if (method !== 'HEAD') expectError(res, 404, 'NOT_FOUND');
            expect(reached, label).toEqual([]);
          }
        }
      }
    }
    // Every method match of the model, public or not (GET|HEAD counting twice): 17 public ones today.
    const matches = (isPublic: boolean) =>
      services.flatMap((spec) => spec.routes.filter((r) => spec.publicRoutes.includes(r) === isPublic).flatMap((r) => r.methods)).length;
    expect({ exposed, hidden }).toEqual({ exposed: matches(true), hidden: matches(false) });
    expect(exposed).toBe(17);
    const nowhere = (await through('GET', '/nowhere')).res;
    expectError(nowhere, 404, 'NOT_FOUND');
    expect(nowhere.body.error.message).toBe('no public route for GET /nowhere');
  });

  it('keeps the query string and routes a path only by its path', async () => {
    const { res, reached } = await through('GET', '/products?limit=2&offset=1');
    expect(res.status).toBe(200);
    expect(reached.map((r) => r.url)).toEqual(['/products?limit=2&offset=1']);
  });
});

describe('the local edge authenticates like RequestAuthentication + the DENY AuthorizationPolicy', () => {
  const jwtRoutes = services.flatMap((s) => s.jwtRoutes.map((r) => ({ service: s.name, description: r.description })));

  it('refuses every jwtRoute without a token (403, as the DENY policy) and never reaches the service', async () => {
    expect(jwtRoutes.length).toBe(5);
    for (const { description } of jwtRoutes) {
      const [methods, path] = description.split(' ') as [string, string];
      for (const method of methods.split('|')) {
        const { res, reached } = await through(method, concrete(path), { 'x-user-id': randomUUID() }, method === 'POST' ? {} : undefined);
        expect(res.status, description).toBe(403);
        if (method !== 'HEAD') {
          expectError(res, 403, 'FORBIDDEN');
          expect(res.body.error.message, description).toBe('RBAC: access denied');
        }
        expect(reached, description).toEqual([]);
      }
    }
  });

  it("sends the verified token's sub as x-user-id, drops the client's own, and does not forward the token", async () => {
    const sub = randomUUID();
    const forged = randomUUID();
    const { res, reached } = await through('GET', '/notifications', { ...bearer(signAccessToken(key, claims({ sub }))), 'x-user-id': forged });
    expect(res.status).toBe(200);
    expect(reached).toHaveLength(1);
    expect(reached[0]!.headers['x-user-id']).toBe(sub);
    expect(reached[0]!.headers.authorization).toBeUndefined();
  });

  it('drops a client-sent x-user-id on open routes too', async () => {
    const { res, reached } = await through('GET', '/products', { 'x-user-id': randomUUID(), 'X-User-Id': randomUUID() });
    expect(res.status).toBe(200);
    expect(reached[0]!.headers['x-user-id']).toBeUndefined();
  });

  it('answers 401 for a token that does not verify, on protected and open routes alike', async () => {
    const foreign = generateSigningKey();
    const good = signAccessToken(key, claims());
    const [h, p, s] = good.split('.') as [string, string, string];
    const flipped = `${h}.${p}.${s.startsWith('A') ? 'B' : 'A'}${s.slice(1)}`;
    const body = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const cases: Record<string, Record<string, string>> = {
      'a changed signature': bearer(flipped),
      'a changed payload': bearer(`${h}.${body({ ...claims(), sub: randomUUID() })}.${s}`),
      'a foreign key': bearer(signAccessToken(foreign, claims())),
      "a foreign key under our key's kid": bearer(signAccessToken({ ...foreign, kid: key.kid }, claims())),
      'an expired token': bearer(signAccessToken(key, claims({ iat: now() - 7200, exp: now() - 3600 }))),
      'another issuer': bearer(signAccessToken(key, claims({ iss: 'someone-else' }))),
      'another audience': bearer(signAccessToken(key, claims({ aud: 'another-api' }))),
      'alg none': bearer(`${body({ alg: 'none', typ: 'JWT', kid: key.kid })}.${body(claims())}.`),
      'not a JWS': bearer('not-a-token'),
      'two parts only': bearer('eyJhbGciOiJFZERTQSJ9.e30'),
      // Istio (jwt_verify_lib) counts exactly two dots: a valid token with anything appended is malformed.
      'a valid token and a trailing dot': bearer(`${good}.`),
      'a valid token and two more sections': bearer(`${good}.x.y`),
      'an aud array without our audience': bearer(signAccessToken(key, claims({ aud: ['another-api', 'a-third'] as unknown as string }))),
    };
    for (const [name, headers] of Object.entries(cases)) {
      for (const path of ['/orders', '/products']) {
        const { res, reached } = await through('GET', path, headers);
        expect(res.status, `${name} on ${path}`).toBe(401);
        expectError(res, 401, 'UNAUTHENTICATED');
        expect(res.headers.get('www-authenticate'), name).toMatch(/^Bearer realm=".*", error="invalid_token"$/);
        expect(reached, `${name} on ${path}`).toEqual([]);
      }
    }
    const malformed = await through('GET', '/orders', cases['a valid token and a trailing dot']);
    expect(malformed.res.body.error.message).toBe('Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections');
  });

  it('accepts an aud array that contains the audience, as Istio does', async () => {
    const sub = randomUUID();
    const token = signAccessToken(key, claims({ sub, aud: ['another-api', edgeAuth.audiences[0]] as unknown as string }));
    const { res, reached } = await through('GET', '/orders', bearer(token));
    expect(res.status).toBe(200);
    expect(reached[0]!.headers['x-user-id']).toBe(sub);
  });

  it('takes another Authorization scheme for no token, as Envoy does: 403 on jwtRoutes, passed through on open routes', async () => {
    const basic = { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` };
    expect((await through('GET', '/orders', basic)).res.status).toBe(403);
    const open = await through('GET', '/products', basic);
    expect(open.res.status).toBe(200);
    expect(open.reached[0]!.headers.authorization).toBe(basic.authorization);
    expect(open.reached[0]!.headers['x-user-id']).toBeUndefined();
  });

  it('fetches the JWKS again for a token signed with a key it has not seen yet (rotation)', async () => {
    published.unshift(rotated);
    // The edge refreshes a known set at most once a second.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const sub = randomUUID();
    const { res, reached } = await through('GET', '/orders', bearer(signAccessToken(rotated, claims({ sub }))));
    expect(res.status).toBe(200);
    expect(reached[0]!.headers['x-user-id']).toBe(sub);
  });
});

describe('the local edge as a proxy', () => {
  it('adds an x-request-id when the client sends none and keeps the one it sends', async () => {
    const fresh = await through('GET', '/products');
    expect(fresh.reached[0]!.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const kept = await through('GET', '/products', { 'x-request-id': 'req-edge-1' });
    expect(kept.reached[0]!.headers['x-request-id']).toBe('req-edge-1');
  });

  it("answers 504 when the service overruns the route's mesh timeout (2 s for GET /products/{id})", async () => {
    const began = Date.now();
    const { res } = await through('GET', '/products/slow-product');
    expectError(res, 504, 'UPSTREAM_TIMEOUT');
    expect(res.body.error.message).toBe('upstream request timeout');
    expect(Date.now() - began).toBeGreaterThanOrEqual(1900);
    expect(Date.now() - began).toBeLessThan(2900);
  });

  it('answers 503 when the service does not accept connections', async () => {
    const down = upstreams[SERVICE_NAMES.indexOf('product')]!;
    const closed = new Promise((resolve) => down.close(resolve));
    down.closeAllConnections();
    await closed;
    const res = await request(edge.url, 'GET', '/products');
    expectError(res, 503, 'UPSTREAM_UNAVAILABLE');
    expect(res.body.error.message).toMatch(/^upstream connect error or disconnect\/reset before headers\. reset reason: ECONNREFUSED$/);
  });
});
