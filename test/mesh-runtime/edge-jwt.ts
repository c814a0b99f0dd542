import { createPrivateKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { signAccessToken, type AccessTokenClaims, type PublicJwk, type SigningKey } from '../../apps/user/domain/tokens.js';
import { edgeAuth } from '../../charts/platform.js';
import type { MeshShop } from '../../local/mesh/mesh-shop.js';

/**
 * The user service's newest signing key (the one that signs), read from its PostgreSQL pod the
 * way an operator would: psql inside the pod's network namespace over loopback (root's traffic
 * is not intercepted), as the pod's own POSTGRES_USER.
 */
async function userSigningKey(shop: MeshShop): Promise<SigningKey> {
  const pod = shop.podsOf('user-db', 'shop')[0];
  if (!pod)
    throw new Error(
      `no user-db pod runs (pods: ${shop
        .pods()
        .map((p) => p.name)
        .join(', ')})`,
    );
  const env = pod.containers.find((c) => c.env.POSTGRES_PASSWORD !== undefined)?.env;
  if (!env) throw new Error(`pod ${pod.name} has no container with POSTGRES_PASSWORD`);
  const sql = "SELECT json_build_object('kid', kid, 'pem', private_key_pem, 'jwk', public_jwk) FROM signing_keys ORDER BY created_at DESC LIMIT 1";
  const out = await shop.exec(pod.name, 'env', [
    `PGPASSWORD=${env.POSTGRES_PASSWORD}`,
    'psql',
    '-h',
    '127.0.0.1',
    '-U',
    env.POSTGRES_USER!,
    '-d',
    env.POSTGRES_DB ?? env.POSTGRES_USER!,
    '-Atc',
    sql,
  ]);
  const row = JSON.parse(out.trim()) as { kid: string; pem: string; jwk: PublicJwk };
  return { kid: row.kid, privateKey: createPrivateKey(row.pem), publicJwk: row.jwk };
}

/** A key the user service never published, presented under the real key's kid: Envoy picks the real public key and the signature fails. */
function impostorKey(real: SigningKey): SigningKey {
  const { privateKey } = generateKeyPairSync('ed25519');
  return { ...real, privateKey };
}

/**
 * JWT at the edge, executed by the gateway's Envoy from the synthesized RequestAuthentication
 * (issuer, audiences, the user service's JWKS) and the require-jwt DENY AuthorizationPolicy.
 * GET /users/me is exposed with requireJwt; the user service answers it from the x-user-id the
 * gateway fills from the verified `sub`.
 */
export function edgeJwtTests(shop: () => MeshShop): void {
  describe('JWT at the ingress gateway', () => {
    let userId: string;
    let issued: string;
    let key: SigningKey;
    const now = () => Math.floor(Date.now() / 1000);
    const claims = (overrides: Partial<AccessTokenClaims> = {}): AccessTokenClaims => ({
      iss: edgeAuth.issuer,
      aud: edgeAuth.audiences[0],
      sub: userId,
      iat: now() - 60,
      exp: now() + 600,
      email: 'jwt@example.org',
      ...overrides,
    });
    const me = (token: string) => fetch(`${shop().gatewayUrl}/users/me`, { headers: { authorization: `Bearer ${token}` } });

    beforeAll(async () => {
      const gateway = shop().gatewayUrl!;
      const email = `jwt-${randomUUID()}@example.org`;
      const post = (path: string, body: unknown) =>
        fetch(`${gateway}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const registered = await post('/users', { email, password: 'correct horse battery', name: 'Jwt' });
      expect(registered.status, await registered.clone().text()).toBe(201);
      userId = ((await registered.json()) as { id: string }).id;
      const session = await post('/sessions', { email, password: 'correct horse battery' });
      expect(session.status).toBe(201);
      issued = ((await session.json()) as { accessToken: string }).accessToken;
      key = await userSigningKey(shop());
    }, 60_000);

    it('accepts a token the user service issued (200, the verified sub reaches the service)', async () => {
      const res = await me(issued);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { id: string }).id).toBe(userId);
    });

    it('accepts a token minted here with the key read from the user database (the control for the refusals below)', async () => {
      expect(JSON.parse(Buffer.from(issued.split('.')[0]!, 'base64url').toString()).kid).toBe(key.kid);
      expect((await me(signAccessToken(key, claims()))).status).toBe(200);
    });

    // Envoy's jwt_authn allows 60 s of clock skew: an hour past exp is expired whatever the clocks.
    it('refuses the same token expired an hour ago with 401', async () => {
      const res = await me(signAccessToken(key, claims({ iat: now() - 7200, exp: now() - 3600 })));
      expect(res.status).toBe(401);
      expect(await res.text()).toMatch(/expired/i);
    });

    it("refuses a token signed by a key not in the user service's JWKS (under the real kid) with 401", async () => {
      const res = await me(signAccessToken(impostorKey(key), claims()));
      expect(res.status).toBe(401);
      expect(await res.text()).toMatch(/verification fail/i);
    });

    // Envoy's jwt_authn answers an audience it does not accept with 403, not 401 (measured).
    it('refuses a token for another audience with 403', async () => {
      const res = await me(signAccessToken(key, claims({ aud: 'another-audience' })));
      expect(res.status).toBe(403);
      expect(await res.text()).toBe('Audiences in Jwt are not allowed');
    });

    it('refuses a token from another issuer with 401', async () => {
      const res = await me(signAccessToken(key, claims({ iss: 'another-issuer' })));
      expect(res.status).toBe(401);
    });
  });
}
