import { once } from 'node:events';
import { request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpApp, defineRoute } from '../../apps/kit/index.js';
import * as contract from '../../contract/index.js';
import { find } from '../support/manifests.js';
import { synthPlatform } from '../support/platform.js';

// One path matcher: the services' routers use the regex the mesh enforces (mesh/istio-match.ts).
// This checks the app against what is synthesized, on a table of paths: case, trailing slash,
// empty and extra segments, percent-encoded characters (a %2F stays inside its segment in both).
const { objects } = synthPlatform();

/** Whether the service's synthesized VirtualService has a route whose match takes this method and raw path. */
function meshRoutes(service: string, method: string, path: string): boolean {
  const http: { match: { method: { exact: string }; uri: { exact?: string; regex?: string } }[] }[] = find(objects, 'VirtualService', service).spec.http;
  return http.some((route) =>
    (route.match ?? []).some((m) => m.method.exact === method && (m.uri.exact !== undefined ? m.uri.exact === path : new RegExp(m.uri.regex!).test(path))),
  );
}

/** Concrete paths around a template: the ones both sides should take and the near misses they should refuse. */
function pathsFor(template: string): string[] {
  const filled = (value: string) => template.replace(/\{\w+\}/g, value);
  const plain = filled('abc-1');
  return [
    plain,
    `${plain}/`,
    plain.toUpperCase(),
    plain.replace(/^\/(.)/, (_, c: string) => `/${c.toUpperCase()}`),
    `${plain}//`,
    `${plain}/extra`,
    `/${plain}`,
    filled('a%2Fb'),
    filled('a%20b'),
    filled('%C3%A9'),
    filled('A'),
    filled(''),
    plain.replace('.', 'x'),
  ];
}

let server: Server;
let port: number;

beforeAll(async () => {
  // Every contract route, served by the kit with a handler that only says which route answered.
  const routes = contract.services.flatMap((service) =>
    contract.routesOf(service).map((route) => defineRoute(route, { handle: async () => ({ body: { service: route.service, path: route.path } }) })),
  );
  server = createHttpApp({ routes, logger: pino({ level: 'silent' }), accessLog: false }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});

afterAll(() => server.close());

/** Sends the path as is (no URL normalization) and says which route answered, if any. */
function served(method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: method === 'POST' ? { 'content-type': 'application/json' } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end(method === 'POST' ? '{}' : undefined);
  });
}

describe('the app and the mesh match paths alike', () => {
  for (const service of contract.services) {
    for (const route of contract.routesOf(service)) {
      it(`${service.name} ${contract.describeRoute(route)}: the app serves a path of this route exactly when the mesh routes it`, async () => {
        for (const path of pathsFor(route.path)) {
          const { status, body } = await served(route.method, path);
          const appServes = status === 200 && (JSON.parse(body) as { service: string }).service === service.name;
          expect({ path, appServes }).toEqual({ path, appServes: meshRoutes(service.name, route.method, path) });
        }
      });
    }
  }

  it('refuses in the app what the mesh refuses: case, trailing slash, an empty segment (404 in the one error shape)', async () => {
    for (const path of ['/Products', '/products/', '/PRODUCTS/abc', '/products/abc/', '/products//', '/users/me/']) {
      expect(meshRoutes('product', 'GET', path) || meshRoutes('user', 'GET', path), path).toBe(false);
      const { status, body } = await served('GET', path);
      expect({ path, status, code: JSON.parse(body).error?.code }).toEqual({ path, status: 404, code: 'NOT_FOUND' });
    }
  });

  it('keeps an encoded slash inside its segment and hands the handler the decoded value', async () => {
    expect(meshRoutes('product', 'GET', '/products/a%2Fb')).toBe(true);
    const received: unknown[] = [];
    const app = createHttpApp({
      routes: [defineRoute(contract.product.routes.get, { handle: async ({ params }) => (received.push(params), { body: {} }) })],
      logger: pino({ level: 'silent' }),
      accessLog: false,
    });
    const probe = app.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    try {
      const res = await fetch(`http://127.0.0.1:${(probe.address() as AddressInfo).port}/products/a%2Fb%20c`);
      expect(res.status).toBe(200);
      expect(received).toEqual([{ id: 'a/b c' }]);
      const malformed = await fetch(`http://127.0.0.1:${(probe.address() as AddressInfo).port}/products/%E0%A4%A`);
      expect({ status: malformed.status, code: ((await malformed.json()) as { error: { code: string } }).error.code }).toEqual({
        status: 400,
        code: 'BAD_REQUEST',
      });
    } finally {
      probe.close();
    }
  });
});
