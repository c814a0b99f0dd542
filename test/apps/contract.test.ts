import { describe, expect, it } from 'vitest';
import { describeRoute, edgeAuth, routesOf, services } from '../../contract/index.js';
import type { AnyRoute, ServiceContext, ServiceDefinition } from '../../apps/kit/index.js';
import { userService } from '../../apps/user/app.js';
import { pino } from 'pino';
import { HttpMetrics, loadConfig, USER_ID_HEADER } from '../../apps/kit/index.js';
import { definitionOf } from './support.js';

/** Builds a service's routes without a database or network, to compare them with the contract. */
async function servedRoutes(definition: ServiceDefinition<never>): Promise<string[]> {
  const noDb = new Proxy({}, { get: () => () => Promise.resolve([]) });
  const ctx = {
    config: { httpClientTimeoutMs: 1000, kafka: undefined },
    settings: {
      userUrl: 'http://u',
      productUrl: 'http://p',
      paymentUrl: 'http://pay',
      sweepIntervalMs: 1000,
      staleOrderMs: 1000,
      issuer: 'i',
      audience: 'a',
      ttlSeconds: 60,
    },
    logger: pino({ level: 'silent' }),
    db: { ...noDb, transaction: async () => [{ kid: 'k', privateKey: undefined, publicJwk: { kty: 'OKP', crv: 'Ed25519', x: 'x' } }] },
    metrics: new HttpMetrics('contract', { defaultMetrics: false }),
    kafka: undefined,
  } as unknown as ServiceContext<never>;
  const parts = await definition.create(ctx);
  return parts.routes.map((r: AnyRoute) => describeRoute(r.route)).sort();
}

// Method and path come from the contract objects (a drift does not compile); this checks no route is missing or extra.
describe('API contract with contract/services.ts', () => {
  for (const spec of services) {
    it(`${spec.name} serves exactly the routes the contract declares`, async () => {
      const declared = routesOf(spec).map(describeRoute).sort();
      expect(await servedRoutes(await definitionOf(spec.name))).toEqual(declared);
    });
  }
});

describe('edge authentication contract with contract/edge.ts', () => {
  it('reads the user id from the header the gateway writes the JWT subject into', () => {
    expect(USER_ID_HEADER).toBe(edgeAuth.userIdHeader);
  });

  it('issues tokens for the issuer and audience the RequestAuthentication accepts, and serves the JWKS where it looks', async () => {
    const { settings } = loadConfig(userService, {});
    expect(settings.issuer).toBe(edgeAuth.issuer);
    expect(edgeAuth.audiences).toContain(settings.audience);
    expect(await servedRoutes(userService as ServiceDefinition<never>)).toContain(`GET|HEAD ${edgeAuth.jwksPath}`);
  });
});
